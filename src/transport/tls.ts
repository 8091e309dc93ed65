// TLS settings and handshake auditing shared by the HTTPS and KMIP listeners.
import type { TLSSocket, Server as TlsServer } from "node:tls";
import type { Actor } from "../audit/audit-log.js";
import type { AccessService } from "../auth/access-service.js";
import { peerActor } from "../auth/identity.js";
import type { Logger } from "../logger.js";
import { type ListenerName, refusedByAllowlist } from "./allowlist.js";
import type { RefusalAudit } from "./connection-guard.js";

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Mutual TLS against Strongroom's own CA only, TLS 1.2 or newer. */
export function mutualTlsOptions(files: TlsFiles, rejectUnauthorized: boolean) {
  return { ca: [files.ca], cert: files.cert, key: files.key, minVersion: "TLSv1.2" as const, requestCert: true, rejectUnauthorized };
}

/** Records a refused TLS handshake or connection ("tls.handshake", outcome denied). */
export function auditRefusal(access: Pick<AccessService, "recordRefusal">, log: Logger, actor: Actor, reason: string): Promise<void> {
  return access
    .recordRefusal({ actor, action: "tls.handshake", reason })
    .catch((e) => log.error("audit write failed", { error: String(e) }));
}

/**
 * Audits every failed handshake on `server` (unknown CA, old protocol version, garbage) and destroys its socket: Node's
 * TLS server leaves the socket of a timed-out handshake open (and a listener here takes over its error handling).
 * Handshake timeouts, which an attacker gets for free by staying silent, go through the rate-limited `refusals`.
 */
export function auditHandshakeFailures(
  server: TlsServer,
  access: Pick<AccessService, "recordRefusal">,
  log: Logger,
  refusals: RefusalAudit,
  listener: ListenerName,
  prefix = "",
): void {
  server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
    const address = socket.remoteAddress ?? (socket as { _parent?: { remoteAddress?: string } })._parent?.remoteAddress ?? null;
    socket.destroy();
    if (refusedByAllowlist(socket)) return;
    if (err.code === "ERR_TLS_HANDSHAKE_TIMEOUT") {
      refusals.note(listener, address, "tls.handshake", `${prefix}ERR_TLS_HANDSHAKE_TIMEOUT (limits.handshakeTimeoutMs)`);
      return;
    }
    void auditRefusal(access, log, peerActor(null, address), `${prefix}${err.code ?? "handshake failed"}`);
  });
}
