// Shamir secret sharing over GF(2^8) (AES polynomial x^8+x^4+x^3+x+1): split a secret into N shares, any M recover it.
import { randomBytes } from "node:crypto";

const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  // Generator 3 enumerates the multiplicative group of GF(2^8).
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x ^= (x << 1) ^ (x & 0x80 ? 0x11b : 0);
    x &= 0xff;
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255];
}

const mul = (a: number, b: number): number => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);
const div = (a: number, b: number): number => {
  if (b === 0) throw new Error("division by zero");
  return a === 0 ? 0 : EXP[LOG[a] + 255 - LOG[b]];
};

export interface Share {
  /** The x coordinate, 1..255. */
  index: number;
  /** One y value per secret byte. */
  value: Buffer;
}

/** Splits `secret` into `n` shares with threshold `m` (2 ≤ m ≤ n ≤ 255; m = 1 is allowed for n = 1). */
export function split(secret: Buffer, n: number, m: number): Share[] {
  if (!Number.isInteger(n) || !Number.isInteger(m) || m < 1 || n < m || n > 255) {
    throw new Error("shares must satisfy 1 <= threshold <= shares <= 255");
  }
  const shares: Share[] = [];
  for (let i = 1; i <= n; i++) shares.push({ index: i, value: Buffer.alloc(secret.length) });
  const coeffs = Buffer.alloc(m);
  for (let b = 0; b < secret.length; b++) {
    coeffs[0] = secret[b];
    randomBytes(m - 1).copy(coeffs, 1);
    for (const s of shares) {
      // Horner evaluation of the degree m-1 polynomial at x = index.
      let y = 0;
      for (let c = m - 1; c >= 0; c--) y = mul(y, s.index) ^ coeffs[c];
      s.value[b] = y;
    }
  }
  coeffs.fill(0);
  return shares;
}

/** Lagrange interpolation at x = 0. Shares must have distinct indexes and equal lengths. */
export function combine(shares: Share[]): Buffer {
  if (shares.length === 0) throw new Error("no shares");
  const len = shares[0].value.length;
  const xs = shares.map((s) => s.index);
  if (new Set(xs).size !== xs.length) throw new Error("duplicate share index");
  if (shares.some((s) => s.value.length !== len || s.index < 1 || s.index > 255)) throw new Error("malformed share");
  const out = Buffer.alloc(len);
  for (let i = 0; i < shares.length; i++) {
    let basis = 1;
    for (let j = 0; j < shares.length; j++) {
      if (i !== j) basis = mul(basis, div(xs[j], xs[j] ^ xs[i]));
    }
    for (let b = 0; b < len; b++) out[b] ^= mul(shares[i].value[b], basis);
  }
  return out;
}
