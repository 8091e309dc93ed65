// KMIP name tables: the generated file is current, and tags, enumerations and masks resolve both ways (spec, XML/JSON and hex names).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ENUM_TABLE,
  Enum,
  enumByName,
  enumForTag,
  enumName,
  enumSpecName,
  enumValue,
  ItemType,
  isKnownTag,
  isMaskTag,
  maskNames,
  maskValue,
  TAG_TABLE,
  Tag,
  tagByName,
  tagName,
  tagSpecName,
} from "../src/kmip/codec/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("tables.ts is what tools/gen-kmip-tables.mjs generates from tools/kmip-spec.txt (and agrees with PyKMIP when installed)", () => {
  const out = execFileSync(process.execPath, [join(root, "tools", "gen-kmip-tables.mjs"), "--check"], { cwd: root, encoding: "utf8" });
  assert.match(out, /up to date/);
});

test("tags: number <-> specification name <-> XML/JSON name, unknown tags as hex", () => {
  assert.equal(tagByName("Cryptographic Algorithm"), 0x420028);
  assert.equal(tagByName("CryptographicAlgorithm"), 0x420028);
  assert.equal(tagName(0x420028), "CryptographicAlgorithm");
  assert.equal(tagSpecName(0x420028), "Cryptographic Algorithm");
  assert.equal(Tag.RequestMessage, 0x420078);
  // Normalization of punctuation, per the profiles' rules.
  assert.equal(tagName(0x42003d), "IVCounterNonce");
  assert.equal(tagSpecName(0x42003d), "IV/Counter/Nonce");
  assert.equal(tagName(0x42004d), "MACSignature");
  assert.equal(tagName(0x4200b5), "X_509CertificateIdentifier");
  assert.equal(tagName(0x4200fb), "PKCS_12FriendlyName");
  assert.equal(tagName(0x42015a), "PKCS_11Function");
  assert.equal(tagName(0x42001f), "CommonTemplateAttribute");
  assert.equal(tagByName("Common Template-Attribute"), 0x42001f);
  // KMIP 2.1 additions.
  assert.equal(tagByName("AsynchronousCorrelationValues"), 0x420176);
  assert.equal(tagByName("Object Groups"), 0x420166);
  // Unknown tags round-trip as hex.
  assert.equal(tagName(0x540001), "0x540001");
  assert.equal(tagByName("0x540001"), 0x540001);
  assert.equal(tagByName("0x4200FF"), 0x4200ff);
  assert.equal(isKnownTag(0x540001), false);
  assert.equal(tagByName("NoSuchTag"), undefined);
  assert.equal(tagByName("0x12345678"), undefined);
  // Every table row resolves both ways.
  for (const [value, spec, xml] of TAG_TABLE) {
    assert.equal(tagByName(spec), value, spec);
    assert.equal(tagByName(xml), value, xml);
    assert.equal(tagName(value), xml);
  }
  assert.ok(TAG_TABLE.length >= 370);
});

test("enumerations: value <-> specification name <-> XML/JSON name, per tag, unknown values as hex", () => {
  assert.equal(enumValue(Tag.Operation, "Create Key Pair"), 2);
  assert.equal(enumValue(Tag.Operation, "CreateKeyPair"), 2);
  assert.equal(enumName(Tag.Operation, 2), "CreateKeyPair");
  assert.equal(enumSpecName(Tag.Operation, 2), "Create Key Pair");
  assert.equal(enumName(Tag.Operation, 0x3b), "Ping"); // 2.1
  assert.equal(enumName(Tag.Operation, 0x5a), "0x0000005a");
  assert.equal(enumValue(Tag.Operation, "0x8000000A"), 0x8000000a);
  assert.equal(enumValue(Tag.Operation, "Frobnicate"), undefined);
  assert.equal(enumName(Tag.CryptographicAlgorithm, 2), "DES3");
  assert.equal(enumSpecName(Tag.CryptographicAlgorithm, 2), "3DES");
  assert.equal(enumName(Tag.HashingAlgorithm, 6), "SHA_256");
  assert.equal(enumName(Tag.MaskGeneratorHashingAlgorithm, 6), "SHA_256");
  assert.equal(enumName(Tag.KeyFormatType, 5), "X_509");
  assert.equal(enumName(Tag.State, 1), "PreActive");
  assert.equal(enumName(Tag.Operation, 4), "ReKey");
  assert.equal(enumName(Tag.ResultStatus, 0), "Success");
  assert.equal(enumName(Tag.RNGAlgorithm, 5), "ANSIX9_31");
  // Older spellings are accepted, the current one is written.
  assert.equal(enumValue(Tag.HashingAlgorithm, "SHA-3-256"), 0x0f);
  assert.equal(enumName(Tag.HashingAlgorithm, 0x0f), "SHA3_256");
  assert.equal(enumValue(Tag.DigitalSignatureAlgorithm, "SHA-256 with RSA Encryption (PKCS#1 v1.5)"), 5);
  // Unique Identifier (2.0 ID Placeholder) and the tag-valued Attribute Reference.
  assert.equal(enumValue(Tag.UniqueIdentifier, "IDPlaceholder"), 1);
  assert.equal(enumValue(Tag.AttributeReference, "CryptographicUsageMask"), Tag.CryptographicUsageMask);
  assert.equal(enumName(Tag.AttributeReference, Tag.State), "State");
  // Enum constants for code.
  assert.equal(Enum.Operation.Get, 0x0a);
  assert.equal(Enum.ObjectType.SymmetricKey, 2);
  assert.equal(Enum.ResultReason.InvalidMessage, 4);
  assert.equal(Enum.ResultReason.InvalidField, 7);
  assert.equal(Enum.ItemType.DateTimeExtended, ItemType.DateTimeExtended);
  // Every table row resolves both ways on its tags.
  for (const def of ENUM_TABLE) {
    for (const tag of def.tags) {
      assert.equal(enumForTag(tag), def);
      for (const [value, spec, xml] of def.values) {
        assert.equal(enumValue(tag, spec), value, `${def.name} ${spec}`);
        assert.equal(enumValue(tag, xml), value, `${def.name} ${xml}`);
        assert.equal(enumName(tag, value), xml);
      }
    }
  }
});

test("the enumerations a KMIP 1.0–2.1 server needs are present and attached to their tags", () => {
  const expected = [
    "Operation",
    "Object Type",
    "Cryptographic Algorithm",
    "Block Cipher Mode",
    "Padding Method",
    "Hashing Algorithm",
    "Key Format Type",
    "Result Status",
    "Result Reason",
    "State",
    "Revocation Reason Code",
    "Name Type",
    "Query Function",
    "Attestation Type",
    "Key Role Type",
    "Digital Signature Algorithm",
    "Key Compression Type",
    "Wrapping Method",
    "Encoding Option",
    "Link Type",
    "Object Group Member",
    "Unique Identifier",
    "Validity Indicator",
    "Recommended Curve",
    "Secret Data Type",
    "Opaque Data Type",
    "Certificate Type",
    "Mask Generator",
    "Credential Type",
    "Usage Limits Unit",
    "Destroy Action",
    "Alternative Name Type",
    "Key Value Location Type",
    "Batch Error Continuation Option",
    "Certificate Request Type",
    "Split Key Method",
    "Derivation Method",
    "Put Function",
    "Profile Name",
    "Client Registration Method",
    "Key Wrap Type",
    "Adjustment Type",
    "Asynchronous Indicator",
    "Processing Stage",
    "Rotate Name Type",
    "PKCS#11 Function",
    "PKCS#11 Return Code",
  ];
  for (const name of expected) {
    const def = enumByName(name);
    assert.ok(def, `enumeration ${name}`);
    assert.equal(def.mask, false, name);
    assert.ok(def.tags.length > 0, `${name} is attached to a tag`);
  }
  for (const name of ["Cryptographic Usage Mask", "Storage Status Mask", "Protection Storage Mask"]) {
    const def = enumByName(name);
    assert.ok(def?.mask, `${name} is a mask`);
    assert.ok(isMaskTag(def.tags[0]));
  }
  assert.equal(enumByName("ProtectionStorageMask")?.name, "Protection Storage Mask");
});

test("masks: symbolic names both ways, '|' or space separated, unnamed bits as hex", () => {
  const t = Tag.CryptographicUsageMask;
  assert.equal(maskNames(t, 12), "Encrypt Decrypt");
  assert.equal(maskNames(t, 12, "|"), "Encrypt|Decrypt");
  assert.equal(maskValue(t, "Encrypt Decrypt"), 12);
  assert.equal(maskValue(t, "Decrypt Encrypt"), 12);
  assert.equal(maskValue(t, "Sign|Verify"), 3);
  assert.equal(maskValue(t, "Encrypt | Decrypt MACGenerate MACVerify"), 0x18c);
  assert.equal(maskValue(t, "MAC Generate"), undefined); // the spec name has a space: only the XML name is a token
  assert.equal(maskNames(t, 0x80000001), "Sign 0x80000000");
  assert.equal(maskValue(t, "Sign 0x80000000"), 0x80000001);
  assert.equal(maskNames(t, 0), "0");
  assert.equal(maskValue(t, "0"), 0);
  assert.equal(maskValue(t, "Bogus"), undefined);
  assert.equal(maskValue(t, ""), undefined);
  assert.equal(maskNames(Tag.StorageStatusMask, 3), "OnLineStorage ArchivalStorage");
  assert.equal(maskValue(Tag.ProtectionStorageMask, "Software Hardware"), 3);
});
