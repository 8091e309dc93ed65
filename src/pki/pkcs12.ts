// Builds password-protected PKCS#12 (PFX v3, RFC 7292) bundles: structures from @peculiar/asn1-pfx, crypto from node:crypto.
import { createCipheriv, createHash, createHmac, createPrivateKey, pbkdf2Sync, randomBytes, X509Certificate } from "node:crypto";
import { ContentEncryptionAlgorithmIdentifier, ContentInfo, EncryptedContent, EncryptedContentInfo } from "@peculiar/asn1-cms";
import { AuthenticatedSafe, CertBag, MacData, PFX, PKCS12Attribute, SafeBag, SafeContents } from "@peculiar/asn1-pfx";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { DigestInfo } from "@peculiar/asn1-rsa";
import { AsnBmpStringConverter, AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";

export interface Pkcs12Options {
  certPem: string;
  keyPem: string;
  /** One or more CA certificates (PEM, concatenated). */
  caPem: string;
  password: string;
  friendlyName?: string;
  /** PBKDF2 and MAC KDF iteration count; defaults to DEFAULT_PKCS12_ITERATIONS, minimum 2048. */
  iterations?: number;
}

export const DEFAULT_PKCS12_ITERATIONS = 100_000;

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSHA256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  sha256: "2.16.840.1.101.3.4.2.1",
} as const;

// The PKCS#5 (RFC 8018) and CMS EncryptedData structures have no published @peculiar schema; they are declared here
// with the same schema library (decorators applied as functions: this project compiles without experimentalDecorators).

/** PBKDF2-params (RFC 8018 A.2), salt as the "specified" OCTET STRING choice; keyLength omitted. */
class Pbkdf2Params {
  salt = new OctetString();
  iterationCount = 0;
  prf = new AlgorithmIdentifier();
}
AsnProp({ type: OctetString })(Pbkdf2Params.prototype, "salt");
AsnProp({ type: AsnPropTypes.Integer })(Pbkdf2Params.prototype, "iterationCount");
AsnProp({ type: AlgorithmIdentifier })(Pbkdf2Params.prototype, "prf");
AsnType({ type: AsnTypeTypes.Sequence })(Pbkdf2Params);

/** PBES2-params (RFC 8018 A.4). */
class Pbes2Params {
  keyDerivationFunc = new AlgorithmIdentifier();
  encryptionScheme = new AlgorithmIdentifier();
}
AsnProp({ type: AlgorithmIdentifier })(Pbes2Params.prototype, "keyDerivationFunc");
AsnProp({ type: AlgorithmIdentifier })(Pbes2Params.prototype, "encryptionScheme");
AsnType({ type: AsnTypeTypes.Sequence })(Pbes2Params);

/** CMS EncryptedData (RFC 5652 8) without unprotectedAttrs: version 0. */
class CmsEncryptedData {
  version = 0;
  encryptedContentInfo = new EncryptedContentInfo();
}
AsnProp({ type: AsnPropTypes.Integer })(CmsEncryptedData.prototype, "version");
AsnProp({ type: EncryptedContentInfo })(CmsEncryptedData.prototype, "encryptedContentInfo");
AsnType({ type: AsnTypeTypes.Sequence })(CmsEncryptedData);

const der = (value: object): ArrayBuffer => AsnConvert.serialize(value);

/** Returns the DER-encoded PFX. Loadable by OpenSSL 3 and tls.createSecureContext({ pfx, passphrase }). */
export function createPkcs12(options: Pkcs12Options): Buffer {
  const { password, friendlyName } = options;
  if (typeof password !== "string" || password.length === 0) throw new Error("password must be a non-empty string");
  if (!isWellFormedUtf16(password)) throw new Error("password is not well-formed UTF-16");
  if (friendlyName !== undefined && !isWellFormedUtf16(friendlyName)) throw new Error("friendlyName is not well-formed UTF-16");
  const iterations = options.iterations ?? DEFAULT_PKCS12_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 2048 || iterations > 10_000_000) {
    throw new Error("iterations must be between 2048 and 10000000");
  }
  const leafPems = certificatePems(options.certPem);
  if (leafPems.length !== 1) throw new Error("certPem must hold exactly one certificate");
  const leaf = new X509Certificate(leafPems[0]);
  const cas = certificatePems(options.caPem).map((pem) => new X509Certificate(pem));
  if (cas.length === 0) throw new Error("caPem holds no certificate");
  const key = createPrivateKey(options.keyPem);
  if (!leaf.checkPrivateKey(key)) throw new Error("keyPem does not match certPem");

  // localKeyId links the key bag to its certificate; the SHA-1 fingerprint is only an identifier (OpenSSL does the same).
  const attributes = [attribute(OID.localKeyId, der(new OctetString(createHash("sha1").update(leaf.raw).digest())))];
  if (friendlyName !== undefined) {
    // PKCS#9 friendlyName is a BMPString (UTF-16BE, surrogate pairs as OpenSSL writes them).
    attributes.push(attribute(OID.friendlyName, AsnBmpStringConverter.toASN(friendlyName).toBER(false)));
  }
  // bagAttributes is a SET OF: DER (X.690 11.6) orders the elements by their encodings; the library keeps array order.
  attributes.sort((a, b) => Buffer.compare(Buffer.from(der(a)), Buffer.from(der(b))));

  // RFC 9579 / OpenSSL: PBES2 takes the UTF-8 password bytes, unlike the PKCS#12 MAC KDF below.
  const passwordUtf8 = Buffer.from(password, "utf8");
  try {
    const pkcs8 = key.export({ type: "pkcs8", format: "der" });
    let shroudedKey: ArrayBuffer;
    try {
      const { algorithm, ciphertext } = pbes2Encrypt(pkcs8, passwordUtf8, iterations);
      shroudedKey = der(new EncryptedPrivateKeyInfo({ encryptionAlgorithm: algorithm, encryptedData: new OctetString(ciphertext) }));
    } finally {
      pkcs8.fill(0);
    }
    const certBags = new SafeContents([certBag(leaf.raw, attributes), ...cas.map((ca) => certBag(ca.raw))]);
    const certs = pbes2Encrypt(Buffer.from(der(certBags)), passwordUtf8, iterations);
    const encryptedCerts = new CmsEncryptedData();
    encryptedCerts.encryptedContentInfo = new EncryptedContentInfo({
      contentType: OID.data,
      contentEncryptionAlgorithm: new ContentEncryptionAlgorithmIdentifier(certs.algorithm),
      encryptedContent: new EncryptedContent({ value: new OctetString(certs.ciphertext) }), // [0] IMPLICIT, primitive
    });
    const keyBags = new SafeContents([new SafeBag({ bagId: OID.pkcs8ShroudedKeyBag, bagValue: shroudedKey, bagAttributes: attributes })]);
    const authSafe = Buffer.from(
      der(
        new AuthenticatedSafe([
          new ContentInfo({ contentType: OID.encryptedData, content: der(encryptedCerts) }),
          new ContentInfo({ contentType: OID.data, content: der(new OctetString(der(keyBags))) }),
        ]),
      ),
    );
    const pfx = new PFX({
      version: 3,
      authSafe: new ContentInfo({ contentType: OID.data, content: der(new OctetString(authSafe)) }),
      macData: macData(authSafe, password, iterations),
    });
    return Buffer.from(der(pfx));
  } finally {
    passwordUtf8.fill(0);
  }
}

/** PEM certificates in text, each re-read by OpenSSL (X509Certificate) before use. */
function certificatePems(text: string): string[] {
  if (typeof text !== "string") return [];
  return text.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*-----END CERTIFICATE-----/g) ?? [];
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isWellFormedUtf16 = (value: string): boolean => !LONE_SURROGATE.test(value);

function attribute(attrId: string, value: ArrayBuffer): PKCS12Attribute {
  // Fields are set one by one: PKCS12Attribute's constructor (asn1-pfx 2.11.1) drops its parameters.
  const a = new PKCS12Attribute();
  a.attrId = attrId;
  a.attrValues = [value];
  return a;
}

function certBag(certDer: Buffer, attributes?: PKCS12Attribute[]): SafeBag {
  const bagValue = der(new CertBag({ certId: OID.x509Certificate, certValue: der(new OctetString(certDer)) }));
  return new SafeBag({ bagId: OID.certBag, bagValue, ...(attributes ? { bagAttributes: attributes } : {}) });
}

/** PBES2 (RFC 8018 6.2) with PBKDF2-HMAC-SHA256 and AES-256-CBC. */
function pbes2Encrypt(plaintext: Buffer, password: Buffer, iterations: number): { algorithm: AlgorithmIdentifier; ciphertext: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  try {
    const cipher = createCipheriv("aes-256-cbc", key, iv); // PKCS#7 padding, as PBES2 requires
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const kdf = new Pbkdf2Params();
    kdf.salt = new OctetString(salt);
    kdf.iterationCount = iterations;
    kdf.prf = new AlgorithmIdentifier({ algorithm: OID.hmacWithSHA256, parameters: null });
    const params = new Pbes2Params();
    params.keyDerivationFunc = new AlgorithmIdentifier({ algorithm: OID.pbkdf2, parameters: der(kdf) });
    params.encryptionScheme = new AlgorithmIdentifier({ algorithm: OID.aes256Cbc, parameters: der(new OctetString(iv)) });
    return { algorithm: new AlgorithmIdentifier({ algorithm: OID.pbes2, parameters: der(params) }), ciphertext };
  } finally {
    key.fill(0);
  }
}

/** MacData: HMAC-SHA-256 over the AuthenticatedSafe, keyed by the PKCS#12 KDF with ID=3 (RFC 7292 B.2-B.4). */
function macData(authSafe: Buffer, password: string, iterations: number): MacData {
  const salt = randomBytes(16);
  // RFC 7292 B.1: BMPString (UTF-16BE, so surrogate pairs as OpenSSL's utf82uni writes them) plus a 0x0000 terminator.
  const bmpPassword = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) bmpPassword.writeUInt16BE(password.charCodeAt(i), i * 2);
  const key = pkcs12Kdf(bmpPassword, salt, 3, iterations, 32);
  try {
    const mac = createHmac("sha256", key).update(authSafe).digest();
    return new MacData({
      mac: new DigestInfo({
        digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID.sha256, parameters: null }),
        digest: new OctetString(mac),
      }),
      macSalt: new OctetString(salt),
      iterations,
    });
  } finally {
    key.fill(0);
    bmpPassword.fill(0);
  }
}

/**
 * RFC 7292 appendix B.2 key derivation, instantiated with SHA-256 (u = 32, v = 64). Node has no PKCS#12 KDF, so the
 * construction is here; every hash is node:crypto's.
 */
function pkcs12Kdf(password: Buffer, salt: Buffer, id: number, iterations: number, length: number): Buffer {
  const u = 32;
  const v = 64;
  const repeatToBlocks = (src: Buffer): Buffer => {
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([repeatToBlocks(salt), repeatToBlocks(password)]);
  const out = Buffer.alloc(Math.ceil(length / u) * u);
  try {
    for (let block = 0; block * u < length; block++) {
      let A = createHash("sha256").update(D).update(I).digest();
      for (let r = 1; r < iterations; r++) A = createHash("sha256").update(A).digest();
      A.copy(out, block * u);
      if ((block + 1) * u >= length) break;
      // Step 6: I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block, where B is A repeated to v bytes.
      const B = repeatToBlocks(A);
      for (let j = 0; j < I.length; j += v) {
        let carry = 1;
        for (let k = v - 1; k >= 0; k--) {
          carry += I[j + k] + B[k];
          I[j + k] = carry & 0xff;
          carry >>= 8;
        }
      }
    }
    return out.subarray(0, length);
  } finally {
    I.fill(0);
  }
}
