// Parses untrusted PKCS#10 certificate signing requests (RFC 2986) with @peculiar/asn1-csr and verifies their self-signature.
import { constants, createPublicKey, type KeyObject, verify } from "node:crypto";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { RsaSaPssParams } from "@peculiar/asn1-rsa";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, type Name as AsnName, Extensions } from "@peculiar/asn1-x509";
import { checkKeyLimits, precheckKeyDer } from "../crypto/key-limits.js";
import { isStrongroomError } from "../errors/registry.js";
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
/** PKCS#9 attributes that ask the CA for something; the request body alone decides the certificate, so they are refused. */
const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7";
const EXTENSION_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries(OID)
    .filter(([, oid]) => oid.startsWith("2.5.29."))
    .map(([name, oid]) => [oid, name]),
);

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
  const blocks = pemBlocks(pem, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  if (blocks.length !== 1) throw new Error(`expected one CERTIFICATE REQUEST PEM block, found ${blocks.length}`);
  const der = blocks[0];

  let csr: CertificationRequest;
  try {
    csr = AsnConvert.parse(der, CertificationRequest);
  } catch (e) {
    // asn1js reports byte-level problems ("offset"), the schema layer reports a structure that is not a CSR.
    const text = e instanceof Error ? e.message : "";
    throw new Error(/schema|required|not equal|choice/i.test(text) ? "not a CertificationRequest structure" : "DER: malformed encoding");
  }
  // The parser reads BER; a CSR is DER. Re-encoding must give the input back byte for byte, which refuses trailing
  // data, non-minimal lengths and other alternative encodings of the same request.
  if (!Buffer.from(AsnConvert.serialize(csr)).equals(der)) throw new Error("DER: not in canonical DER form");
  const info = csr.certificationRequestInfo;
  if (info.version !== 0) throw new Error("unsupported version");

  const publicKey = importPublicKey(Buffer.from(AsnConvert.serialize(info.subjectPKInfo)));
  const params = verifyParams(csr.signatureAlgorithm, publicKey);
  const verifyKey =
    params.pssSaltLength === undefined
      ? publicKey
      : { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.pssSaltLength };
  // The signed bytes exactly as received (the parser keeps them), not a re-encoding.
  const signed = csr.certificationRequestInfoRaw;
  if (!signed) throw new Error("not a CertificationRequest structure");
  let valid = false;
  try {
    valid = verify(params.hash, Buffer.from(signed), verifyKey, Buffer.from(csr.signature));
  } catch {
    valid = false; // e.g. a malformed ECDSA signature
  }
  if (!valid) throw new Error("signature verification failed");
  // Only interpret the subject and attributes once the signature is known to cover them.
  refuseRequests(info.attributes ?? []);
  return { subject: parseName(info.subject), publicKey };
}

/**
 * DER payloads of every PEM block carrying one of `labels`, in order. Text between blocks is ignored (RFC 7468
 * section 5); RFC 1421 headers are not supported. The body class excludes '-', so each match attempt scans at
 * most to the next dash (no ReDoS); the caller has bounded the input size.
 */
function pemBlocks(pem: string, labels: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*)-----END ([A-Z0-9 ]+)-----/g)) {
    if (m[1] !== m[3] || !labels.includes(m[1])) continue;
    const b64 = m[2].replace(/\s+/g, "");
    if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new Error(`PEM: malformed base64 in ${m[1]}`);
    out.push(Buffer.from(b64, "base64"));
  }
  return out;
}

function importPublicKey(spki: Buffer): KeyObject {
  let key: KeyObject;
  try {
    // Sized before OpenSSL reads it (key-limits.ts: an oversized key poisons the thread's OpenSSL error queue).
    precheckKeyDer(spki, "spki", "certificate");
    key = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (e) {
    if (isStrongroomError(e)) throw new Error(String(e.params.detail));
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

/** DER NULL: the only parameters the PKCS#1 v1.5 signature and digest OIDs may carry (RFC 4055). */
const isNull = (p: ArrayBuffer): boolean => p.byteLength === 2 && Buffer.from(p).equals(Buffer.from([0x05, 0x00]));

function verifyParams(algorithm: AlgorithmIdentifier, key: KeyObject): { hash: Hash; pssSaltLength?: number } {
  const { algorithm: oid, parameters: params } = algorithm;
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
    if (!params) throw new Error("malformed RSASSA-PSS-params");
    return pssParams(params);
  }
  throw new Error(`unsupported signature algorithm ${oid}`);
}

/**
 * RSASSA-PSS-params (RFC 4055 section 3.1). The SHA-1 defaults are rejected, so hashAlgorithm must be present;
 * MGF1 must use the same hash (OpenSSL's behaviour in crypto.verify).
 */
function pssParams(params: ArrayBuffer): { hash: Hash; pssSaltLength: number } {
  let pss: RsaSaPssParams;
  try {
    pss = AsnConvert.parse(params, RsaSaPssParams);
  } catch {
    throw new Error("malformed RSASSA-PSS-params");
  }
  const hash = digest(pss.hashAlgorithm);
  if (pss.maskGenAlgorithm.algorithm !== OID.mgf1 || !pss.maskGenAlgorithm.parameters) throw new Error("unsupported PSS mask generation");
  let mgfHash: AlgorithmIdentifier;
  try {
    mgfHash = AsnConvert.parse(pss.maskGenAlgorithm.parameters, AlgorithmIdentifier);
  } catch {
    throw new Error("unsupported PSS mask generation");
  }
  if (digest(mgfHash) !== hash) throw new Error("unsupported PSS mask generation");
  const salt = pss.saltLength;
  if (!Number.isSafeInteger(salt) || salt < 0 || salt > 1024) throw new Error("unsupported PSS salt length");
  if (pss.trailerField !== 1) throw new Error("unsupported PSS trailer");
  return { hash, pssSaltLength: salt };
}

function digest(algorithm: AlgorithmIdentifier): Hash {
  const hash = DIGESTS.get(algorithm.algorithm);
  if (!hash) throw new Error("PSS with a hash other than SHA-256/384/512 (e.g. the default SHA-1) is not supported");
  if (algorithm.parameters && !isNull(algorithm.parameters)) throw new Error("unsupported PSS hash algorithm");
  return hash;
}

/**
 * The REST request body alone decides the certificate (role, CN, OU, validity; the profile sets key usages and
 * EKU): a CSR that asks for extensions (CA:true, extra SANs, other usages) or carries a challenge password would
 * be asking for something the server would silently not do, so it is refused with what it asked for.
 */
function refuseRequests(attributes: Iterable<{ type: string; values: ArrayBuffer[] }>): void {
  for (const attribute of attributes) {
    if (attribute.type === CHALLENGE_PASSWORD) throw new Error("challengePassword is not supported (revocation is by an admin)");
    if (attribute.type !== EXTENSION_REQUEST) continue; // informational attributes (e.g. unstructuredName) ask for nothing
    const requested: string[] = [];
    for (const value of attribute.values) {
      let extensions: Extensions;
      try {
        extensions = AsnConvert.parse(value, Extensions);
      } catch {
        throw new Error("malformed extensionRequest");
      }
      for (const e of extensions) requested.push(EXTENSION_NAMES.get(e.extnID) ?? e.extnID);
    }
    if (requested.length > 0) {
      const list = requested.slice(0, 8).join(", ") + (requested.length > 8 ? ", …" : "");
      throw new Error(
        `the CSR requests extensions (${list}); the certificate profile comes from the request body and the role: remove them`,
      );
    }
  }
}

function parseName(name: AsnName): Partial<Name> {
  const out: Partial<Name> = {};
  for (const rdn of name) {
    if (rdn.length === 0) throw new Error("empty RelativeDistinguishedName");
    for (const attribute of rdn) {
      const field = NAME_FIELDS.get(attribute.type);
      if (!field) continue;
      // A repeated CN/OU/O would make the requested identity ambiguous.
      if (out[field] !== undefined) throw new Error(`subject has more than one ${field.toUpperCase()}`);
      const v = attribute.value;
      // The string types RFC 5280 names for these attributes (plus IA5String); re-encoding has checked their content.
      const text = v.utf8String ?? v.printableString ?? v.ia5String ?? v.bmpString;
      if (text === undefined) throw new Error(`subject ${field.toUpperCase()}: unsupported string type`);
      out[field] = text;
    }
  }
  return out;
}
