// KMIP attributes: read 1.x Template-Attribute and 2.x Attributes forms, compute an object's attributes, encode them back.
import { createHash } from "node:crypto";
import { fail } from "../errors/registry.js";
import type { ObjectRow } from "../keys/key-model.js";
import type { ObjectAttributes } from "../keys/key-service.js";
import { Enum } from "./codec/tables.js";
import {
  bytes,
  dateTime,
  decodeTtlv,
  encodeTtlv,
  enm,
  find,
  findAll,
  int,
  ItemType,
  type StructureItem,
  struct,
  Tag,
  type TtlvItem,
  text,
} from "./codec/ttlv.js";
import { tagByName, tagSpecName } from "./codec/names.js";

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
export const isSingleValued = (name: string, major: number): boolean => SINGLE.has(name) && !(name === "Cryptographic Parameters" && major < 2);
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
  if (t === undefined) fail("validation", { detail: `unknown attribute '${name.slice(0, 64)}'` });
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
    if (!v) fail("validation", { detail: `Attribute Value missing for '${name.slice(0, 64)}'` });
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
      if (!vendor || !n || !v) fail("validation", { detail: "vendor Attribute needs Vendor Identification, Attribute Name and Attribute Value" });
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
      return struct(Tag.Attribute, text(Tag.VendorIdentification, a.name.slice(0, 1)), text(Tag.AttributeName, a.name.slice(2)), retag(a.value, Tag.AttributeValue));
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

/** KMIP Cryptographic Algorithm and Length of a Strongroom type. */
export function algorithmOf(type: string): { algorithm: number | null; length: number | null } {
  const [fam, rest] = [type.split("-")[0], type.split("-").slice(1).join("-")];
  switch (fam) {
    case "aes":
      return { algorithm: Enum.CryptographicAlgorithm.AES, length: Number(rest) };
    case "rsa":
      return { algorithm: Enum.CryptographicAlgorithm.RSA, length: Number(rest) };
    case "ec":
      return { algorithm: Enum.CryptographicAlgorithm.EC, length: Number(rest.replace("p", "")) };
    case "hmac": {
      const bits = Number(rest.replace("sha", ""));
      const alg = { 1: Enum.CryptographicAlgorithm.HMAC_SHA1, 224: Enum.CryptographicAlgorithm.HMAC_SHA224, 256: Enum.CryptographicAlgorithm.HMAC_SHA256, 384: Enum.CryptographicAlgorithm.HMAC_SHA384, 512: Enum.CryptographicAlgorithm.HMAC_SHA512 }[bits];
      return { algorithm: alg ?? null, length: bits === 1 ? 160 : bits };
    }
    default:
      return { algorithm: null, length: null };
  }
}

const date = (tag: number, iso: string | null) => (iso ? dateTime(tag, new Date(iso)) : null);

/** Everything a Get Attributes without names returns: derived attributes first, then stored ones. */
/** What a Digest is computed over: the object's value in its default Key Format Type (null for certificates and opaque objects). */
export interface DigestInput {
  bytes: Buffer;
  format: number | null;
}

export function objectAttributes(o: ObjectRow, names: string[], digestOf: () => DigestInput | null): Attr[] {
  const attrs = JSON.parse(o.attributes) as ObjectAttributes;
  const stored = storedAttrs(attrs);
  const out: Attr[] = [];
  const push = (name: string, value: TtlvItem | null) => {
    if (value) out.push({ name, value });
  };
  push("Unique Identifier", text(Tag.UniqueIdentifier, o.id));
  for (const n of names) push("Name", struct(Tag.Name, text(Tag.NameValue, n), enm(Tag.NameType, Enum.NameType.UninterpretedTextString)));
  push("Object Type", enm(Tag.ObjectType, Enum.ObjectType[o.object_type]));
  const alg = algorithmOf(o.type);
  if (!stored.some((a) => a.name === "Cryptographic Algorithm") && alg.algorithm !== null) {
    push("Cryptographic Algorithm", enm(Tag.CryptographicAlgorithm, alg.algorithm));
  }
  if (!stored.some((a) => a.name === "Cryptographic Length") && alg.length !== null && o.object_type !== "SecretData" && o.object_type !== "OpaqueObject") {
    push("Cryptographic Length", int(Tag.CryptographicLength, alg.length));
  }
  if (o.object_type !== "OpaqueObject" && o.object_type !== "Certificate") push("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, o.usage_mask));
  push("State", enm(Tag.State, stateValue(o.state)));
  push("Initial Date", date(Tag.InitialDate, o.created_at));
  push("Last Change Date", date(Tag.LastChangeDate, o.updated_at));
  push("Activation Date", date(Tag.ActivationDate, o.activated_at));
  push("Deactivation Date", date(Tag.DeactivationDate, o.deactivated_at));
  push("Compromise Date", date(Tag.CompromiseDate, o.compromised_at));
  push("Destroy Date", date(Tag.DestroyDate, o.destroyed_at));
  if (o.revocation_reason) push("Revocation Reason", struct(Tag.RevocationReason, enm(Tag.RevocationReasonCode, reasonValue(o.revocation_reason))));
  for (const l of attrs.links ?? []) {
    push("Link", struct(Tag.Link, enm(Tag.LinkType, linkTypeValue(l.type)), text(Tag.LinkedObjectIdentifier, l.id)));
  }
  const digest = digestOf();
  if (digest) {
    // "Digest … the digest of the Key Material in the Key Format Type named in the attribute" (KMIP 1.4 §3.17):
    // the key's default Key Format Type, the one Get returns when the client names none.
    push(
      "Digest",
      struct(
        Tag.Digest,
        enm(Tag.HashingAlgorithm, Enum.HashingAlgorithm.SHA_256),
        bytes(Tag.DigestValue, createHash("sha256").update(digest.bytes).digest()),
        digest.format !== null ? enm(Tag.KeyFormatType, digest.format) : null,
      ),
    );
  }
  out.push(...stored);
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
