// KMIP MAC (KMIP 1.4 §4.33 and 2.x): Cryptographic Parameters → HMAC-SHA1/SHA2/SHA3 or AES-CMAC (src/crypto/mac.ts), one-shot or multi-part.
import { computeMac, type MacAlgorithm } from "../../crypto/mac.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { bytes, Tag } from "../codec/ttlv.js";
import type { KmipCall, KmipOperation } from "../operation.js";
import { uidItem } from "./common.js";
import {
  type CryptoParams,
  effectiveParams,
  familyOf,
  name,
  optionalBytes,
  symmetricSecret,
  type UsableKey,
  useKey,
} from "./crypto-params.js";
import { runBuffered, type StreamStep, streamStep } from "./crypto-streams.js";

const A = Enum.CryptographicAlgorithm;

const HMACS: Record<number, string> = {
  [A.HMAC_SHA1]: "sha1",
  [A.HMAC_SHA224]: "sha224",
  [A.HMAC_SHA256]: "sha256",
  [A.HMAC_SHA384]: "sha384",
  [A.HMAC_SHA512]: "sha512",
  [A.HMAC_SHA3_224]: "sha3-224",
  [A.HMAC_SHA3_256]: "sha3-256",
  [A.HMAC_SHA3_384]: "sha3-384",
  [A.HMAC_SHA3_512]: "sha3-512",
};

/**
 * The MAC algorithm: the Cryptographic Algorithm of the Cryptographic Parameters (an HMAC, which
 * any symmetric key can key), Block Cipher Mode CMAC with an AES key, or else the key's own HMAC
 * algorithm.
 */
export function macAlgorithm(u: UsableKey, p: CryptoParams): MacAlgorithm {
  const family = familyOf(u.obj.type);
  const cmac = (): MacAlgorithm => {
    if (family !== "aes") fail("crypto_params", { detail: "CMAC needs an AES key" });
    return { kind: "cmac" };
  };
  if (p.algorithm !== undefined) {
    const h = HMACS[p.algorithm];
    if (h) return { kind: "hmac", hash: h };
    if (p.algorithm === A.AES && p.mode === Enum.BlockCipherMode.CMAC) return cmac();
    return fail("not_supported", { detail: `MAC with ${name(Tag.CryptographicAlgorithm, p.algorithm)} is not supported` });
  }
  if (p.mode === Enum.BlockCipherMode.CMAC) return cmac();
  const own = /^hmac-(sha.+)$/.exec(u.obj.type);
  if (own) return { kind: "hmac", hash: own[1] };
  return fail("crypto_params", {
    detail: `Cryptographic Algorithm (an HMAC) or Block Cipher Mode CMAC is required for a MAC with a ${u.obj.type} key`,
  });
}

export function macInput(c: KmipCall, step: StreamStep): Buffer {
  const data = optionalBytes(c, Tag.Data, "Data");
  if (!data && step.kind !== "continue") fail("validation", { detail: "Data missing" });
  return data ?? Buffer.alloc(0);
}

export const mac: KmipOperation = {
  name: "MAC",
  async handle(c) {
    const step = streamStep(c);
    // MAC generation protects: an Active key with MAC Generate usage.
    const u = await useKey(c, "hmac", "MACGenerate", "protect");
    const key = symmetricSecret(u, "MAC");
    return runBuffered(
      c,
      "MAC",
      u.id,
      step,
      macInput(c, step),
      () => macAlgorithm(u, effectiveParams(c, u.obj)),
      (alg, all) => [uidItem(u.id), bytes(Tag.MACData, computeMac(key, alg, all))],
      [uidItem(u.id)],
    );
  },
};
