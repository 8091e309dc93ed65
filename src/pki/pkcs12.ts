// Builds password-protected PKCS#12 (PFX v3, RFC 7292) bundles of a private key, its certificate and CA chain.
import { createCipheriv, createHash, createHmac, createPrivateKey, pbkdf2Sync, randomBytes, X509Certificate } from "node:crypto";
import {
  derBmpString,
  derExplicit,
  derImplicit,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  isWellFormedUtf16,
  pemDecodeAll,
} from "./der.js";

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

/** Returns the DER-encoded PFX. Loadable by OpenSSL 3 and tls.createSecureContext({ pfx, passphrase }). */
export function createPkcs12(options: Pkcs12Options): Buffer {
  const { password, friendlyName } = options;
  if (typeof password !== "string" || password.length === 0) throw new Error("password must be a non-empty string");
  if (!isWellFormedUtf16(password)) throw new Error("password is not well-formed UTF-16");
  const iterations = options.iterations ?? DEFAULT_PKCS12_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 2048 || iterations > 10_000_000) {
    throw new Error("iterations must be between 2048 and 10000000");
  }
  const leafDer = pemDecodeAll(options.certPem, "CERTIFICATE");
  if (leafDer.length !== 1) throw new Error("certPem must hold exactly one certificate");
  const leaf = new X509Certificate(leafDer[0]);
  const cas = pemDecodeAll(options.caPem, "CERTIFICATE").map((der) => new X509Certificate(der));
  if (cas.length === 0) throw new Error("caPem holds no certificate");
  const key = createPrivateKey(options.keyPem);
  if (!leaf.checkPrivateKey(key)) throw new Error("keyPem does not match certPem");

  // localKeyId links the key bag to its certificate; the SHA-1 fingerprint is only an identifier (OpenSSL does the same).
  const attributes = [attribute(OID.localKeyId, derOctetString(createHash("sha1").update(leaf.raw).digest()))];
  if (friendlyName !== undefined) attributes.push(attribute(OID.friendlyName, derBmpString(friendlyName)));

  // RFC 9579 / OpenSSL: PBES2 takes the UTF-8 password bytes, unlike the PKCS#12 MAC KDF below.
  const passwordUtf8 = Buffer.from(password, "utf8");
  try {
    const pkcs8 = key.export({ type: "pkcs8", format: "der" });
    let shroudedKey: Buffer;
    try {
      const { algorithm, ciphertext } = pbes2Encrypt(pkcs8, passwordUtf8, iterations);
      shroudedKey = derSequence(algorithm, derOctetString(ciphertext)); // EncryptedPrivateKeyInfo
    } finally {
      pkcs8.fill(0);
    }
    const certBags = [certBag(leaf.raw, attributes), ...cas.map((ca) => certBag(ca.raw))];
    const certs = pbes2Encrypt(derSequence(...certBags), passwordUtf8, iterations);
    const authSafe = derSequence(
      // EncryptedData { version 0, EncryptedContentInfo { data, PBES2, [0] IMPLICIT ciphertext } }
      contentInfo(
        OID.encryptedData,
        derSequence(derInteger(0), derSequence(derOid(OID.data), certs.algorithm, derImplicit(0, derOctetString(certs.ciphertext)))),
      ),
      contentInfo(OID.data, derOctetString(derSequence(safeBag(OID.pkcs8ShroudedKeyBag, shroudedKey, attributes)))),
    );
    return derSequence(derInteger(3), contentInfo(OID.data, derOctetString(authSafe)), macData(authSafe, password, iterations));
  } finally {
    passwordUtf8.fill(0);
  }
}

function contentInfo(type: string, content: Buffer): Buffer {
  return derSequence(derOid(type), derExplicit(0, content));
}

function attribute(oid: string, value: Buffer): Buffer {
  return derSequence(derOid(oid), derSet(value));
}

function safeBag(bagId: string, value: Buffer, attributes?: Buffer[]): Buffer {
  return derSequence(derOid(bagId), derExplicit(0, value), ...(attributes ? [derSet(...attributes)] : []));
}

function certBag(certDer: Buffer, attributes?: Buffer[]): Buffer {
  return safeBag(OID.certBag, derSequence(derOid(OID.x509Certificate), derExplicit(0, derOctetString(certDer))), attributes);
}

/** PBES2 (RFC 8018 6.2) with PBKDF2-HMAC-SHA256 and AES-256-CBC. */
function pbes2Encrypt(plaintext: Buffer, password: Buffer, iterations: number): { algorithm: Buffer; ciphertext: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  try {
    const cipher = createCipheriv("aes-256-cbc", key, iv); // PKCS#7 padding, as PBES2 requires
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const algorithm = derSequence(
      derOid(OID.pbes2),
      derSequence(
        derSequence(
          derOid(OID.pbkdf2),
          derSequence(derOctetString(salt), derInteger(iterations), derSequence(derOid(OID.hmacWithSHA256), derNull())),
        ),
        derSequence(derOid(OID.aes256Cbc), derOctetString(iv)),
      ),
    );
    return { algorithm, ciphertext };
  } finally {
    key.fill(0);
  }
}

/** MacData: HMAC-SHA-256 over the AuthenticatedSafe, keyed by the PKCS#12 KDF with ID=3 (RFC 7292 B.2-B.4). */
function macData(authSafe: Buffer, password: string, iterations: number): Buffer {
  const salt = randomBytes(16);
  // RFC 7292 B.1: BMPString (UTF-16BE, so surrogate pairs as OpenSSL's utf82uni writes them) plus a 0x0000 terminator.
  const bmpPassword = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) bmpPassword.writeUInt16BE(password.charCodeAt(i), i * 2);
  const key = pkcs12Kdf(bmpPassword, salt, 3, iterations, 32);
  try {
    const mac = createHmac("sha256", key).update(authSafe).digest();
    const digestInfo = derSequence(derSequence(derOid(OID.sha256), derNull()), derOctetString(mac));
    return derSequence(digestInfo, derOctetString(salt), derInteger(iterations));
  } finally {
    key.fill(0);
    bmpPassword.fill(0);
  }
}

/** RFC 7292 appendix B.2 key derivation, instantiated with SHA-256 (u = 32, v = 64). */
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
