// Issues X.509 v3 certificates (RFC 5280) for Strongroom's built-in CA: ASN.1 by @peculiar/asn1-x509, signatures by node:crypto.
import { createHash, type KeyObject, randomBytes, sign, verify, X509Certificate } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  Name as AsnName,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Time,
  Validity,
  Version,
} from "@peculiar/asn1-x509";

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
  const serial = checkSerial(spec.serial);
  const subjectPublicKeyInfo = AsnConvert.parse(spec.publicKey.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo);

  const extensions = [
    // pathLen 0: a Strongroom CA issues only end-entity certificates.
    extension(OID.basicConstraints, true, spec.isCA ? new BasicConstraints({ cA: true, pathLenConstraint: 0 }) : new BasicConstraints()),
    extension(
      OID.keyUsage,
      true,
      new KeyUsage(
        spec.isCA
          ? KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign
          : keyType === "rsa"
            ? KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment
            : KeyUsageFlags.digitalSignature | KeyUsageFlags.keyAgreement,
      ),
    ),
  ];
  if (spec.extKeyUsage?.length) {
    const oids = spec.extKeyUsage.map((usage) => {
      if (usage !== "serverAuth" && usage !== "clientAuth") throw new Error(`unsupported extKeyUsage: ${usage}`);
      return OID[usage];
    });
    extensions.push(extension(OID.extKeyUsage, false, new ExtendedKeyUsage(oids)));
  }
  const dnsNames = spec.dnsNames ?? [];
  const ipAddresses = spec.ipAddresses ?? [];
  if (dnsNames.length + ipAddresses.length > 0) {
    const generalNames = [
      ...dnsNames.map((dns) => new GeneralName({ dNSName: checkDnsName(dns) })),
      ...ipAddresses.map((ip) => new GeneralName({ iPAddress: ipText(ip) })),
    ];
    extensions.push(extension(OID.subjectAltName, false, new SubjectAlternativeName(generalNames)));
  }
  extensions.push(extension(OID.subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spec.publicKey))));
  extensions.push(
    extension(
      OID.authorityKeyIdentifier,
      false,
      new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyIdentifier(spec.issuerPublicKey)) }),
    ),
  );

  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serial,
    signature: sig.algorithm,
    issuer: encodeName(spec.issuer, "issuer"),
    validity: new Validity(),
    subject: encodeName(spec.subject, "subject"),
    subjectPublicKeyInfo,
    extensions: new Extensions(extensions),
  });
  tbs.validity.notBefore = time(spec.notBefore);
  tbs.validity.notAfter = time(spec.notAfter);
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign(sig.hash, tbsDer, spec.signingKey); // ECDSA signatures come DER-encoded, as X.509 wants
  // Verifying before release catches a signingKey/issuerPublicKey mismatch and faulty (e.g. RSA-CRT) signatures.
  if (!verify(sig.hash, tbsDer, spec.issuerPublicKey, signature)) {
    throw new Error("signature check failed: signingKey does not match issuerPublicKey");
  }
  const der = AsnConvert.serialize(
    new Certificate({ tbsCertificate: tbs, signatureAlgorithm: sig.algorithm, signatureValue: toArrayBuffer(signature) }),
  );
  // OpenSSL re-reads the result: what we hand out is a certificate OpenSSL accepts, in its PEM form.
  return new X509Certificate(Buffer.from(der)).toString();
}

/** RFC 5280 4.1.2.5: UTCTime 1950-2049, GeneralizedTime otherwise; whole seconds only. */
function time(date: Date): Time {
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new Error("notBefore/notAfter year out of range");
  const whole = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return year >= 1950 && year <= 2049 ? new Time({ utcTime: whole }) : new Time({ generalTime: whole });
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value (no tag, length or unused-bits octet). */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = AsnConvert.parse(publicKey.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo);
  return createHash("sha1").update(Buffer.from(spki.subjectPublicKey)).digest();
}

function signatureAlgorithm(key: KeyObject): { hash: "sha256" | "sha384"; algorithm: AlgorithmIdentifier } {
  if (key?.type !== "private") throw new Error("signingKey must be a private KeyObject");
  if (key.asymmetricKeyType === "rsa") {
    // RFC 4055 section 5: parameters are NULL for the PKCS#1 v1.5 signature OIDs.
    return { hash: "sha256", algorithm: new AlgorithmIdentifier({ algorithm: OID.sha256WithRSAEncryption, parameters: null }) };
  }
  // RFC 5758 3.2: ECDSA AlgorithmIdentifiers omit the parameters.
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === "ec" && curve === "prime256v1") {
    return { hash: "sha256", algorithm: new AlgorithmIdentifier({ algorithm: OID.ecdsaWithSHA256 }) };
  }
  if (key.asymmetricKeyType === "ec" && curve === "secp384r1") {
    return { hash: "sha384", algorithm: new AlgorithmIdentifier({ algorithm: OID.ecdsaWithSHA384 }) };
  }
  throw new Error(`unsupported signing key: ${key.asymmetricKeyType}${curve ? ` (${curve})` : ""}`);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Name as RDNs O, OU, CN (in that order), one UTF8String attribute each. */
function encodeName(name: Name, what: string): AsnName {
  if (typeof name?.cn !== "string") throw new Error(`${what}.cn is required`);
  const attributes: [string, string | undefined][] = [
    [OID.organizationName, name.o],
    [OID.organizationalUnitName, name.ou],
    [OID.commonName, name.cn],
  ];
  const rdns: RelativeDistinguishedName[] = [];
  for (const [oid, value] of attributes) {
    if (value === undefined) continue;
    // RFC 5280 appendix A upper bounds are 64 characters for CN, O and OU.
    if (typeof value !== "string" || value.length === 0 || [...value].length > 64 || /\p{Cc}/u.test(value)) {
      throw new Error(`${what}: name attributes must be 1-64 printable characters`);
    }
    // A lone surrogate has no UTF-8 form (it would silently become U+FFFD).
    if (LONE_SURROGATE.test(value)) throw new Error(`${what}: name attributes must be well-formed Unicode`);
    rdns.push(new RelativeDistinguishedName([new AttributeTypeAndValue({ type: oid, value: new AttributeValue({ utf8String: value }) })]));
  }
  return new AsnName(rdns);
}

function extension(oid: string, critical: boolean, value: object): Extension {
  // critical is BOOLEAN DEFAULT FALSE: the library omits it when false, as DER requires.
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** The serial as INTEGER content octets: minimal, with a 0x00 sign octet when the high bit is set. */
function checkSerial(serial: Buffer): ArrayBuffer {
  if (!Buffer.isBuffer(serial)) throw new Error("serial must be a Buffer");
  const start = serial.findIndex((b) => b !== 0);
  if (start < 0) throw new Error("serial must be positive");
  const magnitude = serial.subarray(start);
  // RFC 5280 4.1.2.2: at most 20 octets as encoded, including any 0x00 sign octet.
  if (magnitude.length + (magnitude[0] & 0x80 ? 1 : 0) > 20) throw new Error("serial must encode in at most 20 octets");
  const content = magnitude[0] & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : Buffer.from(magnitude);
  return toArrayBuffer(content);
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

/** The address in the plain form the library's converter reads: dotted quad, or eight uncompressed IPv6 groups. */
function ipText(ip: string): string {
  if (typeof ip === "string" && isIPv4(ip)) return ip;
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
  return groups.map((g) => Number.parseInt(g, 16).toString(16)).join(":");
}

/** A standalone ArrayBuffer copy of a Buffer's bytes (the ASN.1 classes hold ArrayBuffers). */
export function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

/**
 * The serial number (INTEGER content octets) and the issuer and subject Names (DER) of a certificate, for the KMIP
 * X.509 Certificate Identifier/Subject/Issuer attributes. Throws on anything that is not an X.509 certificate.
 */
export function certificateIdentifiers(der: Buffer): { serial: Buffer; issuer: Buffer; subject: Buffer } {
  const tbs = AsnConvert.parse(der, Certificate).tbsCertificate;
  return {
    serial: Buffer.from(tbs.serialNumber),
    issuer: Buffer.from(AsnConvert.serialize(tbs.issuer)),
    subject: Buffer.from(AsnConvert.serialize(tbs.subject)),
  };
}
