// A small mutual-TLS JSON client for the REST API: keep-alive agent, timeouts, API errors as ApiError.
import { Agent, request } from "node:https";
import type { Connection } from "./connection.js";

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

/** An error of the CLI itself (bad usage, unreadable file, unreachable server): one line for the user. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
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
  ECONNRESET: "the server closed the connection (is the client certificate revoked, unknown, or from another CA?)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server certificate is not signed by the given CA (--ca)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server certificate is not signed by the given CA (--ca)",
  SELF_SIGNED_CERT_IN_CHAIN: "the server certificate is not signed by the given CA (--ca)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server certificate does not name this host (use the host name given to init --host)",
  CERT_HAS_EXPIRED: "the server certificate has expired",
};

function describe(e: Error & { code?: string }, addr: string): string {
  const why = (e.code && FRIENDLY[e.code]) || (e.message === "socket hang up" ? FRIENDLY.ECONNRESET : e.message);
  return `cannot reach ${addr}: ${why}`;
}

export function createHttpClient(conn: Connection, o: { timeoutMs?: number } = {}): HttpClient {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const base = new URL(conn.addr);
  const agent = new Agent({ keepAlive: true, maxSockets: 4, cert: conn.certPem, key: conn.keyPem, ca: conn.caPem, minVersion: "TLSv1.2" });

  function call<T>(method: string, path: string, opts: { body?: unknown; query?: Query } = {}): Promise<T> {
    const url = new URL(path.replace(/^\//, ""), base.href.endsWith("/") ? base.href : `${base.href}/`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value as T);
      };
      const req = request(
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
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (e) => finish(new CliError(describe(e, conn.addr))));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            try {
              parsed = text.length ? JSON.parse(text) : null;
            } catch {
              finish(new CliError(`unexpected response from ${conn.addr} (HTTP ${res.statusCode}, not JSON)`));
              return;
            }
            const status = res.statusCode ?? 0;
            const approval = (parsed as { approval?: { id?: string; action?: string } } | null)?.approval;
            if (status === 202 && approval?.id) {
              // Dual control: the request waits for a second admin; exit status 3 tells scripts so.
              finish(
                new CliError(
                  `pending approval ${approval.id} (${approval.action}): a second admin runs \`strongroom approvals approve ${approval.id}\``,
                  3,
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
              finish(new ApiError(status, String(err.code ?? "unknown"), err.message, String(err.requestId ?? "")));
            else finish(new CliError(`unexpected response from ${conn.addr} (HTTP ${status})`));
          });
        },
      );
      // One deadline for connect, TLS handshake, request and response.
      const timer = setTimeout(() => {
        finish(new CliError(`request to ${conn.addr} timed out after ${timeoutMs / 1000} s`));
        req.destroy();
      }, timeoutMs);
      req.on("error", (e) => finish(new CliError(describe(e, conn.addr))));
      req.end(payload);
    });
  }

  return {
    addr: conn.addr,
    call,
    close: () => agent.destroy(),
  };
}
