// KMIP Sign (KMIP 1.4 §4.31 and 2.x): Cryptographic Parameters → a src/crypto/signature.ts scheme (RSA-PSS, PKCS#1 v1.5, ECDSA) over Data or Digested Data.
import type { KeyObject } from "node:crypto";
import { hashBytes } from "../../crypto/digest.js";
import { type SigScheme, signWith } from "../../crypto/signature.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { bytes, Tag } from "../codec/ttlv.js";
import type { KmipCall, KmipOperation } from "../operation.js";
import { uidItem } from "./common.js";
import { type CryptoParams, effectiveParams, hashName, name, optionalBytes, privateKeyOf, useKey } from "./crypto-params.js";
import { runBuffered, type StreamStep, streamStep } from "./crypto-streams.js";

const D = Enum.DigitalSignatureAlgorithm;
const H = Enum.HashingAlgorithm;
const A = Enum.CryptographicAlgorithm;

const BY_DSA: Record<number, [SigScheme["kind"], number | null]> = {
  [D.SHA_1WithRSAEncryption]: ["pkcs1", H.SHA_1],
  [D.SHA_224WithRSAEncryption]: ["pkcs1", H.SHA_224],
  [D.SHA_256WithRSAEncryption]: ["pkcs1", H.SHA_256],
  [D.SHA_384WithRSAEncryption]: ["pkcs1", H.SHA_384],
  [D.SHA_512WithRSAEncryption]: ["pkcs1", H.SHA_512],
  [D.SHA3_256WithRSAEncryption]: ["pkcs1", H.SHA3_256],
  [D.SHA3_384WithRSAEncryption]: ["pkcs1", H.SHA3_384],
  [D.SHA3_512WithRSAEncryption]: ["pkcs1", H.SHA3_512],
  // RSASSA-PSS names no hash: the Hashing Algorithm field gives it.
  [D.RSASSA_PSS]: ["pss", null],
  [D.ECDSAWithSHA_1]: ["ecdsa", H.SHA_1],
  [D.ECDSAWithSHA224]: ["ecdsa", H.SHA_224],
  [D.ECDSAWithSHA256]: ["ecdsa", H.SHA_256],
  [D.ECDSAWithSHA384]: ["ecdsa", H.SHA_384],
  [D.ECDSAWithSHA512]: ["ecdsa", H.SHA_512],
};

/**
 * The signature scheme: a Digital Signature Algorithm, or a Padding Method (PSS, PKCS1 v1.5) with a
 * Hashing Algorithm for RSA, or a Hashing Algorithm alone for EC keys. Parameters the scheme needs
 * and neither the request nor the key's Cryptographic Parameters give fail the operation.
 */
export function sigScheme(p: CryptoParams, key: KeyObject): SigScheme {
  const keyKind = key.asymmetricKeyType === "ec" ? "ec" : key.asymmetricKeyType === "rsa" ? "rsa" : null;
  if (!keyKind) return fail("not_supported", { detail: `signatures with ${key.asymmetricKeyType} keys are not supported` });
  let kind: SigScheme["kind"];
  let hashId = p.hash;
  if (p.signatureAlgorithm !== undefined) {
    const d = BY_DSA[p.signatureAlgorithm];
    if (!d)
      return fail("not_supported", {
        detail: `Digital Signature Algorithm ${name(Tag.DigitalSignatureAlgorithm, p.signatureAlgorithm)} is not supported`,
      });
    kind = d[0];
    if (d[1] !== null) {
      if (hashId !== undefined && hashId !== d[1])
        fail("crypto_params", { detail: "Hashing Algorithm contradicts the Digital Signature Algorithm" });
      hashId = d[1];
    }
  } else if (keyKind === "ec") {
    kind = "ecdsa";
  } else if (p.padding === Enum.PaddingMethod.PSS) {
    kind = "pss";
  } else if (p.padding === Enum.PaddingMethod.PKCS1V1_5) {
    kind = "pkcs1";
  } else if (p.padding === undefined) {
    return fail("crypto_params", {
      detail: "Digital Signature Algorithm or Padding Method (PSS, PKCS1 v1.5) is required for RSA signatures",
    });
  } else {
    return fail("not_supported", { detail: `Padding Method ${name(Tag.PaddingMethod, p.padding)} is not supported for signatures` });
  }
  if ((kind === "ecdsa") !== (keyKind === "ec"))
    fail("crypto_params", { detail: `a ${keyKind.toUpperCase()} key cannot make ${kind.toUpperCase()} signatures` });
  const algOk = p.algorithm === undefined || (keyKind === "rsa" ? p.algorithm === A.RSA : p.algorithm === A.ECDSA || p.algorithm === A.EC);
  if (!algOk)
    fail("crypto_params", {
      detail: `Cryptographic Algorithm ${name(Tag.CryptographicAlgorithm, p.algorithm as number)} does not match the key`,
    });
  if (p.maskGenerator !== undefined && p.maskGenerator !== Enum.MaskGenerator.MGF1)
    fail("not_supported", { detail: "only the MGF1 mask generator is supported" });
  const hash = hashName(hashId);
  if (kind === "pss" && p.saltLength !== undefined) {
    const emLen = Math.ceil(((key.asymmetricKeyDetails?.modulusLength ?? 0) - 1) / 8);
    if (p.saltLength < 0 || emLen < hashBytes(hash) + p.saltLength + 2)
      fail("crypto_params", { detail: "Salt Length is too long for this key and hash" });
  }
  // The MGF1 hash defaults to the message hash (see rsa-cipher.ts: the OASIS vectors need it).
  return {
    kind,
    hash,
    mgfHash: kind === "pss" ? hashName(p.mgfHash ?? hashId, "Mask Generator Hashing Algorithm") : hash,
    saltLength: p.saltLength,
  };
}

/** Data or Digested Data (already hashed with the scheme's hash), not both. */
export function signInput(c: KmipCall, step: StreamStep): { data: Buffer; prehashed: boolean } {
  const data = optionalBytes(c, Tag.Data, "Data");
  const digested = optionalBytes(c, Tag.DigestedData, "Digested Data");
  if (data && digested) fail("validation", { detail: "send Data or Digested Data, not both" });
  if (digested) {
    if (step.kind !== "one-shot") fail("feature_not_supported", { detail: "Digested Data cannot be sent in a multi-part operation" });
    return { data: digested, prehashed: true };
  }
  if (!data && step.kind !== "continue") fail("validation", { detail: "Data or Digested Data missing" });
  return { data: data ?? Buffer.alloc(0), prehashed: false };
}

export const sign: KmipOperation = {
  name: "Sign",
  async handle(c) {
    const step = streamStep(c);
    // Signing protects: an Active key with Sign usage, not past its Protect Stop Date.
    const u = await useKey(c, "sign", "Sign", "protect");
    const priv = privateKeyOf(u, "Sign");
    const input = signInput(c, step);
    return runBuffered(
      c,
      "Sign",
      u.id,
      step,
      input.data,
      () => sigScheme(effectiveParams(c, u.obj), priv),
      async (s, all) => [uidItem(u.id), bytes(Tag.SignatureData, await signWith(priv, s, all, input.prehashed))],
      [uidItem(u.id)],
    );
  },
};
