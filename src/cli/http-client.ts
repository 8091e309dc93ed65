// A small mutual-TLS JSON client for the REST API: keep-alive agent, timeouts, API errors as ApiError; CLI error codes.
import type { ClientRequest } from "node:http";
import { Agent, request } from "node:https";
import { createSecureContext } from "node:tls";
import { ConfigError } from "../config/config-error.js";
import { isStrongroomError } from "../errors/registry.js";
import type { Connection } from "./connection.js";
import { answersKmip, clientCertProblem, KMIP_PORT_HINT, keyMismatch } from "./diagnose.js";

/** An error reported by the server as `{"error":{code,message,requestId}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/**
 * Codes of the CLI's own failures, as `--json` prints them in `{"error":{code,message}}` (server failures carry the
 * server's code from src/errors/registry.ts). Stable: scripts branch on them. Documented in docs/operations.md.
 */
export const CLI_ERROR_CODES = {
  usage: "the command line is wrong: unknown command (with the nearest command names) or option, missing or invalid argument or input",
  profile_invalid: "the connection profile cannot be used: no instance directory or profiles.json, malformed, no such profile",
  connection_settings: "a connection setting is missing or unusable: no address, certificate, key or CA; an unreadable PEM file",
  file_error: "a file named on the command line cannot be read or written",
  connection_failed: "the server cannot be reached: connection refused or reset, host not found or unreachable",
  tls_failed: "the TLS handshake failed: server certificate not trusted or not for this host, expired, or the client key is unusable",
  key_mismatch: "the client private key is not the key of the client certificate (e.g. key.pem and cert.pem from different bundles)",
  client_cert_rejected:
    "the server refused the client certificate: issued by another CA (another instance), expired, revoked or unknown to the server",
  wrong_port: "the address answers KMIP, not the REST API: the KMIP port (5696 by default) was given instead of the API port (8443)",
  timeout: "no complete answer within --timeout",
  bad_response: "the server's answer is not the JSON the API promises",
  config_invalid: "strongroom.yaml is refused (server, npm start): unknown key, wrong type, out of range, missing file",
  interrupted: "interrupted at a prompt (exit status 130)",
  internal: "an unexpected failure of the CLI",
} as const;

export type CliErrorCode = keyof typeof CLI_ERROR_CODES;

/** An error of the CLI itself (bad usage, unreadable file, unreachable server): one line for the user. */
export class CliError extends Error {
  readonly code: CliErrorCode | "approval_required";
  readonly exitCode: number;
  readonly requestId: string | undefined;
  /** A request that waits for dual-control approval (code approval_required, exit status 3). */
  readonly approval: { id: string; action?: string; expiresAt?: string } | undefined;
  constructor(
    message: string,
    o: { code?: CliErrorCode | "approval_required"; exitCode?: number; requestId?: string; approval?: CliError["approval"] } = {},
  ) {
    super(message);
    this.name = "CliError";
    // Most local failures are about what was typed; the others say what they are.
    this.code = o.code ?? "usage";
    this.exitCode = o.exitCode ?? 1;
    this.requestId = o.requestId;
    this.approval = o.approval;
  }
}

/** One line for the user: API errors with code and request id, everything else by message. Never a stack. */
export function errorLine(e: unknown): string {
  let text: string;
  if (e instanceof ApiError) text = `${e.message} (code ${e.code}, request ${e.requestId || "-"})`;
  else if (e instanceof Error) text = e.message || e.name;
  else text = String(e);
  return `strongroom: ${text.replace(/\s*\n\s*/g, " ").trim()}`;
}

/** The `--json` form of a failure: `{"error":{code,message,requestId?}}` (plus `approval` for a pending request). */
export function errorDocument(e: unknown): { error: Record<string, unknown> } {
  const message = errorLine(e).replace(/^strongroom: /, "");
  if (e instanceof ApiError) return { error: { code: e.code, message: e.message, ...(e.requestId ? { requestId: e.requestId } : {}) } };
  if (e instanceof CliError)
    return {
      error: {
        code: e.code,
        message,
        ...(e.requestId ? { requestId: e.requestId } : {}),
        ...(e.approval ? { approval: e.approval } : {}),
      },
    };
  if (e instanceof ConfigError) return { error: { code: "config_invalid", message } };
  // A system error on a named file (e.g. writing --out into a missing directory).
  const sys = e as NodeJS.ErrnoException;
  if (e instanceof Error && typeof sys.syscall === "string" && typeof sys.path === "string")
    return { error: { code: "file_error", message } };
  // A service error raised in this process (server start, init): the registry's code.
  if (isStrongroomError(e)) return { error: { code: e.code, message } };
  return { error: { code: "internal", message } };
}

/** The exit status of a failure: 3 for a pending approval, 130 for an interrupt, 1 otherwise. */
export const exitStatus = (e: unknown): number => (e instanceof CliError ? e.exitCode : 1);

export type Query = Record<string, string | number | undefined>;

export interface HttpClient {
  readonly addr: string;
  call<T = unknown>(method: string, path: string, o?: { body?: unknown; query?: Query }): Promise<T>;
  close(): void;
}

const FRIENDLY: Record<string, string> = {
  ECONNREFUSED: "connection refused (is the server running?)",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ECONNRESET: "the server closed the connection (is the client certificate revoked or unknown to this server? its audit log says why)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server certificate is not signed by the given CA (--ca)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server certificate is not signed by the given CA (--ca)",
  SELF_SIGNED_CERT_IN_CHAIN: "the server certificate is not signed by the given CA (--ca)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server certificate does not name this host (use the host name given to init --host)",
  CERT_HAS_EXPIRED: "the server certificate has expired",
};

/** Certificate verification failures (OpenSSL X509 verify codes node reports as `code`). */
const TLS_VERIFY =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT(_LOCALLY)?|DECRYPT_CERT_SIGNATURE)|CERT_(HAS_EXPIRED|NOT_YET_VALID|REVOKED|UNTRUSTED|REJECTED|SIGNATURE_FAILURE)|INVALID_CA|HOSTNAME_MISMATCH)$/;

/** TLS alerts a server sends about the client's certificate (node's codes for OpenSSL's alert reasons). */
const CLIENT_CERT_ALERTS: Record<string, string> = {
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the server does not know the CA that issued the client certificate (it is from another CA)",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "the server refused the client certificate (bad certificate)",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: "the server refused the client certificate (certificate unknown)",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: "the server says the client certificate is revoked",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: "the server says the client certificate has expired",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "the server requires a client certificate",
};

/** A transport failure as a CliError: TLS (handshake, trust, unusable client key) or connection. */
function describe(e: Error & { code?: string }, addr: string): CliError {
  const why = (e.code && FRIENDLY[e.code]) || (e.message === "socket hang up" ? FRIENDLY.ECONNRESET : e.message);
  const tls = Boolean(e.code && (TLS_VERIFY.test(e.code) || /^ERR_(TLS|SSL|OSSL)_/.test(e.code)));
  return new CliError(`cannot reach ${addr}: ${why}`, { code: tls ? "tls_failed" : "connection_failed" });
}

/**
 * A transport failure in the user's words. A server that hangs up, answers something that is not HTTP, or sends a
 * certificate alert is diagnosed first: the client certificate checked against the CA (another CA, out of date), then
 * the address probed for KMIP (the KMIP port given instead of the API port). Otherwise as `describe`.
 */
async function explain(e: Error & { code?: string }, conn: Connection): Promise<CliError> {
  const code = e.code ?? "";
  const hungUp = code === "ECONNRESET" || code === "EPIPE" || e.message === "socket hang up";
  const notHttp = code.startsWith("HPE_");
  const alert = CLIENT_CERT_ALERTS[code];
  if (!hungUp && !notHttp && !alert) return describe(e, conn.addr);
  const certProblem = clientCertProblem(conn.certPem, conn.caPem);
  if (certProblem) return new CliError(`${conn.addr} refused the connection: ${certProblem}`, { code: "client_cert_rejected" });
  if (alert) return new CliError(`${conn.addr} refused the connection: ${alert}`, { code: "client_cert_rejected" });
  if (await answersKmip(new URL(conn.addr), { cert: conn.certPem, key: conn.keyPem, ca: conn.caPem }))
    return new CliError(`${conn.addr} answers KMIP, not HTTP: ${KMIP_PORT_HINT}`, { code: "wrong_port" });
  if (notHttp)
    return new CliError(`unexpected response from ${conn.addr}: not HTTP (is this the REST API's address?)`, { code: "bad_response" });
  return describe(e, conn.addr);
}

export function createHttpClient(conn: Connection, o: { timeoutMs?: number } = {}): HttpClient {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const base = new URL(conn.addr);
  if (keyMismatch(conn.certPem, conn.keyPem))
    throw new CliError(
      `the client private key ${conn.keyFile} is not the key of the certificate ${conn.certFile}: use the key.pem from the same bundle as the cert.pem`,
      { code: "key_mismatch" },
    );
  try {
    // Refuses an unusable certificate, key or CA here, with a code, rather than as a failure inside a request.
    createSecureContext({ cert: conn.certPem, key: conn.keyPem, ca: conn.caPem });
  } catch (e) {
    throw new CliError(
      `cannot use the client certificate ${conn.certFile}, key ${conn.keyFile} or CA ${conn.caFile}: ${(e as Error).message}`,
      {
        code: "tls_failed",
      },
    );
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 4, cert: conn.certPem, key: conn.keyPem, ca: conn.caPem, minVersion: "TLSv1.2" });

  function call<T>(method: string, path: string, opts: { body?: unknown; query?: Query } = {}): Promise<T> {
    const url = new URL(path.replace(/^\//, ""), base.href.endsWith("/") ? base.href : `${base.href}/`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: Error | null, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value as T);
      };
      // The diagnosis of a failure (bounded on its own) does not count against the request's deadline.
      const onFailure = (e: Error) => {
        clearTimeout(timer);
        void explain(e, conn).then((err) => finish(err));
      };
      let req: ClientRequest;
      try {
        req = request(
          url,
          {
            method,
            agent,
            headers: {
              accept: "application/json",
              ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
            },
          },
          (res) => {
            const header = res.headers["x-request-id"];
            const requestId = typeof header === "string" && header.length <= 64 ? header : undefined;
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("error", (e) => onFailure(e));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              let parsed: unknown;
              try {
                parsed = text.length ? JSON.parse(text) : null;
              } catch {
                finish(
                  new CliError(`unexpected response from ${conn.addr} (HTTP ${res.statusCode}, not JSON)`, {
                    code: "bad_response",
                    requestId,
                  }),
                );
                return;
              }
              const status = res.statusCode ?? 0;
              const approval = (parsed as { approval?: { id?: string; action?: string; expiresAt?: string } } | null)?.approval;
              if (status === 202 && approval?.id) {
                // Dual control: the request waits for a second admin; exit status 3 tells scripts so.
                finish(
                  new CliError(
                    `pending approval ${approval.id} (${approval.action}): a second admin reviews it with \`strongroom approvals list\` and runs \`strongroom approvals approve ${approval.id} --digest D\` with the digest shown there`,
                    {
                      code: "approval_required",
                      exitCode: 3,
                      requestId,
                      approval: { id: approval.id, action: approval.action, expiresAt: approval.expiresAt },
                    },
                  ),
                );
                return;
              }
              if (status >= 200 && status < 300) {
                finish(null, parsed as T);
                return;
              }
              const err = (parsed as { error?: { code?: string; message?: string; requestId?: string } } | null)?.error;
              if (err && typeof err.message === "string")
                finish(new ApiError(status, String(err.code ?? "unknown"), err.message, String(err.requestId ?? requestId ?? "")));
              else finish(new CliError(`unexpected response from ${conn.addr} (HTTP ${status})`, { code: "bad_response", requestId }));
            });
          },
        );
      } catch (e) {
        finish(describe(e as Error, conn.addr));
        return;
      }
      // One deadline for connect, TLS handshake, request and response.
      timer = setTimeout(() => {
        finish(new CliError(`request to ${conn.addr} timed out after ${timeoutMs / 1000} s`, { code: "timeout" }));
        req.destroy();
      }, timeoutMs);
      req.on("error", (e) => onFailure(e));
      req.end(payload);
    });
  }

  return {
    addr: conn.addr,
    call,
    close: () => agent.destroy(),
  };
}
