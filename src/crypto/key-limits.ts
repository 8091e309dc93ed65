// The one rule for which asymmetric keys the server accepts (size, curve, exponent) and the consistency check of a private key.
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { fail } from "../errors/registry.js";
import { signAsync } from "./offload.js";

/**
 * Where a key comes from decides the range; the ceiling is what keeps one request from occupying a CPU for seconds
 * (an RSA private operation grows with the cube of the modulus: 32,768 bits is ~500x the work of 4,096).
 * - `held`: keys the server generates, imports over REST, or uses as a caller-supplied wrapping key: RSA 2048–4096.
 * - `registered`: keys brought in over KMIP Register/Import: also RSA 1024 (the KMIP baseline profile's vectors
 *   register RSA-1024) and DSA (kept and returned, never used by the server for any operation).
 * - `certificate`: subject keys of CSRs the CA signs (only ever verified, a public operation): RSA 2048–8192.
 */
export type KeyUse = "held" | "registered" | "certificate";

export const RSA_BITS: Record<KeyUse, [number, number]> = {
  held: [2048, 4096],
  registered: [1024, 4096],
  certificate: [2048, 8192],
};
/** Named curves, by OpenSSL name and KMIP/NIST name. */
export const EC_CURVES: Readonly<Record<string, string>> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };
/** DSA (KMIP Register only): the domain sizes of FIPS 186 up to 3072 bits; 512 appears in the KMIP baseline vectors. */
export const DSA_BITS: [number, number] = [512, 3072];
/** RSA public exponent: odd, 3 ≤ e < 2^32 (a huge exponent makes every public operation as costly as a private one). */
export const RSA_MAX_PUBLIC_EXPONENT = 2n ** 32n - 1n;

/** Bits of the key for messages and KMIP Cryptographic Length: modulus (RSA, DSA) or curve size (EC). */
export function keySizeOf(k: KeyObject): number {
  const d = k.asymmetricKeyDetails ?? {};
  if (k.asymmetricKeyType === "ec") return Number(EC_CURVES[d.namedCurve ?? ""]?.slice(2) ?? 0);
  return d.modulusLength ?? 0;
}

/**
 * Throws `key_not_accepted` unless `k` (public or private) is a key this server accepts for `use`. Reads only the
 * parsed key's details, so it is cheap even for a hostile 32,768-bit key: call it before any operation with the key.
 */
export function checkKeyLimits(k: KeyObject, use: KeyUse): void {
  const refuse = (detail: string): never => fail("key_not_accepted", { detail });
  const d = k.asymmetricKeyDetails ?? {};
  switch (k.asymmetricKeyType) {
    case "rsa": {
      const [lo, hi] = RSA_BITS[use];
      const bits = d.modulusLength ?? 0;
      if (bits < lo || bits > hi) refuse(`RSA keys must have ${lo} to ${hi} bits; this one has ${bits}`);
      const e = d.publicExponent ?? 0n;
      if (e < 3n || e > RSA_MAX_PUBLIC_EXPONENT || e % 2n === 0n) refuse("the RSA public exponent must be odd, at least 3 and below 2^32");
      return;
    }
    case "ec":
      if (!EC_CURVES[d.namedCurve ?? ""]) refuse("EC keys must be on curve P-256, P-384 or P-521");
      return;
    case "dsa": {
      const bits = d.modulusLength ?? 0;
      if (use !== "registered") refuse("DSA keys are only accepted by KMIP Register (kept, never used)");
      if (bits < DSA_BITS[0] || bits > DSA_BITS[1])
        refuse(`DSA keys must have ${DSA_BITS[0]} to ${DSA_BITS[1]} bits; this one has ${bits}`);
      return;
    }
    default:
      refuse(`${k.asymmetricKeyType ?? "unknown"} keys are not supported`);
  }
}

/** The bounds for generating a key of `family` with `bits` (RSA modulus) or `curve`: the `held` range. */
export function checkGeneration(family: "rsa" | "ec", size: number | string): void {
  if (family === "rsa") {
    const [lo, hi] = RSA_BITS.held;
    if (!Number.isInteger(size) || (size as number) < lo || (size as number) > hi)
      fail("key_not_accepted", { detail: `RSA keys are generated with ${lo} to ${hi} bits` });
  } else if (!Object.values(EC_CURVES).includes(String(size))) {
    fail("key_not_accepted", { detail: "EC keys are generated on curve P-256, P-384 or P-521" });
  }
}

const PROBE = Buffer.from("strongroom key consistency probe");

/**
 * A private key must be internally consistent: node parses RSA keys without checking that d, p, q match n and e, and
 * an EC key may carry a public point that is not its own. A signature made with the private key (off the event loop)
 * must verify under the public key derived from it — and under `publicKey` when the caller links one to it.
 * DSA keys (kept, never used) are only parsed.
 */
export async function checkKeyPair(priv: KeyObject, publicKey?: KeyObject): Promise<void> {
  if (priv.asymmetricKeyType !== "rsa" && priv.asymmetricKeyType !== "ec") return;
  const derived = createPublicKey(priv);
  if (publicKey && !derived.export({ type: "spki", format: "der" }).equals(publicKey.export({ type: "spki", format: "der" })))
    fail("key_not_accepted", { detail: "the public key does not belong to the private key" });
  let ok = false;
  try {
    const sig = await signAsync("sha256", PROBE, { key: priv });
    ok = verify("sha256", PROBE, derived, sig);
  } catch {
    ok = false;
  }
  if (!ok) fail("key_not_accepted", { detail: "the private key is inconsistent (its parts do not form one key)" });
}
