// Symmetric ciphers with plain parameters over node:crypto: AES (ECB, CBC, CFB, OFB, CTR, GCM, CCM, KW, KWP), 3DES, ChaCha20(-Poly1305).
import { type CipherCCM, type CipherGCM, createCipheriv, createDecipheriv, type DecipherCCM, type DecipherGCM } from "node:crypto";
import { fail, isStrongroomError } from "../errors/registry.js";
import { randomIv } from "./random-pool.js";

export type Direction = "encrypt" | "decrypt";

export type SymCipherName = "aes" | "des3" | "chacha20" | "chacha20-poly1305";
/** Block cipher modes; kw and kwp are AES Key Wrap (RFC 3394) and Key Wrap with Padding (RFC 5649). */
export type SymMode = "ecb" | "cbc" | "cfb" | "ofb" | "ctr" | "gcm" | "ccm" | "kw" | "kwp";

/** What a protocol asks of a symmetric cipher, in its own units (bits or bytes as named). */
export interface SymParams {
  cipher: SymCipherName;
  /** Required for AES and 3DES; ChaCha20 has none. */
  mode?: SymMode;
  /** ECB and CBC: PKCS#5 padding, or none (the default: the data must fill whole blocks). */
  padding?: "none" | "pkcs5";
  /** Encryption: the server generates the IV (and then the caller must not send one). */
  randomIV?: boolean;
  /** Bits. */
  ivLength?: number;
  /** Bytes. */
  tagLength?: number;
  /** Bits: GCM's fixed field of a deterministic IV (with invocationFieldLength, its length). */
  fixedFieldLength?: number;
  /** Bits. */
  invocationFieldLength?: number;
  /** Bits: CTR's counter field (with a nonce shorter than the block). */
  counterLength?: number;
  /** CTR (after a shorter nonce) and ChaCha20: the first counter value. */
  initialCounterValue?: number;
}

/** One encryption or decryption, run in one call or over several parts. */
export interface SymOp {
  /** The IV/Counter/Nonce used (null when the mode has none). */
  iv: Buffer | null;
  /** True when the server generated the IV: "the server … SHALL return it" in IV/Counter/Nonce. */
  generated: boolean;
  /** Whether the mode can run over several parts (key wrap and CCM need all data at once). */
  streamable: boolean;
  aead: boolean;
  update(data: Buffer): Buffer;
  /** Completes the operation; `tag` is the Authenticated Encryption Tag when decrypting AEAD. */
  final(tag?: Buffer): { data: Buffer; tag?: Buffer };
  /** Drops the cipher state (a multi-part operation that will not be finished). */
  dispose(): void;
}

export interface SymInput {
  dir: Direction;
  key: Buffer;
  params: SymParams;
  iv?: Buffer;
  aad?: Buffer;
  /** Decrypt: the Authenticated Encryption Tag sent with the first part (it may also come with the last). */
  tag?: Buffer;
  /** One-shot calls pass the whole data so that CCM can be sized and block alignment checked early. */
  totalLength?: number;
}

const badParams = (detail: string): never => fail("crypto_params", { detail });
const unsupported = (detail: string): never => fail("not_supported", { detail });

/**
 * The IV for a mode that needs one. "Random IV: If TRUE, then the server SHALL generate a random IV";
 * an encryption without an IV gets a generated one too (returned to the client), while a decryption
 * without one fails: the server does not store IVs.
 */
function ivFor(s: SymInput, defaultBytes: number, valid: (n: number) => boolean, what: string): { iv: Buffer; generated: boolean } {
  const p = s.params;
  const wanted =
    p.ivLength !== undefined
      ? p.ivLength / 8
      : p.fixedFieldLength !== undefined && p.invocationFieldLength !== undefined
        ? (p.fixedFieldLength + p.invocationFieldLength) / 8
        : undefined;
  if (wanted !== undefined && (!Number.isInteger(wanted) || !valid(wanted)))
    badParams(`IV Length ${p.ivLength ?? wanted * 8} bits is not valid for ${what}`);
  if (s.iv) {
    if (s.dir === "encrypt" && p.randomIV) badParams("Random IV is set, so the server generates the IV: omit IV/Counter/Nonce");
    if (!valid(s.iv.length) || (wanted !== undefined && s.iv.length !== wanted))
      badParams(`IV/Counter/Nonce of ${s.iv.length} bytes is not valid for ${what}`);
    return { iv: s.iv, generated: false };
  }
  if (s.dir === "decrypt") return fail("missing_iv");
  return { iv: randomIv(wanted ?? defaultBytes), generated: true };
}

function beCounter(value: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let v = BigInt(value);
  for (let i = bytes - 1; i >= 0 && v > 0n; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

function leCounter(value: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let v = BigInt(value);
  for (let i = 0; i < bytes && v > 0n; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

const GCM_TAGS = new Set([4, 8, 12, 13, 14, 15, 16]);
const CCM_TAGS = new Set([4, 6, 8, 10, 12, 14, 16]);

/** Tag length in bytes: Tag Length, else the tag the client sent, else 16. */
function tagLengthFor(s: SymInput, valid: (n: number) => boolean, what: string): number {
  const n = s.params.tagLength ?? (s.dir === "decrypt" && s.tag ? s.tag.length : 16);
  if (!Number.isInteger(n) || !valid(n)) fail("invalid_tag_length", { detail: `Tag Length ${n} is not valid for ${what}` });
  if (s.dir === "decrypt" && s.tag && s.tag.length !== n) badParams(`the Authenticated Encryption Tag is not ${n} bytes long`);
  return n;
}

type NodeCipher = ReturnType<typeof createCipheriv> | ReturnType<typeof createDecipheriv>;

/** Wraps a node cipher as a SymOp; errors of the primitive become KMIP errors without their text. */
function wrapNode(
  s: SymInput,
  c: NodeCipher,
  opts: { iv: Buffer | null; generated: boolean; streamable: boolean; aead: boolean; blockPadNone?: number; tagPreset?: boolean },
): SymOp {
  let tag = s.tag;
  const cryptoError = (e: unknown): never => {
    if (isStrongroomError(e)) throw e;
    if (s.dir === "decrypt") return fail("decrypt_failed");
    if (opts.blockPadNone) return badParams(`without padding the data must be a multiple of ${opts.blockPadNone} bytes`);
    return fail("crypto_failed", { detail: "encryption failed" });
  };
  return {
    iv: opts.iv,
    generated: opts.generated,
    streamable: opts.streamable,
    aead: opts.aead,
    update(data) {
      try {
        return c.update(data);
      } catch (e) {
        return cryptoError(e);
      }
    },
    final(lastTag) {
      if (lastTag) tag = lastTag;
      try {
        if (opts.aead && s.dir === "decrypt" && !opts.tagPreset) {
          if (!tag) badParams("Authenticated Encryption Tag missing");
          (c as DecipherGCM).setAuthTag(tag as Buffer);
        }
        const out = c.final();
        return { data: out, tag: opts.aead && s.dir === "encrypt" ? (c as CipherGCM).getAuthTag() : undefined };
      } catch (e) {
        return cryptoError(e);
      }
    },
    dispose() {
      // Finishing releases OpenSSL's context; a half-used cipher is simply dropped.
    },
  };
}

function create(s: SymInput, alg: string, key: Buffer, iv: Buffer | null, options?: { authTagLength: number }): NodeCipher {
  try {
    return s.dir === "encrypt" ? createCipheriv(alg, key, iv, options as undefined) : createDecipheriv(alg, key, iv, options as undefined);
  } catch {
    return badParams(`the key or IV does not fit ${alg}`);
  }
}

function blockMode(s: SymInput, fam: "aes" | "des3", mode: SymMode): SymOp {
  const p = s.params;
  const block = fam === "aes" ? 16 : 8;
  const bits = s.key.length * 8;
  if (fam === "aes" && ![128, 192, 256].includes(bits)) badParams(`an AES key must be 128, 192 or 256 bits, not ${bits}`);
  if (fam === "des3" && s.key.length !== 24 && s.key.length !== 16) badParams("a Triple DES key must be 16 or 24 bytes");
  const prefix = fam === "aes" ? `aes-${bits}` : s.key.length === 24 ? "des-ede3" : "des-ede";
  const pad = (): { none: boolean } => ({ none: (p.padding ?? "none") === "none" });
  const aligned = (none: boolean) => {
    if (none && s.totalLength !== undefined && s.totalLength % block !== 0)
      badParams(`without padding the data must be a multiple of ${block} bytes`);
  };
  switch (mode) {
    case "ecb": {
      const { none } = pad();
      aligned(none);
      const c = create(s, `${prefix}-ecb`, s.key, null);
      c.setAutoPadding(!none);
      return wrapNode(s, c, { iv: null, generated: false, streamable: true, aead: false, blockPadNone: none ? block : undefined });
    }
    case "cbc": {
      const { none } = pad();
      aligned(none);
      const { iv, generated } = ivFor(s, block, (n) => n === block, "CBC");
      const c = create(s, `${prefix}-cbc`, s.key, iv);
      c.setAutoPadding(!none);
      return wrapNode(s, c, { iv, generated, streamable: true, aead: false, blockPadNone: none ? block : undefined });
    }
    case "cfb":
    case "ofb": {
      const m = mode;
      const { iv, generated } = ivFor(s, block, (n) => n === block, m.toUpperCase());
      return wrapNode(s, create(s, `${prefix}-${m}`, s.key, iv), { iv, generated, streamable: true, aead: false });
    }
    case "ctr": {
      if (fam !== "aes") return unsupported("CTR mode is supported for AES only");
      // A full 16-byte IV is the initial counter block; a shorter one is a nonce followed by the
      // counter field, which starts at Initial Counter Value ("for [RFC3686] it is 1"), default 0.
      const { iv, generated } = ivFor(s, 16, (n) => n >= 1 && n <= 16, "CTR");
      if (p.counterLength !== undefined && (p.counterLength <= 0 || p.counterLength > 128 || p.counterLength % 8 !== 0))
        badParams("Counter Length must be 8..128 bits in whole bytes");
      const counterBytes = 16 - iv.length;
      if (p.counterLength !== undefined && iv.length < 16 && p.counterLength / 8 !== counterBytes)
        badParams("Counter Length does not match the nonce length");
      const block0 = iv.length === 16 ? iv : Buffer.concat([iv, beCounter(p.initialCounterValue ?? 0, counterBytes)]);
      return wrapNode(s, create(s, `${prefix}-ctr`, s.key, block0), { iv, generated, streamable: true, aead: false });
    }
    case "gcm": {
      if (fam !== "aes") return unsupported("GCM is supported for AES only");
      const tagLen = tagLengthFor(s, (n) => GCM_TAGS.has(n), "GCM (4, 8 or 12..16 bytes)");
      const { iv, generated } = ivFor(s, 12, (n) => n >= 1 && n <= 256, "GCM");
      const c = create(s, `${prefix}-gcm`, s.key, iv, { authTagLength: tagLen }) as CipherGCM | DecipherGCM;
      if (s.aad) c.setAAD(s.aad);
      return wrapNode(s, c, { iv, generated, streamable: true, aead: true });
    }
    case "ccm": {
      if (fam !== "aes") return unsupported("CCM is supported for AES only");
      if (s.totalLength === undefined) return fail("feature_not_supported", { detail: "CCM cannot be used in a multi-part operation" });
      const tagLen = tagLengthFor(s, (n) => CCM_TAGS.has(n), "CCM (4..16 bytes, even)");
      const { iv, generated } = ivFor(s, 12, (n) => n >= 7 && n <= 13, "CCM (a 7..13 byte nonce)");
      const c = create(s, `${prefix}-ccm`, s.key, iv, { authTagLength: tagLen }) as CipherCCM | DecipherCCM;
      if (s.dir === "decrypt") {
        if (!s.tag) badParams("Authenticated Encryption Tag missing");
        (c as DecipherCCM).setAuthTag(s.tag as Buffer);
      }
      c.setAAD(s.aad ?? Buffer.alloc(0), { plaintextLength: s.totalLength });
      // CCM processes the message in one update(); final() computes or verifies the tag.
      return wrapNode(s, c, { iv, generated, streamable: false, aead: true, tagPreset: true });
    }
    case "kw":
    case "kwp": {
      if (fam !== "aes") return unsupported("key wrap is supported for AES only");
      // PCI mode refuses KMIP's key-wrap decryption before this point (KeyUseService.refuseClearUnwrap, from cipher-op.ts).
      const padded = mode === "kwp";
      if (s.totalLength !== undefined && !padded) {
        const min = s.dir === "encrypt" ? 16 : 24;
        if (s.totalLength < min || s.totalLength % 8 !== 0)
          badParams(`RFC 3394 key wrap needs at least ${min} bytes in multiples of 8; use AES Key Wrap Padding`);
      }
      if (s.totalLength === undefined)
        return fail("feature_not_supported", { detail: "key wrap cannot be used in a multi-part operation" });
      // The IV is the RFC 3394 / RFC 5649 integrity check value; the standard one unless the client names another.
      const dflt = Buffer.from(padded ? "A65959A6" : "A6A6A6A6A6A6A6A6", "hex");
      const iv = s.iv ?? dflt;
      if (iv.length !== dflt.length) badParams(`the key wrap IV must be ${dflt.length} bytes`);
      const c = create(s, `id-aes${bits}-wrap${padded ? "-pad" : ""}`, s.key, iv);
      return wrapNode(s, c, { iv: null, generated: false, streamable: false, aead: false });
    }
  }
}

function chacha(s: SymInput, fam: "chacha20" | "chacha20-poly1305"): SymOp {
  if (s.key.length !== 32) badParams("a ChaCha20 key must be 256 bits");
  if (fam === "chacha20-poly1305") {
    const tagLen = tagLengthFor(s, (n) => n >= 4 && n <= 16, "ChaCha20-Poly1305 (4..16 bytes)");
    const { iv, generated } = ivFor(s, 12, (n) => n === 12, "ChaCha20-Poly1305 (a 12-byte nonce)");
    const c = create(s, "chacha20-poly1305", s.key, iv, { authTagLength: tagLen }) as CipherGCM | DecipherGCM;
    if (s.aad) c.setAAD(s.aad);
    return wrapNode(s, c, { iv, generated, streamable: true, aead: true });
  }
  // OpenSSL's ChaCha20 IV is the 16-byte counter||nonce block: an 8-byte nonce (original ChaCha20)
  // takes a 64-bit counter, a 12-byte nonce (RFC 8439) a 32-bit one, both little-endian.
  const { iv, generated } = ivFor(s, 12, (n) => n === 8 || n === 12 || n === 16, "ChaCha20 (an 8, 12 or 16-byte nonce)");
  const block0 = iv.length === 16 ? iv : Buffer.concat([leCounter(s.params.initialCounterValue ?? 0, 16 - iv.length), iv]);
  return wrapNode(s, create(s, "chacha20", s.key, block0), { iv, generated, streamable: true, aead: false });
}

/** Sets up an encryption or decryption with a symmetric key. */
export function symmetric(s: SymInput): SymOp {
  const { cipher, mode } = s.params;
  if (cipher === "chacha20" || cipher === "chacha20-poly1305") {
    if (mode !== undefined) badParams(`${cipher} takes no block cipher mode`);
    return chacha(s, cipher);
  }
  if (cipher !== "aes" && cipher !== "des3") return unsupported(`symmetric encryption with ${cipher} is not supported`);
  return blockMode(s, cipher, mode ?? badParams("a block cipher mode is required"));
}

/** Encrypts or decrypts `data` in one call: the output, the IV when it was generated, the tag of an AEAD encryption. */
export function symmetricOneShot(s: Omit<SymInput, "totalLength">, data: Buffer): { data: Buffer; iv: Buffer | null; tag?: Buffer } {
  const op = symmetric({ ...s, totalLength: data.length });
  const head = op.update(data);
  const f = op.final();
  return { data: head.length ? Buffer.concat([head, f.data]) : f.data, iv: op.iv, tag: f.tag };
}
