// KMIP over mutually authenticated TLS (port 5696): frames in, one response frame out, per connection in order.

import { randomUUID } from "node:crypto";
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { AccessService } from "../auth/access-service.js";
import { type AuthCtx, peerActor, peerOf } from "../auth/identity.js";
import type { Allowlist } from "../config/config.js";
import { isStrongroomError } from "../errors/registry.js";
import type { Logger } from "../logger.js";
import { enforceAllowlist, requireAllowedRole } from "../transport/allowlist.js";
import type { ConnectionGuard, InputBudget } from "../transport/connection-guard.js";
import { auditHandshakeFailures, mutualTlsOptions } from "../transport/tls.js";
import { FrameError, FrameReader } from "./codec/frame-reader.js";
import type { KmipReply } from "./handle-kmip.js";

/** Requests read ahead on one connection before reading pauses. */
const MAX_QUEUED_FRAMES = 64;

export interface KmipListenerOptions {
  /** Identity lookup and the audit of refusals: the listener never touches the store or the audit log itself. */
  access: AccessService;
  /** KMIP's one entry point for a TTLV request, bound by the composition root to its services and limits. */
  kmip: (auth: AuthCtx, frame: Buffer) => Promise<KmipReply>;
  /** allowlists.kmip */
  allowlist: Allowlist | undefined;
  log: Logger;
  tls: { ca: string; cert: string; key: string };
  maxFrameBytes?: number;
  idleTimeoutMs?: number;
  /** Connection counts and the handshake, first-request and frame deadlines (shared with the HTTPS listener). */
  guard: ConnectionGuard;
  /** The budget for partial frames across all KMIP connections. */
  budget: InputBudget;
}

export function createKmipListener(o: KmipListenerOptions): Server {
  const { access, log } = o;
  // A KMIP client must present a certificate from this server's CA: no anonymous access at all.
  const { guard } = o;
  const server = createServer({ ...mutualTlsOptions(o.tls, true), handshakeTimeout: guard.limits.handshakeTimeoutMs });

  auditHandshakeFailures(server, access, log, guard.refusals, "kmip", "kmip: ");
  guard.install(server, "kmip"); // prepended before the allowlist's check, so it runs after it
  const allow = enforceAllowlist(server, access, log, "kmip", o.allowlist);

  server.on("secureConnection", (socket: TLSSocket) => {
    socket.disableRenegotiation(); // TLS 1.2 renegotiation could swap the certificate peerOf remembers
    socket.setNoDelay(true);
    socket.setTimeout(o.idleTimeoutMs ?? 300_000, () => socket.destroy());
    const address = socket.remoteAddress ?? null;
    const peer = peerOf(socket);
    const reader = new FrameReader({ maxFrameBytes: o.maxFrameBytes, budget: o.budget });
    guard.expectRequest(socket, "kmip");
    // Requests on one connection are answered in order: a queue of pending frames.
    let chain: Promise<void> = Promise.resolve();
    let closed = false;
    // A frame once started must be complete within frameTimeoutMs: the idle timer, reset by every byte, cannot stop a
    // client that sends one byte at a time.
    let frameTimer: NodeJS.Timeout | null = null;
    const frameExpired = () => {
      frameTimer = null;
      if (closed) return;
      // Not the client's fault while we stopped reading (backpressure): wait again.
      if (socket.isPaused()) {
        frameTimer = setTimeout(frameExpired, guard.limits.frameTimeoutMs).unref();
        return;
      }
      closed = true;
      socket.destroy();
      reader.reset();
      guard.refusals.note(
        "kmip",
        address,
        "connection.timeout",
        `kmip: a request frame was not complete within ${guard.limits.frameTimeoutMs} ms (limits.frameTimeoutMs)`,
      );
    };
    socket.on("close", () => {
      closed = true;
      if (frameTimer) clearTimeout(frameTimer);
      reader.reset(); // the partial frame's memory goes back to the budget now, not at garbage collection
    });
    socket.on("error", () => socket.destroy());

    const serve = async (frame: Buffer) => {
      if (closed) return;
      let auth: AuthCtx;
      try {
        if (!peer) throw new Error("no peer certificate");
        // Checked on every request: a revoked certificate is refused on its next request.
        auth = { actor: await access.identify(peer, address), requestId: randomUUID() };
      } catch (e) {
        await access
          .recordRefusal({
            actor: peerActor(peer, address),
            action: "tls.handshake",
            reason: `kmip: ${isStrongroomError(e) ? e.code : "unauthenticated"}`,
          })
          .catch(() => undefined);
        socket.destroy();
        closed = true;
        return;
      }
      try {
        // The role's allowlist, like revocation, on every request; a refused role is never served on this connection.
        await requireAllowedRole(access, allow, auth.actor, auth.requestId);
      } catch {
        socket.destroy();
        closed = true;
        return;
      }
      const reply = await o.kmip(auth, frame);
      if (closed) return reply.release();
      // The reply stays in the response budget until the socket has taken it, and the next request on this
      // connection waits for that: a client that does not read cannot pile up replies in memory.
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off("close", done);
          reply.release();
          resolve();
        };
        socket.once("close", done);
        socket.write(reply.bytes, done);
      });
    };

    // Backpressure: a client that pipelines faster than requests are served stops being read from — after 64 requests
    // or one maximum frame's worth of them (complete frames are outside the partial-input budget).
    let queued = 0;
    let queuedBytes = 0;
    const maxQueuedBytes = reader.maxFrameBytes;
    const enqueue = (frames: Buffer[]) => {
      for (const f of frames) {
        queued++;
        queuedBytes += f.length;
        if (queued > MAX_QUEUED_FRAMES || queuedBytes > maxQueuedBytes) socket.pause();
        chain = chain
          .then(() => serve(f))
          .catch((e) => {
            log.error("kmip request failed", { error: String(e) });
            socket.destroy();
          })
          .finally(() => {
            queued--;
            queuedBytes -= f.length;
            if (queued <= MAX_QUEUED_FRAMES / 2 && queuedBytes <= maxQueuedBytes / 2 && socket.isPaused()) socket.resume();
          });
      }
    };

    let faulted = false;
    socket.on("data", (chunk: Buffer) => {
      if (faulted) return; // refused once (logged and audited once); the rest of the stream is dropped until close
      try {
        const frames = reader.push(chunk);
        if (frames.length > 0) {
          guard.requestArrived(socket);
          if (frameTimer) clearTimeout(frameTimer);
          frameTimer = null;
        }
        if (reader.pending > 0 && frameTimer === null) frameTimer = setTimeout(frameExpired, guard.limits.frameTimeoutMs).unref();
        enqueue(frames);
      } catch (e) {
        faulted = true;
        if (frameTimer) clearTimeout(frameTimer);
        frameTimer = null;
        // Oversize or unframeable input: the complete requests before it are answered, then the
        // connection is closed (nothing after the fault can be trusted to be framed correctly).
        if (e instanceof FrameError) enqueue(e.frames);
        log.warn("kmip frame refused", { address, reason: (e as Error).message.slice(0, 200) });
        void access
          .recordRefusal({
            actor: peerActor(peer, address),
            action: "kmip.message",
            outcome: "error",
            reason: `bad_request: ${(e as Error).message.slice(0, 200)}`,
          })
          .catch(() => undefined);
        chain = chain.finally(() => {
          closed = true;
          socket.end();
          setTimeout(() => socket.destroy(), 1000).unref();
        });
      }
    });
  });
  return server;
}
