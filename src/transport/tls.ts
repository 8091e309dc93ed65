// TLS settings and handshake auditing shared by the HTTPS and KMIP listeners.
import type { TLSSocket, Server as TlsServer } from "node:tls";
import type { App } from "../app.js";
import type { Actor } from "../audit/audit-log.js";
import { peerActor } from "../auth/identity.js";
import type { Logger } from "../logger.js";
import { refusedByAllowlist } from "./allowlist.js";

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
export function auditRefusal(app: App, log: Logger, actor: Actor, reason: string): Promise<void> {
  return app.audit
    .record({ actor, action: "tls.handshake", outcome: "denied", reason })
    .catch((e) => log.error("audit write failed", { error: String(e) }));
}

/** Audits every failed handshake on `server` (unknown CA, old protocol version, garbage). */
export function auditHandshakeFailures(server: TlsServer, app: App, log: Logger, prefix = ""): void {
  server.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
    if (refusedByAllowlist(socket)) return;
    void auditRefusal(app, log, peerActor(null, socket.remoteAddress ?? null), `${prefix}${err.code ?? "handshake failed"}`);
  });
}
