// The self-describing ciphertext of `encrypt`: format marker, algorithm, key version, nonce/IV, ciphertext, tag.
import { randomIv } from "./random-pool.js";
import { type SymParams, symmetricOneShot } from "./sym-cipher.js";

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
/** The shared AES primitive (sym-cipher.ts, as KMIP Encrypt runs it): GCM with a 16-byte tag, CBC with PKCS#5 padding, CTR. */
const PARAMS: Record<CipherMode, SymParams> = {
  "aes-gcm": { cipher: "aes", mode: "gcm", tagLength: TAG },
  "aes-cbc": { cipher: "aes", mode: "cbc", padding: "pkcs5" },
  "aes-ctr": { cipher: "aes", mode: "ctr" },
};

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
  const aad = mode === "aes-gcm" ? (context ? Buffer.concat([header, context]) : header) : undefined;
  const r = symmetricOneShot({ dir: "encrypt", key, params: PARAMS[mode], iv, aad }, plaintext);
  return Buffer.concat(r.tag ? [header, iv, r.data, r.tag] : [header, iv, r.data]);
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

/** Throws (decrypt_failed) when the tag, padding, key or context do not match. */
export function decryptBlob(blob: Buffer, key: Buffer, context: Buffer | null): Buffer {
  const { mode } = parseHeader(blob);
  const ivEnd = HEADER + ivLength(mode);
  const iv = blob.subarray(HEADER, ivEnd);
  if (mode === "aes-gcm") {
    const aad = context ? Buffer.concat([blob.subarray(0, HEADER), context]) : blob.subarray(0, HEADER);
    const tag = blob.subarray(blob.length - TAG);
    return symmetricOneShot({ dir: "decrypt", key, params: PARAMS[mode], iv, aad, tag }, blob.subarray(ivEnd, blob.length - TAG)).data;
  }
  return symmetricOneShot({ dir: "decrypt", key, params: PARAMS[mode], iv }, blob.subarray(ivEnd)).data;
}
