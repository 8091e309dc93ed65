// Multi-part ("streaming") KMIP cryptographic operations: Init Indicator → Correlation Value → Final Indicator sessions, bounded and expiring.
import { randomBytes } from "node:crypto";
import { fail } from "../../errors/registry.js";
import { bytes, Tag, type TtlvItem } from "../codec/ttlv.js";
import type { KmipCall } from "../operation.js";
import { optionalBool, optionalBytes } from "./crypto-params.js";

/** What a session keeps between calls; `dispose` drops buffers and cipher state. */
export interface StreamState {
  dispose(): void;
}

export interface Session {
  owner: string;
  op: string;
  objectId: string | null;
  state: StreamState;
  expires: number;
}

// Buffered parts are bounded per session (PART_BUFFER_BYTES) and sessions in total, so the worst case
// stays at MAX_SESSIONS × PART_BUFFER_BYTES = 256 MiB.
const MAX_SESSIONS = 256;
const MAX_PER_OWNER = 16;
const PART_BUFFER_BYTES = 1024 * 1024;
const IDLE_MS = 10 * 60_000;

/**
 * The multi-part sessions of one server (both listeners). Owned by the KMIP handler and dropped when the server seals
 * (`clear`): their cipher contexts hold key material.
 */
export class StreamSessions {
  private readonly open = new Map<string, Session>();

  /** The live sessions, expired ones dropped first. */
  table(): Map<string, Session> {
    const now = Date.now();
    for (const [k, s] of this.open) {
      if (s.expires <= now) {
        s.state.dispose();
        this.open.delete(k);
      }
    }
    return this.open;
  }

  /** Disposes every session. */
  clear(): void {
    for (const s of this.open.values()) s.state.dispose();
    this.open.clear();
  }
}

export type StreamStep =
  /** A whole operation in one call (no indicators, or Init and Final together). */
  | { kind: "one-shot" }
  /** Init Indicator without Final Indicator: the first part; answer with a Correlation Value. */
  | { kind: "start" }
  /** A later part, named by its Correlation Value; `final` ends the operation. */
  | { kind: "continue"; correlation: Buffer; final: boolean };

/** Reads Init Indicator, Final Indicator and Correlation Value. */
export function streamStep(c: KmipCall): StreamStep {
  const init = optionalBool(c, Tag.InitIndicator, "Init Indicator") ?? false;
  const final = optionalBool(c, Tag.FinalIndicator, "Final Indicator") ?? false;
  const correlation = optionalBytes(c, Tag.CorrelationValue, "Correlation Value");
  if (correlation) {
    if (init) fail("validation", { detail: "Init Indicator cannot be combined with a Correlation Value" });
    return { kind: "continue", correlation, final };
  }
  if (init && !final) return { kind: "start" };
  return { kind: "one-shot" };
}

const ownerOf = (c: KmipCall): string => `${c.auth.actor.role}\u0000${c.auth.actor.cn}\u0000${c.auth.actor.serial}`;

const table = (c: KmipCall): Map<string, Session> => c.sessions.table();

/** Opens a session for the first part; returns its Correlation Value. */
export function openStream(c: KmipCall, op: string, objectId: string | null, state: StreamState): Buffer {
  const t = table(c);
  const owner = ownerOf(c);
  let mine = 0;
  for (const s of t.values()) if (s.owner === owner) mine++;
  if (t.size >= MAX_SESSIONS || mine >= MAX_PER_OWNER) {
    state.dispose();
    fail("forbidden", { detail: "too many multi-part cryptographic operations are open; finish some or let them expire" });
  }
  const correlation = randomBytes(16);
  t.set(correlation.toString("hex"), { owner, op, objectId, state, expires: Date.now() + IDLE_MS });
  return correlation;
}

/** The session a later part names; only its owner, for the same operation and object, may continue it. */
export function resumeStream<T extends StreamState>(c: KmipCall, op: string, objectId: string | null, correlation: Buffer): T {
  const t = table(c);
  const s = t.get(correlation.toString("hex"));
  if (!s || s.owner !== ownerOf(c) || s.op !== op || s.objectId !== objectId) {
    return fail("validation", { detail: "unknown or expired Correlation Value for this operation and object" });
  }
  s.expires = Date.now() + IDLE_MS;
  return s.state as T;
}

/** Ends a session (after its final part, or after a failure part-way). */
export function endStream(c: KmipCall, correlation: Buffer): void {
  const t = table(c);
  const k = correlation.toString("hex");
  t.get(k)?.state.dispose();
  t.delete(k);
}

/**
 * Runs one part of a streamed operation: a failure ends the session, as the client cannot
 * recover a half-processed cipher state.
 */
export function guarded<T>(c: KmipCall, correlation: Buffer, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    endStream(c, correlation);
    throw e;
  }
}

/** Buffers the data of parts for operations that run on the whole message at the end (sign, verify, MAC), within a byte budget. */
export class PartBuffer<T> implements StreamState {
  private parts: Buffer[] = [];
  private size = 0;
  /** `meta`: what the first part settled (the parameters). */
  constructor(
    readonly meta: T,
    private readonly limit = PART_BUFFER_BYTES,
  ) {}
  add(d: Buffer): void {
    if (this.size + d.length > this.limit) fail("validation", { detail: `a multi-part operation may process at most ${this.limit} bytes` });
    this.parts.push(Buffer.from(d));
    this.size += d.length;
  }
  take(): Buffer {
    const all = Buffer.concat(this.parts);
    this.dispose();
    return all;
  }
  dispose(): void {
    for (const p of this.parts) p.fill(0);
    this.parts = [];
    this.size = 0;
  }
}

/**
 * Runs an operation that needs the whole message (sign, verify, MAC): in one call, or with the
 * parts buffered until the Final Indicator. `setup` reads what the first part settles; `head` are
 * the response fields every part returns (the Unique Identifier).
 */
export async function runBuffered<T>(
  c: KmipCall,
  op: string,
  objectId: string | null,
  step: StreamStep,
  data: Buffer,
  setup: () => T,
  finish: (meta: T, all: Buffer) => TtlvItem[] | Promise<TtlvItem[]>,
  head: TtlvItem[],
): Promise<TtlvItem[]> {
  if (step.kind === "one-shot") return finish(setup(), data);
  if (step.kind === "start") {
    const buf = new PartBuffer(setup());
    buf.add(data);
    return [...head, bytes(Tag.CorrelationValue, openStream(c, op, objectId, buf))];
  }
  const buf = resumeStream<PartBuffer<T>>(c, op, objectId, step.correlation);
  const all = guarded(c, step.correlation, () => {
    buf.add(data);
    if (!step.final) return null;
    const whole = buf.take();
    endStream(c, step.correlation);
    return whole;
  });
  if (!all) return [...head, bytes(Tag.CorrelationValue, step.correlation)];
  try {
    return await finish(buf.meta, all);
  } finally {
    all.fill(0);
  }
}
