// Expensive private-key operations off the event loop: crypto.sign on libuv's thread pool, RSA private encrypt/decrypt in worker threads.

import { type KeyObject, type SignKeyObjectInput, type SignPrivateKeyInput, sign } from "node:crypto";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/** crypto.sign with a callback: the signature is computed on libuv's thread pool, not on the event loop. */
export function signAsync(algorithm: string | null, data: Buffer, key: SignKeyObjectInput | SignPrivateKeyInput): Promise<Buffer> {
  return new Promise((resolve, reject) => sign(algorithm, data, key, (e, sig) => (e ? reject(e) : resolve(sig))));
}

export interface RsaPrivateJob {
  /** privateDecrypt (decryption, raw RSA for own padding) or privateEncrypt (signature primitive). */
  fn: "decrypt" | "encrypt";
  key: KeyObject;
  padding: number;
  oaepHash?: string;
  oaepLabel?: Buffer;
  data: Buffer;
}

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/** One worker thread and the jobs it has been sent (answered in order, each carrying its id). */
interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

// node:crypto has no asynchronous privateDecrypt/privateEncrypt: a 4096-bit private operation takes milliseconds, so
// a batch of them on the event loop would stall every other client. A few threads (one fewer than the cores, at
// most 4) run them; KeyObjects are passed to a thread by reference to the same native key, not as exported bytes.
const POOL_SIZE = Math.max(1, Math.min(4, availableParallelism() - 1));
const slots: Slot[] = [];
let nextId = 1;

function spawn(index: number): Slot {
  const worker = new Worker(new URL("./rsa-worker.js", import.meta.url));
  // Idle workers do not keep the process alive.
  worker.unref();
  const slot: Slot = { worker, pending: new Map() };
  worker.on("message", (m: { id: number; out?: Uint8Array; error?: boolean }) => {
    const p = slot.pending.get(m.id);
    if (!p) return;
    slot.pending.delete(m.id);
    if (m.error || !m.out) p.reject(new Error("RSA private-key operation failed"));
    else p.resolve(Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength));
  });
  const lost = () => {
    for (const p of slot.pending.values()) p.reject(new Error("RSA worker stopped"));
    slot.pending.clear();
    if (slots[index] === slot) slots[index] = undefined as unknown as Slot;
  };
  worker.on("error", lost);
  worker.on("exit", lost);
  return slot;
}

/** The slot with the fewest jobs in flight (started on first use). */
function pick(): Slot {
  let best = -1;
  for (let i = 0; i < POOL_SIZE; i++) {
    if (!slots[i]) slots[i] = spawn(i);
    if (best < 0 || slots[i].pending.size < slots[best].pending.size) best = i;
  }
  return slots[best];
}

/** Runs one RSA private-key operation on a worker thread; rejects (with no detail) when OpenSSL refuses it. */
export function rsaPrivate(job: RsaPrivateJob): Promise<Buffer> {
  const slot = pick();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    slot.pending.set(id, { resolve, reject });
    slot.worker.ref(); // a job in flight keeps the process alive until it is answered
    slot.worker.postMessage({ id, ...job });
  }).finally(() => {
    if (slot.pending.size === 0) slot.worker.unref();
  }) as Promise<Buffer>;
}
