// KMIP Cryptographic Usage Mask bits, the defaults for keys created over REST, and the check crypto operations make.

import { type KeyType, keyFamily } from "../crypto/keygen.js";
import { fail } from "../errors/registry.js";

/** KMIP 1.4 §9.1.3.3.1 / 2.1 §11.15 Cryptographic Usage Mask. */
export const USAGE = {
  Sign: 0x1,
  Verify: 0x2,
  Encrypt: 0x4,
  Decrypt: 0x8,
  WrapKey: 0x10,
  UnwrapKey: 0x20,
  Export: 0x40,
  MACGenerate: 0x80,
  MACVerify: 0x100,
  DeriveKey: 0x200,
  ContentCommitment: 0x400,
  KeyAgreement: 0x800,
  CertificateSign: 0x1000,
  CRLSign: 0x2000,
  GenerateCryptogram: 0x4000,
  ValidateCryptogram: 0x8000,
  TranslateEncrypt: 0x10000,
  TranslateDecrypt: 0x20000,
  TranslateWrap: 0x40000,
  TranslateUnwrap: 0x80000,
  Authenticate: 0x100000,
  Unrestricted: 0x200000,
  FPEEncrypt: 0x400000,
  FPEDecrypt: 0x800000,
} as const;
export type UsageBit = keyof typeof USAGE;

const mask = (...bits: UsageBit[]) => bits.reduce((m, b) => m | USAGE[b], 0);

/** Usage of a key created over REST: everything its algorithm can do. `pub` is the public half of a pair. */
export function defaultUsage(t: KeyType, pub = false): number {
  switch (keyFamily(t)) {
    case "aes":
      return mask("Encrypt", "Decrypt", "WrapKey", "UnwrapKey", "MACGenerate", "MACVerify");
    case "hmac":
      return mask("MACGenerate", "MACVerify");
    case "rsa":
      return pub ? mask("Verify", "Encrypt", "WrapKey") : mask("Sign", "Verify", "Encrypt", "Decrypt", "WrapKey", "UnwrapKey");
    case "ec":
      return pub ? mask("Verify") : mask("Sign", "Verify");
    default:
      return 0;
  }
}

/**
 * KMIP: the server SHALL NOT perform a cryptographic operation the object's Cryptographic Usage
 * Mask does not allow. REST and KMIP share this check.
 */
export function requireUsage(usageMask: number, bit: UsageBit, what: string): void {
  if ((usageMask & USAGE[bit]) === 0 && (usageMask & USAGE.Unrestricted) === 0) {
    fail("usage_not_permitted", { detail: `the usage mask of ${what} does not allow ${bit}` });
  }
}
