// Shared by the KMIP cryptographic operations: Cryptographic Parameters, algorithm names, and key loading through the key-use policy.
import type { KeyObject } from "node:crypto";
import { checkKeyLimits } from "../../crypto/key-limits.js";
import { fail } from "../../errors/registry.js";
import type { KeyRow, ObjectRow } from "../../keys/key-model.js";
import type { ObjectAttributes, Unwrapped } from "../../keys/key-service.js";
import type { UsageBit } from "../../keys/usage.js";
import { getStored } from "../attributes.js";
import { enumName } from "../codec/names.js";
import { Enum } from "../codec/tables.js";
import { find, ItemType, Tag, type TtlvItem } from "../codec/ttlv.js";
import { type KmipCall, targetId } from "../operation.js";
import { toPrivateKey, toPublicKey } from "./common.js";

/** The fields of a Cryptographic Parameters structure (KMIP 1.4 §3.6, 2.1 §4.7) the operations read. */
export interface CryptoParams {
  mode?: number;
  padding?: number;
  hash?: number;
  signatureAlgorithm?: number;
  algorithm?: number;
  randomIV?: boolean;
  /** Bits. */
  ivLength?: number;
  /** Bytes. */
  tagLength?: number;
  /** Bits. */
  fixedFieldLength?: number;
  /** Bits. */
  invocationFieldLength?: number;
  /** Bits. */
  counterLength?: number;
  initialCounterValue?: number;
  /** Bytes. */
  saltLength?: number;
  maskGenerator?: number;
  mgfHash?: number;
  pSource?: Buffer;
}

function field(p: TtlvItem, tag: number, type: ItemType, what: string): TtlvItem | undefined {
  const it = find(p, tag);
  if (it && it.type !== type) fail("validation", { detail: `Cryptographic Parameters ${what} has the wrong type` });
  return it;
}

const enumField = (p: TtlvItem, tag: number, what: string) => field(p, tag, ItemType.Enumeration, what)?.value as number | undefined;
const intField = (p: TtlvItem, tag: number, what: string) => field(p, tag, ItemType.Integer, what)?.value as number | undefined;

/** Reads a Cryptographic Parameters structure; undefined when there is none. */
export function parseParams(item: TtlvItem | undefined): CryptoParams | undefined {
  if (!item) return undefined;
  if (item.type !== ItemType.Structure) return fail("validation", { detail: "Cryptographic Parameters must be a Structure" });
  const rnd = field(item, Tag.RandomIV, ItemType.Boolean, "Random IV");
  const ps = field(item, Tag.PSource, ItemType.ByteString, "P Source");
  return {
    mode: enumField(item, Tag.BlockCipherMode, "Block Cipher Mode"),
    padding: enumField(item, Tag.PaddingMethod, "Padding Method"),
    hash: enumField(item, Tag.HashingAlgorithm, "Hashing Algorithm"),
    signatureAlgorithm: enumField(item, Tag.DigitalSignatureAlgorithm, "Digital Signature Algorithm"),
    algorithm: enumField(item, Tag.CryptographicAlgorithm, "Cryptographic Algorithm"),
    randomIV: rnd ? (rnd.value as boolean) : undefined,
    ivLength: intField(item, Tag.IVLength, "IV Length"),
    tagLength: intField(item, Tag.TagLength, "Tag Length"),
    fixedFieldLength: intField(item, Tag.FixedFieldLength, "Fixed Field Length"),
    invocationFieldLength: intField(item, Tag.InvocationFieldLength, "Invocation Field Length"),
    counterLength: intField(item, Tag.CounterLength, "Counter Length"),
    initialCounterValue: intField(item, Tag.InitialCounterValue, "Initial Counter Value"),
    saltLength: intField(item, Tag.SaltLength, "Salt Length"),
    maskGenerator: enumField(item, Tag.MaskGenerator, "Mask Generator"),
    mgfHash: enumField(item, Tag.MaskGeneratorHashingAlgorithm, "Mask Generator Hashing Algorithm"),
    pSource: ps ? (ps.value as Buffer) : undefined,
  };
}

export const attributesOf = (o: ObjectRow): ObjectAttributes => JSON.parse(o.attributes) as ObjectAttributes;

/**
 * The parameters of a request: "The Cryptographic Parameters … corresponding to the particular …
 * method requested. If not present then the server SHALL use the Cryptographic Parameters
 * attribute associated with the managed object" (the first one, as 1.x lets it repeat). With
 * neither, operations that need a parameter fail ("the algorithm requires parameters").
 */
export function effectiveParams(c: KmipCall, obj: ObjectRow | null): CryptoParams {
  const fromRequest = parseParams(find(c.payload, Tag.CryptographicParameters));
  if (fromRequest) return fromRequest;
  if (!obj) return {};
  return parseParams(getStored(attributesOf(obj), "Cryptographic Parameters")[0]) ?? {};
}

export const name = (tag: number, v: number): string => enumName(tag, v);

const H = Enum.HashingAlgorithm;
const HASHES: Record<number, string> = {
  [H.SHA_1]: "sha1",
  [H.SHA_224]: "sha224",
  [H.SHA_256]: "sha256",
  [H.SHA_384]: "sha384",
  [H.SHA_512]: "sha512",
  [H.SHA_512_224]: "sha512-224",
  [H.SHA_512_256]: "sha512-256",
  [H.SHA3_224]: "sha3-224",
  [H.SHA3_256]: "sha3-256",
  [H.SHA3_384]: "sha3-384",
  [H.SHA3_512]: "sha3-512",
};

/** node:crypto digest name of a KMIP Hashing Algorithm (MD2/MD4/MD5 and the like are refused). */
export function hashName(v: number | undefined, what = "Hashing Algorithm"): string {
  if (v === undefined) return fail("crypto_params", { detail: `${what} is required` });
  const n = HASHES[v];
  if (!n) return fail("not_supported", { detail: `${what} ${name(Tag.HashingAlgorithm, v)} is not supported` });
  return n;
}

// ---- data fields ----

export function optionalBytes(c: KmipCall, tag: number, what: string): Buffer | undefined {
  const it = find(c.payload, tag);
  if (!it) return undefined;
  if (it.type !== ItemType.ByteString) return fail("validation", { detail: `${what} must be a Byte String` });
  return it.value;
}

export function requiredBytes(c: KmipCall, tag: number, what: string): Buffer {
  return optionalBytes(c, tag, what) ?? fail("validation", { detail: `${what} missing` });
}

export function optionalBool(c: KmipCall, tag: number, what: string): boolean | undefined {
  const it = find(c.payload, tag);
  if (!it) return undefined;
  if (it.type !== ItemType.Boolean) return fail("validation", { detail: `${what} must be a Boolean` });
  return it.value;
}

// ---- keys ----

export type Purpose = "protect" | "process";

export interface UsableKey {
  id: string;
  obj: ObjectRow;
  key: KeyRow;
  unwrapped: Unwrapped | null;
}

/**
 * Loads the target object of a cryptographic operation for `purpose` with `usage`: every rule (policy, usage mask,
 * state, Protect Stop / Process Start Dates, Usage Limits) is decided by the key-use policy (src/keys/key-use.ts),
 * the same one REST calls. A protect use is charged against the Usage Limits with the bytes of Data it processes.
 */
export async function useKey(
  c: KmipCall,
  right: "encrypt" | "decrypt" | "sign" | "verify" | "hmac",
  usage: UsageBit,
  purpose: Purpose,
): Promise<UsableKey> {
  const id = targetId(c);
  const { obj, key, unwrapped } = await c.services.keyUse.object(c.auth, c.op, id, { purpose, right, usage });
  if (purpose === "protect") {
    const data = find(c.payload, Tag.Data);
    await c.services.keyUse.charge(c.op, obj, data && data.type === ItemType.ByteString ? data.value.length : 0);
  }
  return { id, obj, key, unwrapped };
}

/** Key family of a Strongroom type ("aes-256" → "aes", "chacha20poly1305-256" → "chacha20poly1305"). */
export const familyOf = (type: string): string => type.split("-")[0];

export function wrongKey(u: UsableKey, operation: string): never {
  return fail("wrong_key_type", { name: u.key.name, type: u.obj.type, operation });
}

/** The raw secret of a symmetric key (not secret data, opaque objects or key pairs). */
export function symmetricSecret(u: UsableKey, operation: string): Buffer {
  if (u.obj.object_type !== "SymmetricKey" || !u.unwrapped) return wrongKey(u, operation);
  return u.unwrapped.secret;
}

/** The public half of an RSA/EC key pair or public key object. */
export function publicKeyOf(u: UsableKey, operation: string): KeyObject {
  if ((u.obj.object_type !== "PublicKey" && u.obj.object_type !== "PrivateKey") || !u.obj.public_key) return wrongKey(u, operation);
  return usable(toPublicKey(u.obj.public_key));
}

export function privateKeyOf(u: UsableKey, operation: string): KeyObject {
  if (u.obj.object_type !== "PrivateKey" || !u.unwrapped) return wrongKey(u, operation);
  return usable(u.unwrapped.privateKey ?? toPrivateKey(u.unwrapped.secret));
}

/** A key stored before the limits of key-limits.ts existed is kept and returned, but not used for cryptography. */
function usable(k: KeyObject): KeyObject {
  checkKeyLimits(k, "registered");
  return k;
}
