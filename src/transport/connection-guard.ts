// Connection limits and deadlines of the HTTPS and KMIP listeners: counts per process and per address (checked when the
// TCP connection arrives, before TLS), the first-request deadline, and a rate-limited audit of refusals and timeouts.
import { readFileSync } from "node:fs";
import type { Server, Socket } from "node:net";
import type { AccessService } from "../auth/access-service.js";
import { anonymous } from "../auth/identity.js";
import type { ConnectionLimits } from "../config/config.js";
import type { Logger } from "../logger.js";
import { type ListenerName, markRefused } from "./allowlist.js";

/** At most one audit event and one log line per address and kind in this interval; the rest are counted. */
export const REFUSAL_AUDIT_INTERVAL_MS = 60_000;
/** At most this many such events per interval over all addresses (an IPv6 attacker has addresses to spare). */
const REFUSAL_AUDIT_MAX_PER_INTERVAL = 100;
/** Addresses remembered for rate limiting; beyond it, expired entries are dropped, then the oldest. */
const REFUSAL_AUDIT_MAX_ADDRESSES = 10_000;

/**
 * Audits connection refusals and timeouts without letting an attacker flood the audit log: per address, listener and
 * kind, the first event of an interval is recorded (with the count suppressed since the previous one), later ones only
 * counted.
 */
export class RefusalAudit {
  readonly #last = new Map<string, { at: number; suppressed: number }>();
  #windowStart = 0;
  #windowCount = 0;
  #overflow = 0;

  constructor(
    private readonly access: Pick<AccessService, "recordRefusal">,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  note(listener: ListenerName, address: string | null, action: string, reason: string): void {
    const now = this.now();
    const key = `${action} ${listener} ${address ?? ""}`;
    const prev = this.#last.get(key);
    if (prev && now - prev.at < REFUSAL_AUDIT_INTERVAL_MS) {
      prev.suppressed++;
      return;
    }
    if (now - this.#windowStart >= REFUSAL_AUDIT_INTERVAL_MS) {
      if (this.#overflow > 0) {
        this.#write(null, action, `${this.#overflow} refusals or timeouts from other addresses were not audited one by one`, {
          suppressed: this.#overflow,
        });
      }
      this.#windowStart = now;
      this.#windowCount = 0;
      this.#overflow = 0;
    }
    if (this.#windowCount >= REFUSAL_AUDIT_MAX_PER_INTERVAL) {
      this.#overflow++;
      return;
    }
    this.#windowCount++;
    this.#remember(key, now);
    const suppressed = prev?.suppressed ?? 0;
    this.#write(
      address,
      action,
      suppressed > 0 ? `${reason} (and ${suppressed} more from this address since the last event)` : reason,
      suppressed > 0 ? { suppressed } : undefined,
    );
  }

  #remember(key: string, now: number): void {
    this.#last.delete(key); // re-inserted last: the map stays in order of the last event
    if (this.#last.size >= REFUSAL_AUDIT_MAX_ADDRESSES) {
      for (const [k, v] of this.#last) if (now - v.at >= REFUSAL_AUDIT_INTERVAL_MS) this.#last.delete(k);
      while (this.#last.size >= REFUSAL_AUDIT_MAX_ADDRESSES) this.#last.delete(this.#last.keys().next().value as string);
    }
    this.#last.set(key, { at: now, suppressed: 0 });
  }

  #write(address: string | null, action: string, reason: string, detail?: Record<string, unknown>): void {
    this.log.warn(action, { address, reason });
    void this.access
      .recordRefusal({ actor: anonymous(address), action, reason, detail })
      .catch((e) => this.log.error("audit write failed", { error: String(e) }));
  }
}

/** Open connections across both listeners, per process and per source address. */
export class ConnectionGuard {
  readonly refusals: RefusalAudit;
  #open = 0;
  readonly #perAddress = new Map<string, number>();
  readonly #firstRequest = new WeakMap<Socket, NodeJS.Timeout>();

  constructor(
    access: Pick<AccessService, "recordRefusal">,
    log: Logger,
    readonly limits: ConnectionLimits,
  ) {
    this.refusals = new RefusalAudit(access, log);
  }

  /** Connections open now (both listeners). */
  get open(): number {
    return this.#open;
  }

  /**
   * Counts every TCP connection to `server` from its arrival to its close, and closes one over a limit at once,
   * before the TLS handshake (audited as `connection.refused`, rate-limited).
   */
  install(server: Server, listener: ListenerName): void {
    server.prependListener("connection", (socket: Socket) => {
      if (socket.destroyed) return; // already refused (allowlist)
      const address = socket.remoteAddress ?? "";
      const fromAddress = this.#perAddress.get(address) ?? 0;
      let why: string | null = null;
      if (this.#open >= this.limits.maxConnections)
        why = `${listener}: ${this.limits.maxConnections} connections are open (limits.maxConnections)`;
      else if (fromAddress >= this.limits.maxConnectionsPerAddress)
        why = `${listener}: ${this.limits.maxConnectionsPerAddress} connections are open from this address (limits.maxConnectionsPerAddress)`;
      if (why !== null) {
        markRefused(socket);
        socket.destroy();
        this.refusals.note(listener, address || null, "connection.refused", why);
        return;
      }
      this.#open++;
      this.#perAddress.set(address, fromAddress + 1);
      socket.once("close", () => {
        this.#open--;
        const n = (this.#perAddress.get(address) ?? 1) - 1;
        if (n <= 0) this.#perAddress.delete(address);
        else this.#perAddress.set(address, n);
      });
    });
  }

  /** Starts the first-request deadline of a connection whose handshake just completed; `requestArrived` stops it. */
  expectRequest(socket: Socket, listener: ListenerName): void {
    const timer = setTimeout(() => {
      this.#firstRequest.delete(socket);
      if (socket.destroyed) return;
      socket.destroy();
      this.refusals.note(
        listener,
        socket.remoteAddress ?? null,
        "connection.timeout",
        `${listener}: no request within ${this.limits.firstRequestTimeoutMs} ms of the handshake (limits.firstRequestTimeoutMs)`,
      );
    }, this.limits.firstRequestTimeoutMs);
    timer.unref();
    this.#firstRequest.set(socket, timer);
    socket.once("close", () => this.requestArrived(socket));
  }

  requestArrived(socket: Socket): void {
    const timer = this.#firstRequest.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#firstRequest.delete(socket);
  }
}

/**
 * The global budget for buffered partial input (`limits.maxBufferedInputBytes`): bytes are reserved before a partial
 * frame's buffer grows and released when it completes or its connection closes.
 */
export class InputBudget {
  #used = 0;

  constructor(readonly max: number) {}

  get used(): number {
    return this.#used;
  }

  reserve(bytes: number): boolean {
    if (this.#used + bytes > this.max) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/** File descriptors the process needs besides client connections: database, WAL, logs, listeners, outgoing. */
export const DESCRIPTOR_HEADROOM = 256;

/**
 * Warns at start-up when the open-file limit (`ulimit -n`) cannot hold `maxConnections` plus the headroom: past it,
 * accept() fails and nobody (health checks included) gets a connection. Linux only (reads /proc/self/limits).
 */
export function warnIfFewDescriptors(maxConnections: number, log: Logger): void {
  let soft: number;
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    soft = Number(line?.split(/\s{2,}/)[1]);
  } catch {
    return;
  }
  if (!Number.isFinite(soft) || soft >= maxConnections + DESCRIPTOR_HEADROOM) return;
  log.warn("the open-file limit is below limits.maxConnections plus headroom: raise ulimit -n or lower limits.maxConnections", {
    openFileLimit: soft,
    maxConnections,
    headroom: DESCRIPTOR_HEADROOM,
  });
}
