// Issues X.509 v3 certificates (RFC 5280) for Strongroom's built-in CA, signing with node:crypto keys.
import { createHash, type KeyObject, randomBytes, sign, verify } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import {
  decodeDer,
  derBitString,
  derBoolean,
  derExplicit,
  derIa5String,
  derImplicit,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUtf8String,
  expectTag,
  pemEncode,
  readBitString,
  Tag,
} from "./der.js";

export interface Name {
  cn: string;
  ou?: string;
  o?: string;
}

export type ExtKeyUsage = "serverAuth" | "clientAuth";

export interface CertificateSpec {
  /** Unsigned big-endian serial number; must be positive and encode in at most 20 octets. */
  serial: Buffer;
  subject: Name;
  issuer: Name;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  /** Issuer's private key: EC P-256, EC P-384 or RSA. */
  signingKey: KeyObject;
  /** Issuer's public key, for the Authority Key Identifier. */
  issuerPublicKey: KeyObject;
  isCA: boolean;
  extKeyUsage?: ExtKeyUsage[];
  dnsNames?: string[];
  ipAddresses?: string[];
}

export const OID = {
  commonName: "2.5.4.3",
  organizationName: "2.5.4.10",
  organizationalUnitName: "2.5.4.11",
  rsaEncryption: "1.2.840.113549.1.1.1",
  mgf1: "1.2.840.113549.1.1.8",
  rsassaPss: "1.2.840.113549.1.1.10",
  sha256WithRSAEncryption: "1.2.840.113549.1.1.11",
  sha384WithRSAEncryption: "1.2.840.113549.1.1.12",
  sha512WithRSAEncryption: "1.2.840.113549.1.1.13",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  ecdsaWithSHA384: "1.2.840.10045.4.3.3",
  ecdsaWithSHA512: "1.2.840.10045.4.3.4",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

// keyUsage bit positions (RFC 5280 4.2.1.3).
const KU = { digitalSignature: 0, keyEncipherment: 2, keyAgreement: 4, keyCertSign: 5, cRLSign: 6 } as const;

/** RFC 4514 string form, most specific RDN first, e.g. "CN=app,OU=apps,O=Acme". */
export function nameToString(name: Partial<Name>): string {
  const parts: string[] = [];
  if (name.cn !== undefined) parts.push(`CN=${escapeRdnValue(name.cn)}`);
  if (name.ou !== undefined) parts.push(`OU=${escapeRdnValue(name.ou)}`);
  if (name.o !== undefined) parts.push(`O=${escapeRdnValue(name.o)}`);
  return parts.join(",");
}

function escapeRdnValue(value: string): string {
  const chars = [...value];
  return chars
    .map((c, i) => {
      const special = '\\,+"<>;'.includes(c) || (i === 0 && (c === " " || c === "#")) || (i === chars.length - 1 && c === " ");
      return special ? `\\${c}` : c;
    })
    .join("");
}

/** 16 random bytes with the high bit cleared (positive INTEGER) and a non-zero first byte (fixed length). */
export function randomSerial(): Buffer {
  for (;;) {
    const serial = randomBytes(16);
    serial[0] &= 0x7f;
    if (serial[0] !== 0) return serial;
  }
}

export function createCertificate(spec: CertificateSpec): string {
  const sig = signatureAlgorithm(spec.signingKey);
  for (const [field, key] of [
    ["publicKey", spec.publicKey],
    ["issuerPublicKey", spec.issuerPublicKey],
  ] as const) {
    if (key?.type !== "public") throw new Error(`${field} must be a public KeyObject`);
  }
  const keyType = spec.publicKey.asymmetricKeyType;
  if (keyType !== "rsa" && keyType !== "ec") throw new Error(`unsupported subject key type: ${keyType}`);
  checkValidity(spec.notBefore, spec.notAfter);

  const extensions = [
    // pathLen 0: a Strongroom CA issues only end-entity certificates.
    extension(OID.basicConstraints, true, spec.isCA ? derSequence(derBoolean(true), derInteger(0)) : derSequence()),
    extension(
      OID.keyUsage,
      true,
      namedBits(
        spec.isCA
          ? [KU.keyCertSign, KU.cRLSign]
          : keyType === "rsa"
            ? [KU.digitalSignature, KU.keyEncipherment]
            : [KU.digitalSignature, KU.keyAgreement],
      ),
    ),
  ];
  if (spec.extKeyUsage?.length) {
    const oids = spec.extKeyUsage.map((usage) => {
      if (usage !== "serverAuth" && usage !== "clientAuth") throw new Error(`unsupported extKeyUsage: ${usage}`);
      return derOid(OID[usage]);
    });
    extensions.push(extension(OID.extKeyUsage, false, derSequence(...oids)));
  }
  const dnsNames = spec.dnsNames ?? [];
  const ipAddresses = spec.ipAddresses ?? [];
  if (dnsNames.length + ipAddresses.length > 0) {
    // GeneralName dNSName [2] IA5String and iPAddress [7] OCTET STRING (RFC 5280 4.2.1.6).
    const generalNames = [
      ...dnsNames.map((dns) => derImplicit(2, derIa5String(checkDnsName(dns)))),
      ...ipAddresses.map((ip) => derImplicit(7, derOctetString(ipBytes(ip)))),
    ];
    extensions.push(extension(OID.subjectAltName, false, derSequence(...generalNames)));
  }
  extensions.push(extension(OID.subjectKeyIdentifier, false, derOctetString(keyIdentifier(spec.publicKey))));
  extensions.push(
    extension(OID.authorityKeyIdentifier, false, derSequence(derImplicit(0, derOctetString(keyIdentifier(spec.issuerPublicKey))))),
  );

  const tbs = derSequence(
    derExplicit(0, derInteger(2)), // version v3
    derInteger(checkSerial(spec.serial)),
    sig.algorithm,
    encodeName(spec.issuer, "issuer"),
    derSequence(derTime(spec.notBefore), derTime(spec.notAfter)),
    encodeName(spec.subject, "subject"),
    spec.publicKey.export({ type: "spki", format: "der" }),
    derExplicit(3, derSequence(...extensions)),
  );
  const signature = sign(sig.hash, tbs, spec.signingKey); // ECDSA signatures come DER-encoded, as X.509 wants
  // Verifying before release catches a signingKey/issuerPublicKey mismatch and faulty (e.g. RSA-CRT) signatures.
  if (!verify(sig.hash, tbs, spec.issuerPublicKey, signature)) {
    throw new Error("signature check failed: signingKey does not match issuerPublicKey");
  }
  return pemEncode("CERTIFICATE", derSequence(tbs, sig.algorithm, derBitString(signature)));
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value (no tag, length or unused-bits octet). */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = expectTag(decodeDer(publicKey.export({ type: "spki", format: "der" })), Tag.SEQUENCE, "SPKI");
  return createHash("sha1").update(readBitString(spki.children[1], "subjectPublicKey").bytes).digest();
}

function signatureAlgorithm(key: KeyObject): { hash: "sha256" | "sha384"; algorithm: Buffer } {
  if (key?.type !== "private") throw new Error("signingKey must be a private KeyObject");
  if (key.asymmetricKeyType === "rsa") {
    // RFC 4055 section 5: parameters are NULL for the PKCS#1 v1.5 signature OIDs.
    return { hash: "sha256", algorithm: derSequence(derOid(OID.sha256WithRSAEncryption), derNull()) };
  }
  // RFC 5758 3.2: ECDSA AlgorithmIdentifiers omit the parameters.
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === "ec" && curve === "prime256v1") {
    return { hash: "sha256", algorithm: derSequence(derOid(OID.ecdsaWithSHA256)) };
  }
  if (key.asymmetricKeyType === "ec" && curve === "secp384r1") {
    return { hash: "sha384", algorithm: derSequence(derOid(OID.ecdsaWithSHA384)) };
  }
  throw new Error(`unsupported signing key: ${key.asymmetricKeyType}${curve ? ` (${curve})` : ""}`);
}

/** Name as RDNs O, OU, CN (in that order), one UTF8String attribute each. */
function encodeName(name: Name, what: string): Buffer {
  if (typeof name?.cn !== "string") throw new Error(`${what}.cn is required`);
  const attributes: [string, string | undefined][] = [
    [OID.organizationName, name.o],
    [OID.organizationalUnitName, name.ou],
    [OID.commonName, name.cn],
  ];
  const rdns: Buffer[] = [];
  for (const [oid, value] of attributes) {
    if (value === undefined) continue;
    // RFC 5280 appendix A upper bounds are 64 characters for CN, O and OU.
    if (typeof value !== "string" || value.length === 0 || [...value].length > 64 || /\p{Cc}/u.test(value)) {
      throw new Error(`${what}: name attributes must be 1-64 printable characters`);
    }
    rdns.push(derSet(derSequence(derOid(oid), derUtf8String(value))));
  }
  return derSequence(...rdns);
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  // critical is BOOLEAN DEFAULT FALSE, so DER omits it when false.
  return derSequence(derOid(oid), ...(critical ? [derBoolean(true)] : []), derOctetString(value));
}

/** Named BIT STRING; DER drops trailing zero bits (X.690 11.2.2). */
function namedBits(bits: number[]): Buffer {
  const last = Math.max(...bits);
  const bytes = Buffer.alloc((last >> 3) + 1);
  for (const bit of bits) bytes[bit >> 3] |= 0x80 >> (bit & 7);
  return derBitString(bytes, 7 - (last & 7));
}

function checkSerial(serial: Buffer): Buffer {
  if (!Buffer.isBuffer(serial)) throw new Error("serial must be a Buffer");
  const start = serial.findIndex((b) => b !== 0);
  if (start < 0) throw new Error("serial must be positive");
  const magnitude = serial.subarray(start);
  // RFC 5280 4.1.2.2: at most 20 octets as encoded, including any 0x00 sign octet.
  if (magnitude.length + (magnitude[0] & 0x80 ? 1 : 0) > 20) throw new Error("serial must encode in at most 20 octets");
  return magnitude;
}

function checkValidity(notBefore: Date, notAfter: Date): void {
  for (const d of [notBefore, notAfter]) {
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new Error("notBefore/notAfter must be valid Dates");
  }
  if (notAfter.getTime() <= notBefore.getTime()) throw new Error("notAfter must be later than notBefore");
}

function checkDnsName(name: string): string {
  // LDH host names, optionally with a single leading wildcard label; IDNs must already be A-labels.
  const label = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
  if (typeof name !== "string" || name.length > 253 || !new RegExp(`^(?:\\*\\.)?(?:${label}\\.)*${label}$`, "i").test(name)) {
    throw new Error(`invalid DNS name: ${JSON.stringify(name)}`);
  }
  return name;
}

function ipBytes(ip: string): Buffer {
  if (typeof ip === "string" && isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (typeof ip !== "string" || !isIPv6(ip) || ip.includes("%")) throw new Error(`invalid IP address: ${JSON.stringify(ip)}`);
  // Fold a trailing dotted quad into two hex groups, then expand "::".
  let text = ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  if (groups.length !== 8) throw new Error(`invalid IP address: ${JSON.stringify(ip)}`);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(groups[i], 16), i * 2);
  return out;
}
