// The HTTPS listener: mutual TLS, identity, body limits, routing, JSON errors with request ids, audit of refusals (via AccessService).
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { type Identity, normalizeSerial, peerActor, peerOf } from "../auth/identity.js";
import type { Allowlist } from "../config/config.js";
import { ERRORS, isStrongroomError, StrongroomError } from "../errors/registry.js";
import type { Logger } from "../logger.js";
import { enforceAllowlist, type ListenerAllowlist, requireAllowedRole } from "../transport/allowlist.js";
import type { ConnectionGuard } from "../transport/connection-guard.js";
import { auditHandshakeFailures, mutualTlsOptions } from "../transport/tls.js";
import type { HttpServices, RequestContext, Router } from "./route.js";

function send(res: ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...extraHeaders,
  });
  res.end(text);
}

/** Reads the body up to `limit` bytes; a larger one is refused without buffering it. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) {
      reject(new StrongroomError("body_too_large", { limit }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new StrongroomError("body_too_large", { limit }));
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export interface ApiServerOptions {
  /** The services the routes call, and access (identity, audit of refusals) for the listener itself. */
  services: HttpServices;
  router: Router;
  /** limits.maxBodyBytes */
  maxBodyBytes: number;
  /** allowlists.api */
  allowlist: Allowlist | undefined;
  log: Logger;
  /** The CA and server certificate/key (PEM). */
  tls: { ca: string; cert: string; key: string };
  /** Connection counts and the handshake and first-request deadlines (shared with the KMIP listener). */
  guard: ConnectionGuard;
}

export function createApiServer(o: ApiServerOptions): Server {
  const { services, log, guard } = o;
  const { access } = services;
  const server = createServer({
    // Health must answer without a certificate, so verification results are enforced per request
    // (and a presented-but-invalid certificate closes the connection right after the handshake).
    ...mutualTlsOptions(o.tls, false),
    handshakeTimeout: guard.limits.handshakeTimeoutMs,
    keepAliveTimeout: 60_000,
    // requestTimeout bounds a whole request, body included (a slow body is cut too); checked every 2 s instead of
    // Node's 30 s so the bounds hold close to their values.
    requestTimeout: 30_000,
    headersTimeout: 20_000,
    connectionsCheckingInterval: 2_000,
  });

  server.on("secureConnection", (socket: TLSSocket) => {
    socket.disableRenegotiation(); // TLS 1.2 renegotiation could swap the certificate peerOf remembers
    socket.setNoDelay(true);
    // Health needs no certificate, so a handshake alone proves nothing: the first request has a deadline.
    guard.expectRequest(socket, "api");
    void screenConnection(access, socket, log);
  });
  auditHandshakeFailures(server, access, log, guard.refusals, "api");
  guard.install(server, "api"); // prepended before the allowlist's check, so it runs after it
  const allowlist = enforceAllowlist(server, access, log, "api", o.allowlist);

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    guard.requestArrived(req.socket);
    void handle(o, allowlist, req, res).catch((e) => {
      log.error("unhandled request failure", { error: String(e) });
      if (!res.headersSent) send(res, 500, { error: { code: "internal", message: "internal error", requestId: "" } });
    });
  });
  return server;
}

/**
 * Refuses, right after the handshake, a connection whose certificate is from another CA, expired,
 * or revoked, and audits it. Connections without a certificate stay open for /v1/sys/health.
 */
async function screenConnection(access: HttpServices["access"], socket: TLSSocket, log: Logger): Promise<void> {
  const address = socket.remoteAddress ?? null;
  const raw = socket.getPeerCertificate();
  const presented = raw && Object.keys(raw).length > 0;
  if (!presented) return;
  let reason: string | null = null;
  const peer = peerOf(socket);
  if (!peer) reason = String(socket.authorizationError ?? "certificate not trusted");
  else {
    try {
      await access.identify(peer, address);
    } catch (e) {
      reason = isStrongroomError(e) ? e.code : "identify failed";
    }
  }
  if (reason === null) return;
  socket.destroy();
  const subj = raw.subject as unknown as Record<string, string> | undefined;
  await access
    .recordRefusal({
      actor: {
        cn: subj?.CN ?? null,
        ou: subj?.OU ?? null,
        role: null,
        serial: raw.serialNumber ? normalizeSerial(raw.serialNumber) : null,
        address,
      },
      action: "tls.handshake",
      reason,
    })
    .catch((e) => log.error("audit write failed", { error: String(e) }));
}

async function handle(o: ApiServerOptions, allowlist: ListenerAllowlist, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { services, router } = o;
  const { access } = services;
  const requestId = randomUUID();
  const socket = req.socket as TLSSocket;
  const address = socket.remoteAddress ?? null;
  const peer = peerOf(socket);
  const method = req.method ?? "GET";
  let action = `http.${method.toLowerCase().slice(0, 10)}`;
  let identity: Identity | null = null;
  /** RFC 9110 §15.5.6: a 405 response MUST carry an Allow header. */
  let allow: string | null = null;
  try {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "https://localhost");
    } catch {
      throw new StrongroomError("bad_request", { detail: "malformed request target" });
    }
    const m = router.match(method, url.pathname);
    if (!m) throw new StrongroomError("route_not_found", { method, path: url.pathname.slice(0, 200) });
    if ("allowed" in m) {
      allow = m.allowed.join(", ");
      throw new StrongroomError("method_not_allowed", { method, path: url.pathname.slice(0, 200) });
    }
    const compiled = m.route;
    const { route } = compiled;
    action = route.action;
    if (route.auth === "cert") {
      if (!peer) throw new StrongroomError("unauthenticated");
      identity = await access.identify(peer, address);
      await requireAllowedRole(access, allowlist, identity, requestId);
    }
    if (services.sys.sealed && !route.whileSealed) throw new StrongroomError("sealed");
    let body: unknown;
    if (route.rawBody) {
      const ct = String(req.headers["content-type"] ?? "")
        .split(";")[0]
        .trim()
        .toLowerCase();
      if (!route.rawBody.contentTypes.includes(ct)) {
        throw new StrongroomError("unsupported_media_type", { expected: route.rawBody.contentTypes.join(", ") });
      }
      body = { contentType: ct, bytes: await readBody(req, o.maxBodyBytes) };
    } else if (compiled.body) {
      const ct = String(req.headers["content-type"] ?? "application/json");
      if (!ct.startsWith("application/json")) throw new StrongroomError("unsupported_media_type", { expected: "application/json" });
      const raw = await readBody(req, o.maxBodyBytes);
      let parsed: unknown = {};
      if (raw.length > 0) {
        try {
          // Strict UTF-8 (RFC 8259 §8.1): invalid byte sequences are refused, not replaced with U+FFFD.
          parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
        } catch {
          throw new StrongroomError("invalid_json");
        }
      }
      body = compiled.body(parsed);
    } else {
      await readBody(req, 0).catch(() => {
        throw new StrongroomError("bad_request", { detail: `${method} ${route.path} takes no body` });
      });
    }
    let query: unknown = {};
    if (compiled.query) query = compiled.query(url.searchParams);
    else if (url.searchParams.size > 0)
      // The parameter's name is request content: not echoed (errors reach the reply and the audit log).
      throw new StrongroomError("validation", { detail: "query: an unknown parameter (known: none)" });
    // Path parameters last, as when handlers checked them: a request with several faults gets the same first refusal.
    const params = compiled.params ? compiled.params(m.params) : m.params;
    const ctx: RequestContext<unknown, unknown> = { services, requestId, identity, address, params, query };
    // The validators above made the body, query and params what the route's schemas (and so its handler's types) say.
    const reply = await route.handler(ctx as never, body as never);
    if (reply.raw) {
      if (reply.raw.sent) res.once("close", reply.raw.sent);
      res.writeHead(reply.status ?? 200, {
        "content-type": reply.raw.contentType,
        "content-length": reply.raw.bytes.length,
        "cache-control": "no-store",
        "x-request-id": requestId,
      });
      res.end(reply.raw.bytes);
      return;
    }
    send(res, reply.status ?? 200, reply.body, { "x-request-id": requestId });
  } catch (e) {
    const err = isStrongroomError(e) ? e : new StrongroomError("internal", { requestId });
    if (!isStrongroomError(e)) o.log.error("request failed", { requestId, error: e instanceof Error ? e.stack : String(e) });
    // Failures before or outside a service (routing, validation, sealed …); a service's own refusals are already recorded.
    await access.recordFailure({ actor: identity ?? peerActor(peer, address), requestId }, action, e, err);
    if (err.code === "approval_required") {
      // Dual control: accepted, not done — 202 with the approval request to show the second admin.
      const p = err.params;
      send(
        res,
        202,
        { approval: { id: p.id, action: p.action, status: "pending", expiresAt: p.expiresAt }, message: err.message },
        { "x-request-id": requestId },
      );
      return;
    }
    const def = ERRORS[err.code];
    const headers: Record<string, string> = { "x-request-id": requestId };
    if (err.code === "body_too_large") headers.connection = "close";
    if (err.code === "method_not_allowed" && allow) headers.allow = allow;
    send(res, def.status, { error: { code: err.code, message: err.message, requestId } }, headers);
  }
}
