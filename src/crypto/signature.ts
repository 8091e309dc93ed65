// Signatures with plain parameters: RSA-PSS (any MGF1 hash, salt length), RSA PKCS#1 v1.5 and ECDSA (DER), over data or a given digest.
import { constants, createHash, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { fail, isStrongroomError } from "../errors/registry.js";
import { signAsync } from "./offload.js";
import { modulusBytes, pkcs1SignDigest, pkcs1VerifyDigest, pssSignDigest, pssVerifyDigest } from "./rsa-padding.js";

/** A signature scheme; hash names are node:crypto's ("sha256"). */
export interface SigScheme {
  kind: "pss" | "pkcs1" | "ecdsa";
  hash: string;
  /** PSS: the MGF1 hash (the message hash unless a protocol names another). */
  mgfHash: string;
  /** PSS, bytes: signing uses the digest length when omitted; verifying then reads it from the signature. */
  saltLength?: number;
}

/**
 * Signs `data` — or, with `prehashed`, a digest made with the scheme's hash — off the event loop (libuv's pool for
 * crypto.sign, a worker for the raw RSA primitive of the hand-written encodings). A failure of the primitive is
 * crypto_failed, without its text.
 */
export async function signWith(priv: KeyObject, s: SigScheme, data: Buffer, prehashed: boolean): Promise<Buffer> {
  try {
    if (s.kind === "ecdsa") {
      // node:crypto has no ECDSA over a caller's digest.
      if (prehashed) fail("feature_not_supported", { detail: "ECDSA over Digested Data is not supported; send Data" });
      return await signAsync(s.hash, data, { key: priv, dsaEncoding: "der" });
    }
    if (s.kind === "pkcs1") {
      return prehashed
        ? await pkcs1SignDigest(priv, s.hash, data)
        : await signAsync(s.hash, data, { key: priv, padding: constants.RSA_PKCS1_PADDING });
    }
    if (prehashed || s.mgfHash !== s.hash) {
      return await pssSignDigest(priv, s.hash, s.mgfHash, prehashed ? data : createHash(s.hash).update(data).digest(), s.saltLength);
    }
    return await signAsync(s.hash, data, {
      key: priv,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: s.saltLength ?? constants.RSA_PSS_SALTLEN_DIGEST,
    });
  } catch (e) {
    if (isStrongroomError(e)) throw e;
    return fail("crypto_failed", { detail: "signing failed" });
  }
}

/** True only for a valid signature; a malformed one is simply not valid. */
export function verifyWith(pub: KeyObject, s: SigScheme, data: Buffer, prehashed: boolean, sig: Buffer): boolean {
  try {
    if (s.kind === "ecdsa") {
      if (prehashed) fail("feature_not_supported", { detail: "ECDSA over Digested Data is not supported; send Data" });
      return cryptoVerify(s.hash, data, { key: pub, dsaEncoding: "der" }, sig);
    }
    if (s.kind === "pkcs1") {
      if (prehashed) return pkcs1VerifyDigest(pub, s.hash, data, sig);
      return sig.length === modulusBytes(pub) && cryptoVerify(s.hash, data, { key: pub, padding: constants.RSA_PKCS1_PADDING }, sig);
    }
    if (prehashed || s.mgfHash !== s.hash) {
      return pssVerifyDigest(pub, s.hash, s.mgfHash, prehashed ? data : createHash(s.hash).update(data).digest(), sig, s.saltLength);
    }
    // Without a Salt Length the salt length is read from the signature.
    return cryptoVerify(
      s.hash,
      data,
      { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.saltLength ?? constants.RSA_PSS_SALTLEN_AUTO },
      sig,
    );
  } catch (e) {
    if (isStrongroomError(e)) throw e;
    return false;
  }
}
