// Symmetric cipher parameters for KMIP Encrypt/Decrypt: a key's family and Cryptographic Parameters → the src/crypto/sym-cipher.ts parameters.
import type { SymCipherName, SymMode, SymParams } from "../../crypto/sym-cipher.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { Tag } from "../codec/ttlv.js";
import { type CryptoParams, name } from "./crypto-params.js";

const M = Enum.BlockCipherMode;
const P = Enum.PaddingMethod;
const A = Enum.CryptographicAlgorithm;

const badParams = (detail: string): never => fail("crypto_params", { detail });
const unsupported = (detail: string): never => fail("not_supported", { detail });

/** The Block Cipher Modes the server runs, by their KMIP enumeration. */
const MODES: Record<number, SymMode> = {
  [M.ECB]: "ecb",
  [M.CBC]: "cbc",
  [M.CFB]: "cfb",
  [M.OFB]: "ofb",
  [M.CTR]: "ctr",
  [M.GCM]: "gcm",
  [M.CCM]: "ccm",
  [M.NISTKeyWrap]: "kw",
  [M.AESKeyWrapPadding]: "kwp",
};

/** The cipher the parameters select for a key of `family` ("aes", "des3", "chacha20", "chacha20poly1305"). */
function cipherOf(family: string, p: CryptoParams): SymCipherName {
  const want = p.algorithm;
  const mismatch = () => badParams(`Cryptographic Algorithm ${name(Tag.CryptographicAlgorithm, want as number)} does not match the key`);
  switch (family) {
    case "aes":
      if (want !== undefined && want !== A.AES) mismatch();
      return "aes";
    case "des3":
      if (want !== undefined && want !== A.DES3) mismatch();
      return "des3";
    case "chacha20":
    case "chacha20poly1305":
      if (want === A.ChaCha20Poly1305 || p.mode === M.AEAD) return "chacha20-poly1305";
      if (want === A.ChaCha20) return "chacha20";
      if (want !== undefined) mismatch();
      return family === "chacha20" ? "chacha20" : "chacha20-poly1305";
    default:
      return unsupported(`symmetric encryption with ${family} keys is not supported`);
  }
}

/** Translates the Cryptographic Parameters of a request (or of the key) for a key of `family`. */
export function symParams(family: string, p: CryptoParams): SymParams {
  const cipher = cipherOf(family, p);
  let mode: SymMode | undefined;
  let padding: SymParams["padding"];
  if (cipher === "aes" || cipher === "des3") {
    const m = p.mode ?? badParams("Block Cipher Mode is required (in the request or the key's Cryptographic Parameters)");
    mode = MODES[m] ?? unsupported(`Block Cipher Mode ${name(Tag.BlockCipherMode, m)} is not supported`);
    if (mode === "ecb" || mode === "cbc") {
      const pm = p.padding ?? P.None;
      if (pm !== P.None && pm !== P.PKCS5) unsupported(`Padding Method ${name(Tag.PaddingMethod, pm)} is not supported; use None or PKCS5`);
      padding = pm === P.PKCS5 ? "pkcs5" : "none";
    }
  }
  return {
    cipher,
    mode,
    padding,
    randomIV: p.randomIV,
    ivLength: p.ivLength,
    tagLength: p.tagLength,
    fixedFieldLength: p.fixedFieldLength,
    invocationFieldLength: p.invocationFieldLength,
    counterLength: p.counterLength,
    initialCounterValue: p.initialCounterValue,
  };
}
