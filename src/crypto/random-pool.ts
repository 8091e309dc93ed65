// Public random values (IVs, nonces) from a pooled CSPRNG buffer: one randomFillSync per 4 KiB instead of one per call.
import { randomBytes, randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `n` fresh bytes from node:crypto's CSPRNG, for values that are sent in the clear (IVs, nonces, counters): every
 * pooled byte is handed out once — copied out, then zeroed in the pool — and the pool is refilled when used up.
 * Never for keys: key material comes from randomBytes directly, so that no copy of it outlives its use.
 */
export function randomIv(n: number): Buffer {
  // A negative or fractional length would move the pool's offset back and hand out bytes twice.
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`IV length must be a whole number of bytes, not ${n}`);
  if (n > 64) return randomBytes(n);
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + n));
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
