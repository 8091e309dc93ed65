// Parses untrusted PKCS#10 certificate signing requests (RFC 2986) and verifies their self-signature.
import { constants, createPublicKey, type KeyObject, verify } from "node:crypto";
import { checkKeyLimits } from "../crypto/key-limits.js";
import { isStrongroomError } from "../errors/registry.js";
import { type DerNode, decodeDer, expectTag, pemDecodeAll, readBitString, readInteger, readOid, readString, Tag } from "./der.js";
import { type Name, OID } from "./x509.js";

export const MAX_CSR_PEM_BYTES = 64 * 1024;

export interface ParsedCsr {
  /** CN, OU and O from the requested subject; other attributes are ignored. */
  subject: Partial<Name>;
  publicKey: KeyObject;
}

type Hash = "sha256" | "sha384" | "sha512";

const RSA_PKCS1: ReadonlyMap<string, Hash> = new Map([
  [OID.sha256WithRSAEncryption, "sha256"],
  [OID.sha384WithRSAEncryption, "sha384"],
  [OID.sha512WithRSAEncryption, "sha512"],
]);
const ECDSA: ReadonlyMap<string, Hash> = new Map([
  [OID.ecdsaWithSHA256, "sha256"],
  [OID.ecdsaWithSHA384, "sha384"],
  [OID.ecdsaWithSHA512, "sha512"],
]);
const DIGESTS: ReadonlyMap<string, Hash> = new Map([
  [OID.sha256, "sha256"],
  [OID.sha384, "sha384"],
  [OID.sha512, "sha512"],
]);
const NAME_FIELDS: ReadonlyMap<string, keyof Name> = new Map([
  [OID.commonName, "cn"],
  [OID.organizationalUnitName, "ou"],
  [OID.organizationName, "o"],
]);

/** Parses a PEM CSR, verifies its signature and returns the requested subject and key; throws Error on any problem. */
export function parseCsr(pem: string): ParsedCsr {
  try {
    return parse(pem);
  } catch (err) {
    throw new Error(`invalid CSR: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parse(pem: string): ParsedCsr {
  if (typeof pem !== "string") throw new Error("input must be a PEM string");
  if (Buffer.byteLength(pem, "utf8") > MAX_CSR_PEM_BYTES) throw new Error("PEM is larger than 64 KiB");
  const blocks = pemDecodeAll(pem, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  if (blocks.length !== 1) throw new Error(`expected one CERTIFICATE REQUEST PEM block, found ${blocks.length}`);

  const [info, signatureAlgorithm, signature] = sequence(decodeDer(blocks[0]), 3, 3, "CertificationRequest");
  const [version, subject, spki, attributes = undefined] = sequence(info, 3, 4, "CertificationRequestInfo");
  if (readInteger(version, "version") !== 0n) throw new Error("unsupported version");
  // attributes [0] IMPLICIT SET OF Attribute: covered by the signature, otherwise unused here.
  if (attributes && !(attributes.class === "context" && attributes.tag === 0 && attributes.constructed)) {
    throw new Error("malformed attributes");
  }

  const publicKey = importPublicKey(spki);
  const params = verifyParams(signatureAlgorithm, publicKey);
  const sig = readBitString(signature, "signature");
  if (sig.unusedBits !== 0) throw new Error("malformed signature");
  const verifyKey =
    params.pssSaltLength === undefined
      ? publicKey
      : { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.pssSaltLength };
  let valid = false;
  try {
    valid = verify(params.hash, info.raw, verifyKey, sig.bytes);
  } catch {
    valid = false; // e.g. a malformed ECDSA signature
  }
  if (!valid) throw new Error("signature verification failed");
  // Only interpret the subject once the signature is known to cover it.
  return { subject: parseName(subject), publicKey };
}

/** Children of a SEQUENCE with min..max fields; indexes past min may be undefined. */
function sequence(node: DerNode | undefined, min: number, max: number, what: string): DerNode[] {
  const { children } = expectTag(node, Tag.SEQUENCE, what);
  if (children.length < min || children.length > max) throw new Error(`${what}: unexpected number of fields`);
  return children;
}

function importPublicKey(spki: DerNode | undefined): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: expectTag(spki, Tag.SEQUENCE, "subjectPKInfo").raw, format: "der", type: "spki" });
  } catch {
    throw new Error("unreadable subject public key");
  }
  // The one rule for key sizes (src/crypto/key-limits.ts); its upper bound keeps verification cheap on untrusted input.
  try {
    checkKeyLimits(key, "certificate");
  } catch (e) {
    throw new Error(isStrongroomError(e) ? String(e.params.detail) : "key not accepted");
  }
  return key;
}

function verifyParams(algorithm: DerNode | undefined, key: KeyObject): { hash: Hash; pssSaltLength?: number } {
  const [oidNode, params = undefined] = sequence(algorithm, 1, 2, "signatureAlgorithm");
  const oid = readOid(oidNode, "signatureAlgorithm");
  const keyType = key.asymmetricKeyType;
  const rsaHash = RSA_PKCS1.get(oid);
  if (rsaHash) {
    if (keyType !== "rsa") throw new Error("signature algorithm does not match key type");
    if (params && !isNull(params)) throw new Error("unexpected signature algorithm parameters");
    return { hash: rsaHash };
  }
  const ecHash = ECDSA.get(oid);
  if (ecHash) {
    if (keyType !== "ec") throw new Error("signature algorithm does not match key type");
    if (params) throw new Error("unexpected signature algorithm parameters"); // RFC 5758 3.2
    return { hash: ecHash };
  }
  if (oid === OID.rsassaPss) {
    if (keyType !== "rsa") throw new Error("signature algorithm does not match key type");
    return pssParams(params);
  }
  throw new Error(`unsupported signature algorithm ${oid}`);
}

/**
 * RSASSA-PSS-params (RFC 4055 section 3.1). The SHA-1 defaults are rejected, so hashAlgorithm
 * must be present; MGF1 must use the same hash (OpenSSL's behaviour in crypto.verify).
 */
function pssParams(params: DerNode | undefined): { hash: Hash; pssSaltLength: number } {
  const fields = new Map<number, DerNode>();
  for (const field of expectTag(params, Tag.SEQUENCE, "RSASSA-PSS-params").children) {
    if (field.class !== "context" || !field.constructed || field.children.length !== 1 || field.tag > 3) {
      throw new Error("malformed RSASSA-PSS-params");
    }
    if ([...fields.keys()].some((tag) => tag >= field.tag)) throw new Error("malformed RSASSA-PSS-params");
    fields.set(field.tag, field.children[0]);
  }
  const hash = digest(fields.get(0));
  const [mgfOid, mgfHash] = sequence(fields.get(1), 2, 2, "maskGenAlgorithm");
  if (readOid(mgfOid) !== OID.mgf1 || digest(mgfHash) !== hash) throw new Error("unsupported PSS mask generation");
  const salt = fields.has(2) ? readInteger(fields.get(2), "saltLength") : 20n;
  if (salt < 0n || salt > 1024n) throw new Error("unsupported PSS salt length");
  if (fields.has(3) && readInteger(fields.get(3), "trailerField") !== 1n) throw new Error("unsupported PSS trailer");
  return { hash, pssSaltLength: Number(salt) };
}

function digest(algorithm: DerNode | undefined): Hash {
  if (!algorithm) throw new Error("PSS with the default SHA-1 hash is not supported");
  const [oid, params = undefined] = sequence(algorithm, 1, 2, "hashAlgorithm");
  const hash = DIGESTS.get(readOid(oid));
  if (!hash || (params && !isNull(params))) throw new Error("unsupported PSS hash algorithm");
  return hash;
}

function isNull(node: DerNode): boolean {
  return node.class === "universal" && node.tag === Tag.NULL && node.value.length === 0;
}

function parseName(name: DerNode | undefined): Partial<Name> {
  const out: Partial<Name> = {};
  for (const rdn of expectTag(name, Tag.SEQUENCE, "subject").children) {
    const attributes = expectTag(rdn, Tag.SET, "RelativeDistinguishedName").children;
    if (attributes.length === 0) throw new Error("empty RelativeDistinguishedName");
    for (const attribute of attributes) {
      const [type, value] = sequence(attribute, 2, 2, "AttributeTypeAndValue");
      const field = NAME_FIELDS.get(readOid(type));
      if (!field) continue;
      // A repeated CN/OU/O would make the requested identity ambiguous.
      if (out[field] !== undefined) throw new Error(`subject has more than one ${field.toUpperCase()}`);
      out[field] = readString(value, `subject ${field.toUpperCase()}`);
    }
  }
  return out;
}
