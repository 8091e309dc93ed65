// The self-describing ciphertext of `encrypt`: format marker, algorithm, key version, nonce/IV, ciphertext, tag.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { randomIv } from "./random-pool.js";

/*
 * Layout (all integers big-endian):
 *   "SR" | format 0x01 | algorithm (1 = GCM, 2 = CBC, 3 = CTR) | key version u32 | IV (12 or 16) | ciphertext | tag (GCM: 16)
 * For GCM the 8-byte header and the caller's context are the additional authenticated data, so the
 * version and algorithm cannot be swapped without detection.
 */
export const CIPHER_MODES = ["aes-gcm", "aes-cbc", "aes-ctr"] as const;
export type CipherMode = (typeof CIPHER_MODES)[number];

const MAGIC = Buffer.from("SR");
const FORMAT = 1;
const ALG_ID: Record<CipherMode, number> = { "aes-gcm": 1, "aes-cbc": 2, "aes-ctr": 3 };
const HEADER = 8;
const TAG = 16;

const ivLength = (m: CipherMode) => (m === "aes-gcm" ? 12 : 16);
const nodeCipher = (m: CipherMode, keyLen: number) => `aes-${keyLen * 8}-${m.slice(4)}`;

export class CiphertextFormatError extends Error {}

export interface ParsedCiphertext {
  mode: CipherMode;
  version: number;
}

export function encryptBlob(mode: CipherMode, version: number, key: Buffer, plaintext: Buffer, context: Buffer | null): Buffer {
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header, 0);
  header[2] = FORMAT;
  header[3] = ALG_ID[mode];
  header.writeUInt32BE(version, 4);
  const iv = randomIv(ivLength(mode));
  if (mode === "aes-gcm") {
    const c = createCipheriv(nodeCipher(mode, key.length) as "aes-256-gcm", key, iv);
    c.setAAD(context ? Buffer.concat([header, context]) : header);
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([header, iv, ct, c.getAuthTag()]);
  }
  const c = createCipheriv(nodeCipher(mode, key.length), key, iv);
  return Buffer.concat([header, iv, c.update(plaintext), c.final()]);
}

/** Reads the header without decrypting, to find which key version to load. */
export function parseHeader(blob: Buffer): ParsedCiphertext {
  if (blob.length < HEADER || !blob.subarray(0, 2).equals(MAGIC) || blob[2] !== FORMAT) {
    throw new CiphertextFormatError("not a Strongroom ciphertext");
  }
  const mode = (Object.keys(ALG_ID) as CipherMode[]).find((m) => ALG_ID[m] === blob[3]);
  if (!mode) throw new CiphertextFormatError("unknown ciphertext algorithm");
  const min = HEADER + ivLength(mode) + (mode === "aes-gcm" ? TAG : mode === "aes-cbc" ? 16 : 0);
  if (blob.length < min) throw new CiphertextFormatError("ciphertext is truncated");
  return { mode, version: blob.readUInt32BE(4) };
}

/** Throws (from node:crypto) when the tag, padding, key or context do not match. */
export function decryptBlob(blob: Buffer, key: Buffer, context: Buffer | null): Buffer {
  const { mode } = parseHeader(blob);
  const ivEnd = HEADER + ivLength(mode);
  const iv = blob.subarray(HEADER, ivEnd);
  if (mode === "aes-gcm") {
    const d = createDecipheriv(nodeCipher(mode, key.length) as "aes-256-gcm", key, iv);
    d.setAAD(context ? Buffer.concat([blob.subarray(0, HEADER), context]) : blob.subarray(0, HEADER));
    d.setAuthTag(blob.subarray(blob.length - TAG));
    return Buffer.concat([d.update(blob.subarray(ivEnd, blob.length - TAG)), d.final()]);
  }
  const d = createDecipheriv(nodeCipher(mode, key.length), key, iv);
  return Buffer.concat([d.update(blob.subarray(ivEnd)), d.final()]);
}
