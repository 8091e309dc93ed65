// KMIP attributes: read 1.x Template-Attribute and 2.x Attributes forms, compute an object's attributes, encode them back.
import { createHash, X509Certificate } from "node:crypto";
import { fail } from "../errors/registry.js";
import type { ObjectRow } from "../keys/key-model.js";
import type { ObjectAttributes } from "../keys/key-service.js";
import type { UsageLimits } from "../keys/key-use.js";
import { certificateIdentifiers } from "../pki/x509.js";
import { enumValue, tagByName, tagSpecName } from "./codec/names.js";
import { Enum } from "./codec/tables.js";
import {
  bool,
  bytes,
  dateTime,
  decodeTtlv,
  encodeTtlv,
  enm,
  find,
  findAll,
  ItemType,
  int,
  interval,
  long,
  type StructureItem,
  struct,
  Tag,
  type TtlvItem,
  text,
} from "./codec/ttlv.js";

/** One attribute value: its spec name ("Cryptographic Algorithm", "x-ID") and the value tagged with the attribute's own tag. */
export interface Attr {
  name: string;
  value: TtlvItem;
}

export const is2x = (major: number): boolean => major >= 2;

/** Attributes the server sets; a client may not add, modify or delete them (KMIP 1.4 §3, 2.1 §4 rules). */
const READ_ONLY = new Set([
  "Unique Identifier",
  "Object Type",
  "Cryptographic Algorithm",
  "Cryptographic Length",
  "Cryptographic Usage Mask",
  "Cryptographic Domain Parameters",
  "Certificate Type",
  "Certificate Length",
  "Certificate Identifier",
  "Certificate Subject",
  "Certificate Issuer",
  "Digital Signature Algorithm",
  "Digest",
  "State",
  "Initial Date",
  "Destroy Date",
  "Compromise Occurrence Date",
  "Compromise Date",
  "Revocation Reason",
  "Archive Date",
  "Last Change Date",
  "Lease Time",
  "Key Value Present",
  "Always Sensitive",
  "Never Extractable",
  "Fresh",
  "Original Creation Date",
  "Random Number Generator",
  "Usage Limits",
]);

/** Attributes that take one value. Everything else (Name, Link, Object Group, custom …) is multi-valued. */
const SINGLE = new Set([
  ...READ_ONLY,
  "Operation Policy Name",
  "Activation Date",
  "Process Start Date",
  "Protect Stop Date",
  "Deactivation Date",
  "Contact Information",
  "Usage Limits",
  "Sensitive",
  "Extractable",
  "Description",
  "Comment",
  "Cryptographic Parameters",
]);
/** 1.x lets Cryptographic Parameters repeat; treat it as multi there. */
export const isSingleValued = (name: string, major: number): boolean =>
  SINGLE.has(name) && !(name === "Cryptographic Parameters" && major < 2);
export const isReadOnly = (name: string): boolean => READ_ONLY.has(name);
/** Derived from table columns rather than stored. */
const DERIVED = new Set([
  "Unique Identifier",
  "Object Type",
  "Cryptographic Usage Mask",
  "State",
  "Initial Date",
  "Last Change Date",
  "Activation Date",
  "Deactivation Date",
  "Compromise Date",
  "Destroy Date",
  "Revocation Reason",
  "Name",
  "Link",
  "Digest",
  "Compromise Occurrence Date",
  // Server-maintained (see objectAttributes); a value sent at creation only sets the initial fact.
  "Fresh",
  "Always Sensitive",
  "Never Extractable",
  "Lease Time",
  "Random Number Generator",
  "Short Unique Identifier",
  "Key Format Type",
  "Protection Storage Mask",
  "Initial Date",
  "Certificate Type",
  "Certificate Length",
  "Usage Limits",
]);

/** "x-Foo" style names for custom attributes (1.x Attribute Name, 2.x Vendor Identification + Attribute Name). */
const isCustom = (name: string) => /^[xy]-/.test(name);

function retag(item: TtlvItem, tag: number): TtlvItem {
  return { ...item, tag } as TtlvItem;
}

/** Spec name of an attribute tag ("Cryptographic Algorithm"). */
export const attrNameOfTag = (tag: number): string => tagSpecName(tag);

function attrTag(name: string): number {
  const t = tagByName(name.replace(/\s+/g, "")) ?? tagByName(name);
  // The name is request content: not echoed (errors reach the reply and the audit log).
  if (t === undefined) fail("validation", { detail: `unknown attribute name (${name.length} characters)` });
  return t as number;
}

/** Reads 1.x `Attribute {Attribute Name, Attribute Index?, Attribute Value}` children of `parent`. */
export function readAttributes1x(parent: TtlvItem | undefined): Attr[] {
  if (!parent) return [];
  return findAll(parent, Tag.Attribute).map((a) => {
    const n = find(a, Tag.AttributeName);
    if (!n || n.type !== ItemType.TextString) fail("validation", { detail: "Attribute Name missing" });
    const name = (n as TtlvItem).value as string;
    const v = find(a, Tag.AttributeValue);
    if (!v) fail("validation", { detail: "an Attribute has no Attribute Value" });
    return { name, value: isCustom(name) ? (v as TtlvItem) : retag(v as TtlvItem, attrTag(name)) };
  });
}

/** Reads a 2.x `Attributes` structure (attribute items by their own tags; vendor attributes as `Attribute`). */
export function readAttributes2x(parent: TtlvItem | undefined): Attr[] {
  if (!parent || parent.type !== ItemType.Structure) return [];
  return parent.value.map((it) => {
    if (it.tag === Tag.Attribute) {
      const vendor = find(it, Tag.VendorIdentification);
      const n = find(it, Tag.AttributeName);
      const v = find(it, Tag.AttributeValue);
      if (!vendor || !n || !v)
        fail("validation", { detail: "vendor Attribute needs Vendor Identification, Attribute Name and Attribute Value" });
      return { name: `${(vendor as TtlvItem).value}-${(n as TtlvItem).value}`, value: v as TtlvItem };
    }
    return { name: attrNameOfTag(it.tag), value: it };
  });
}

/** The request's attributes in either form: 1.x `tag1x` template (with nested Template-Attribute), or 2.x `tag2x` structure. */
export function requestAttributes(payload: TtlvItem, major: number, tag1x: number, tag2x: number): Attr[] {
  if (is2x(major)) return readAttributes2x(find(payload, tag2x));
  return readAttributes1x(find(payload, tag1x));
}

/** Encodes one attribute for a response or a 2.x Attributes structure. */
export function encodeAttr(a: Attr, major: number, index?: number): TtlvItem {
  if (is2x(major)) {
    if (isCustom(a.name)) {
      return struct(
        Tag.Attribute,
        text(Tag.VendorIdentification, a.name.slice(0, 1)),
        text(Tag.AttributeName, a.name.slice(2)),
        retag(a.value, Tag.AttributeValue),
      );
    }
    return a.value;
  }
  return struct(
    Tag.Attribute,
    text(Tag.AttributeName, a.name),
    index ? int(Tag.AttributeIndex, index) : null,
    retag(a.value, Tag.AttributeValue),
  );
}

/** Encodes a list, numbering 1.x Attribute Index within each name. */
export function encodeAttrs(list: Attr[], major: number): TtlvItem[] {
  const seen = new Map<string, number>();
  return list.map((a) => {
    const i = seen.get(a.name) ?? 0;
    seen.set(a.name, i + 1);
    return encodeAttr(a, major, i);
  });
}

// ---- storage of client-set attributes (as TTLV, base64) inside ObjectAttributes.kmip ----

type Stored = Record<string, string[]>;

export function storedAttrs(attrs: ObjectAttributes): Attr[] {
  const s = (attrs.kmip ?? {}) as Stored;
  return Object.entries(s).flatMap(([name, vals]) => vals.map((b64) => ({ name, value: decodeTtlv(Buffer.from(b64, "base64")) })));
}

export function setStored(attrs: ObjectAttributes, name: string, values: TtlvItem[]): void {
  const s = { ...((attrs.kmip ?? {}) as Stored) };
  if (values.length === 0) delete s[name];
  else s[name] = values.map((v) => encodeTtlv(v).toString("base64"));
  attrs.kmip = s;
}

export function getStored(attrs: ObjectAttributes, name: string): TtlvItem[] {
  return (((attrs.kmip ?? {}) as Stored)[name] ?? []).map((b64) => decodeTtlv(Buffer.from(b64, "base64")));
}

/** Splits request attributes into what the service models directly and what is stored as-is. */
export function storableAttributes(list: Attr[]): ObjectAttributes {
  const attrs: ObjectAttributes = {};
  const groups = new Map<string, TtlvItem[]>();
  for (const a of list) {
    if (DERIVED.has(a.name)) continue;
    groups.set(a.name, [...(groups.get(a.name) ?? []), a.value]);
  }
  for (const [name, values] of groups) setStored(attrs, name, values);
  return attrs;
}

// ---- computing an object's attributes ----

const STATE: Record<string, number> = {
  "Pre-Active": Enum.State.PreActive,
  Active: Enum.State.Active,
  Deactivated: Enum.State.Deactivated,
  Compromised: Enum.State.Compromised,
  Destroyed: Enum.State.Destroyed,
  "Destroyed Compromised": Enum.State.DestroyedCompromised,
};
export const stateValue = (s: string): number => STATE[s] ?? Enum.State.PreActive;

const REASON: Record<string, number> = {
  unspecified: Enum.RevocationReasonCode.Unspecified,
  "key-compromise": Enum.RevocationReasonCode.KeyCompromise,
  "ca-compromise": Enum.RevocationReasonCode.CACompromise,
  "affiliation-changed": Enum.RevocationReasonCode.AffiliationChanged,
  superseded: Enum.RevocationReasonCode.Superseded,
  "cessation-of-operation": Enum.RevocationReasonCode.CessationOfOperation,
  "privilege-withdrawn": Enum.RevocationReasonCode.PrivilegeWithdrawn,
};
export const reasonValue = (r: string): number => REASON[r] ?? Enum.RevocationReasonCode.Unspecified;
export const reasonName = (v: number): string => Object.entries(REASON).find(([, n]) => n === v)?.[0] ?? "unspecified";

const LINK: Record<string, number> = {
  "Certificate Link": Enum.LinkType.CertificateLink,
  "Public Key Link": Enum.LinkType.PublicKeyLink,
  "Private Key Link": Enum.LinkType.PrivateKeyLink,
  "Derivation Base Object Link": Enum.LinkType.DerivationBaseObjectLink,
  "Derived Key Link": Enum.LinkType.DerivedKeyLink,
  "Replacement Object Link": Enum.LinkType.ReplacementObjectLink,
  "Replaced Object Link": Enum.LinkType.ReplacedObjectLink,
  "Parent Link": Enum.LinkType.ParentLink,
  "Child Link": Enum.LinkType.ChildLink,
  "Previous Link": Enum.LinkType.PreviousLink,
  "Next Link": Enum.LinkType.NextLink,
  "Wrapping Key Link": Enum.LinkType.WrappingKeyLink,
};
export const linkTypeValue = (name: string): number => LINK[name] ?? Enum.LinkType.ParentLink;
export const linkTypeName = (v: number): string => Object.entries(LINK).find(([, n]) => n === v)?.[0] ?? `0x${v.toString(16)}`;

/** KMIP Cryptographic Algorithm and Length of a Strongroom type ("aes-256", "des3-168", "chacha20-256" …). */
export function algorithmOf(type: string): { algorithm: number | null; length: number | null } {
  const [fam, rest] = [type.split("-")[0], type.split("-").slice(1).join("-")];
  const A = Enum.CryptographicAlgorithm;
  switch (fam) {
    case "aes":
      return { algorithm: A.AES, length: Number(rest) };
    case "rsa":
      return { algorithm: A.RSA, length: Number(rest) };
    case "ec":
      return { algorithm: A.EC, length: Number(rest.replace("p", "")) };
    case "hmac": {
      const bits = Number(rest.replace("sha", ""));
      const alg = { 1: A.HMAC_SHA1, 224: A.HMAC_SHA224, 256: A.HMAC_SHA256, 384: A.HMAC_SHA384, 512: A.HMAC_SHA512 }[bits];
      return { algorithm: alg ?? null, length: bits === 1 ? 160 : bits };
    }
    case "secret":
    case "opaque":
    case "certificate":
      return { algorithm: null, length: null };
    default: {
      // Other algorithms keep the KMIP enumeration name: "des3-168", "chacha20-256", "dsa-512", "camellia-128".
      const alg = enumValue(Tag.CryptographicAlgorithm, fam.toUpperCase()) ?? enumValue(Tag.CryptographicAlgorithm, fam);
      const len = Number(rest);
      return { algorithm: alg ?? null, length: alg !== undefined && Number.isFinite(len) && len > 0 ? len : null };
    }
  }
}

const date = (tag: number, iso: string | null | undefined) => (iso ? dateTime(tag, new Date(iso)) : null);

/** The Key Format Type of a generated object: Raw for symmetric keys and secret data, PKCS#1 for RSA, else PKCS#8 / X.509. */
export function defaultKeyFormat(objectType: string, type: string): number {
  const F = Enum.KeyFormatType;
  if (objectType === "SymmetricKey" || objectType === "SecretData") return F.Raw;
  if (type.startsWith("rsa-")) return F.PKCS_1;
  return objectType === "PublicKey" ? F.X_509 : F.PKCS_8;
}

/**
 * Attributes of an X.509 certificate (KMIP 1.x X.509 Certificate Identifier/Subject/Issuer, 2.x Certificate Subject
 * and Issuer components), with Certificate Type and Certificate Length.
 */
export function certificateAttributes(der: Buffer, major: number): Attr[] {
  const out: Attr[] = [
    { name: "Certificate Type", value: enm(Tag.CertificateType, Enum.CertificateType.X_509) },
    { name: "Certificate Length", value: int(Tag.CertificateLength, der.length) },
  ];
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return out;
  }
  if (major >= 2) {
    const parts = (dn: string) => dn.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const);
    const FIELDS: Record<string, string> = {
      CN: "CN",
      O: "O",
      OU: "OU",
      emailAddress: "Email",
      C: "C",
      ST: "ST",
      L: "L",
      UID: "UID",
      serialNumber: "Serial Number",
      title: "Title",
      DC: "DC",
      dnQualifier: "DN Qualifier",
    };
    for (const [which, dn] of [
      ["Subject", cert.subject],
      ["Issuer", cert.issuer],
    ] as const) {
      for (const [k, v] of parts(dn)) {
        const field = FIELDS[k];
        const name = field && `Certificate ${which} ${field}`;
        const tag = name ? tagByName(name.replace(/\s+/g, "")) : undefined;
        if (name && tag !== undefined) out.push({ name, value: text(tag, v) });
      }
    }
    return out;
  }
  try {
    const { serial, issuer, subject } = certificateIdentifiers(der);
    out.push({
      name: "X.509 Certificate Identifier",
      value: struct(Tag.X_509CertificateIdentifier, bytes(Tag.IssuerDistinguishedName, issuer), bytes(Tag.CertificateSerialNumber, serial)),
    });
    out.push({
      name: "X.509 Certificate Subject",
      value: struct(Tag.X_509CertificateSubject, bytes(Tag.SubjectDistinguishedName, subject)),
    });
    out.push({ name: "X.509 Certificate Issuer", value: struct(Tag.X_509CertificateIssuer, bytes(Tag.IssuerDistinguishedName, issuer)) });
  } catch {
    // Not parseable beyond what X509Certificate accepted: the generic attributes only.
  }
  return out;
}

/** What a Digest is computed over: the object's value in its Key Format Type (no format for certificates and opaque objects). */
export interface DigestInput {
  bytes: Buffer;
  format: number | null;
}

/** The Digest attribute of a value: SHA-256 (the algorithm KMIP makes mandatory) over the value in the named Key Format Type. */
export function digestAttribute(d: DigestInput): StructureItem {
  return struct(
    Tag.Digest,
    enm(Tag.HashingAlgorithm, Enum.HashingAlgorithm.SHA_256),
    bytes(Tag.DigestValue, createHash("sha256").update(d.bytes).digest()),
    d.format !== null ? enm(Tag.KeyFormatType, d.format) : null,
  );
}

/**
 * Lease Time: "a time interval for a Managed Cryptographic Object beyond which the client SHALL NOT use the object
 * without obtaining another lease". Clients re-check a key's state (revocation, destruction) at least hourly.
 */
export const LEASE_TIME_SECONDS = 3600;

/** RNG Parameters of the server's generator: node:crypto draws from OpenSSL 3's default CTR_DRBG over AES-256. */
export function serverRng(): StructureItem {
  return struct(
    Tag.RandomNumberGenerator,
    enm(Tag.RNGAlgorithm, Enum.RNGAlgorithm.DRBG),
    enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
    int(Tag.CryptographicLength, 256),
    enm(Tag.DRBGAlgorithm, Enum.DRBGAlgorithm.CTR),
  );
}

/** Server-maintained attributes introduced after KMIP 1.0, by the version that added them. */
const SINCE: Record<string, [number, number]> = {
  Fresh: [1, 1],
  "Original Creation Date": [1, 2],
  "Random Number Generator": [1, 3],
  Sensitive: [1, 4],
  "Always Sensitive": [1, 4],
  Extractable: [1, 4],
  "Never Extractable": [1, 4],
  "Short Unique Identifier": [2, 0],
  "Key Format Type": [2, 0],
  "Protection Storage Mask": [2, 0],
};
const available = (name: string, v: { major: number; minor: number }) => {
  const s = SINCE[name];
  return !s || v.major > s[0] || (v.major === s[0] && v.minor >= s[1]);
};

/** Internal per-object facts kept in the attributes JSON next to the client attributes (`kmip`). */
export interface ObjectFacts {
  /** Material supplied by the client (Register), not generated here. */
  registered?: boolean;
  /** The Key Format Type the material was registered in; Get returns it in that format by default. */
  keyFormat?: number;
  secretDataType?: number;
  opaqueDataType?: number;
  /** Served to a client by Get: the object is no longer Fresh. */
  served?: boolean;
  /** Sensitive has been true since creation / Extractable has been false since creation. */
  alwaysSensitive?: boolean;
  neverExtractable?: boolean;
  /** The Digest computed while the material existed (kept after Destroy), as base64 TTLV. */
  digest?: string;
  /** Revoke's Compromise Occurrence Date (ISO). */
  compromiseOccurrence?: string;
  /** KMIP Usage Limits: `count` units (bytes or operations) remain of `total`. */
  usageLimits?: UsageLimits;
}

export const factsOf = (attrs: ObjectAttributes): ObjectFacts => attrs as ObjectFacts;

/** The key objects (as opposed to certificates, secret data, opaque objects). */
const isKey = (t: string) => t === "SymmetricKey" || t === "PrivateKey" || t === "PublicKey";

/**
 * Every attribute of an object as a client of version `v` sees it: the ones derived from the object's record and
 * the ones the specification has the server set and maintain, then the client-set ones stored as
 * sent. The order is stable (identity first); KMIP does not define one.
 */
export function objectAttributes(
  o: ObjectRow,
  names: string[],
  digestOf: () => DigestInput | null,
  v: { major: number; minor: number } = { major: 2, minor: 1 },
): Attr[] {
  const attrs = JSON.parse(o.attributes) as ObjectAttributes;
  const facts = factsOf(attrs);
  const stored = storedAttrs(attrs);
  const has = (name: string) => stored.some((a) => a.name === name);
  const storedValue = (name: string) => stored.find((a) => a.name === name)?.value;
  const out: Attr[] = [];
  const push = (name: string, value: TtlvItem | null) => {
    if (value && available(name, v)) out.push({ name, value });
  };
  push("Unique Identifier", text(Tag.UniqueIdentifier, o.id));
  // KMIP 2.x Short Unique Identifier: a fixed-size (SHA-256) handle derived from the Unique Identifier.
  push("Short Unique Identifier", bytes(Tag.ShortUniqueIdentifier, createHash("sha256").update(o.id, "utf8").digest()));
  push("Object Type", enm(Tag.ObjectType, Enum.ObjectType[o.object_type]));
  const alg = algorithmOf(o.type);
  if (!has("Cryptographic Algorithm") && alg.algorithm !== null)
    push("Cryptographic Algorithm", enm(Tag.CryptographicAlgorithm, alg.algorithm));
  if (!has("Cryptographic Length") && alg.length !== null && isKey(o.object_type))
    push("Cryptographic Length", int(Tag.CryptographicLength, alg.length));
  for (const n of names) push("Name", struct(Tag.Name, text(Tag.NameValue, n), enm(Tag.NameType, Enum.NameType.UninterpretedTextString)));
  if (o.object_type !== "OpaqueObject" && o.object_type !== "Certificate")
    push("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, o.usage_mask));
  push("State", enm(Tag.State, stateValue(o.state)));
  push("Initial Date", date(Tag.InitialDate, o.created_at));
  push("Last Change Date", date(Tag.LastChangeDate, o.updated_at));
  // Original Creation Date: set by the server when the object is created or registered here, unless the client
  // supplied it (registering an object made elsewhere).
  if (!has("Original Creation Date")) push("Original Creation Date", date(Tag.OriginalCreationDate, o.created_at));
  // A future Activation Date is kept as sent until the object is activated.
  const futureActivation = storedValue("Activation Date");
  push(
    "Activation Date",
    o.activated_at ? date(Tag.ActivationDate, o.activated_at) : futureActivation ? { ...futureActivation, tag: Tag.ActivationDate } : null,
  );
  push("Deactivation Date", date(Tag.DeactivationDate, o.deactivated_at));
  push("Compromise Date", date(Tag.CompromiseDate, o.compromised_at));
  push(
    "Compromise Occurrence Date",
    date(Tag.CompromiseOccurrenceDate, facts.compromiseOccurrence ?? (o.compromised_at ? o.compromised_at : null)),
  );
  push("Destroy Date", date(Tag.DestroyDate, o.destroyed_at));
  if (o.revocation_reason)
    push("Revocation Reason", struct(Tag.RevocationReason, enm(Tag.RevocationReasonCode, reasonValue(o.revocation_reason))));
  for (const l of attrs.links ?? []) {
    push("Link", struct(Tag.Link, enm(Tag.LinkType, linkTypeValue(l.type)), text(Tag.LinkedObjectIdentifier, l.id)));
  }
  const digest = digestOf();
  if (digest) push("Digest", digestAttribute(digest));
  else if (facts.digest) push("Digest", decodeTtlv(Buffer.from(facts.digest, "base64")));
  if (isKey(o.object_type) || o.object_type === "SecretData") {
    push("Key Format Type", enm(Tag.KeyFormatType, facts.keyFormat ?? defaultKeyFormat(o.object_type, o.type)));
    // Fresh: "SHALL be set to True when a new object is created on the server", false once served (see Get).
    push("Fresh", bool(Tag.Fresh, !facts.served));
    const sensitive = storedValue("Sensitive")?.value === true;
    const extractable = storedValue("Extractable")?.value !== false;
    if (!has("Sensitive")) push("Sensitive", bool(Tag.Sensitive, false));
    if (!has("Extractable")) push("Extractable", bool(Tag.Extractable, true));
    push("Always Sensitive", bool(Tag.AlwaysSensitive, facts.alwaysSensitive ?? sensitive));
    push("Never Extractable", bool(Tag.NeverExtractable, facts.neverExtractable ?? !extractable));
    push("Lease Time", interval(Tag.LeaseTime, LEASE_TIME_SECONDS));
    // Key material lives in software, wrapped under the KEK at rest.
    push("Protection Storage Mask", int(Tag.ProtectionStorageMask, Enum.ProtectionStorageMask.Software));
    if (!facts.registered) push("Random Number Generator", serverRng());
  }
  if (facts.usageLimits) {
    const u = facts.usageLimits;
    push(
      "Usage Limits",
      struct(
        Tag.UsageLimits,
        long(Tag.UsageLimitsTotal, BigInt(u.total)),
        long(Tag.UsageLimitsCount, BigInt(u.count)),
        enm(Tag.UsageLimitsUnit, u.unit === "byte" ? Enum.UsageLimitsUnit.Byte : Enum.UsageLimitsUnit.Object),
      ),
    );
  }
  for (const a of stored) if (!DERIVED.has(a.name)) push(a.name, a.value);
  return out;
}

/** The 2.x Attributes structure (or 1.x Template-Attribute) holding `list`. */
export function attributesStructure(list: Attr[], major: number, tag2x = Tag.Attributes, tag1x = Tag.TemplateAttribute): StructureItem {
  return struct(is2x(major) ? tag2x : tag1x, ...encodeAttrs(list, major));
}

/** Names requested by Get Attributes: 1.x Attribute Name text, 2.x Attribute Reference (enumeration of tags, or a vendor structure). */
export function requestedNames(payload: TtlvItem, major: number): string[] {
  if (!is2x(major)) return findAll(payload, Tag.AttributeName).map((n) => String(n.value));
  return findAll(payload, Tag.AttributeReference).map((r) => {
    if (r.type === ItemType.Enumeration) return attrNameOfTag(r.value);
    const vendor = find(r, Tag.VendorIdentification);
    const n = find(r, Tag.AttributeName);
    return `${vendor?.value ?? "x"}-${n?.value ?? ""}`;
  });
}
