// Name lookups over the generated KMIP tables: tags and enumeration values by number, specification name or XML/JSON name.
//
// The KMIP XML and JSON profiles spell names without spaces ("CreateKeyPair"); the specification spells them with
// spaces ("Create Key Pair"). Lookups accept both, and hex ("0x420001", "0x00000005"), which is how the profiles
// represent tags and enumeration values that have no name: unknown values always round-trip as hex.

import { ENUM_TABLE, type EnumDef, TAG_ENUMERATION, TAG_TABLE } from "./tables.js";

export type { EnumDef } from "./tables.js";

interface EnumIndex {
  readonly def: EnumDef;
  /** The enumeration's values are tags (the Tag enumeration, used by the 2.0 Attribute Reference). */
  readonly ofTags: boolean;
  readonly byValue: Map<number, readonly [number, string, string]>;
  readonly byName: Map<string, number>;
}

const tagXml = new Map<number, string>();
const tagSpec = new Map<number, string>();
const tagNames = new Map<string, number>();
for (const [value, spec, xml] of TAG_TABLE) {
  tagXml.set(value, xml);
  tagSpec.set(value, spec);
  tagNames.set(xml, value);
  tagNames.set(spec, value);
}

const enumsByTag = new Map<number, EnumIndex>();
const enumsByName = new Map<string, EnumIndex>();
for (const def of ENUM_TABLE) {
  const byName = new Map<string, number>();
  for (const [value, spec, xml] of def.aliases) {
    byName.set(spec, value);
    byName.set(xml, value);
  }
  for (const [value, spec, xml] of def.values) {
    byName.set(spec, value);
    byName.set(xml, value);
  }
  const index: EnumIndex = { def, ofTags: def.name === TAG_ENUMERATION, byValue: new Map(def.values.map((v) => [v[0], v])), byName };
  enumsByName.set(def.name, index);
  enumsByName.set(def.xmlName, index);
  for (const tag of def.tags) enumsByTag.set(tag, index);
}

function hex(value: number, digits: number): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}

/** Parses "0x…" hex of at most `maxDigits` digits; undefined for anything else. */
export function parseHex(text: string, maxDigits: number): number | undefined {
  if (text.length < 3 || text.length > maxDigits + 2 || text[0] !== "0" || (text[1] !== "x" && text[1] !== "X")) return undefined;
  let n = 0;
  for (let i = 2; i < text.length; i++) {
    const d = hexDigit(text.charCodeAt(i));
    if (d < 0) return undefined;
    n = n * 16 + d;
  }
  return n;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Tag as written in hex by the XML/JSON profiles: "0x420001". */
export function tagHex(tag: number): string {
  return hex(tag, 6);
}

/** XML/JSON name of a tag ("RequestMessage"), or its hex form when it has none. */
export function tagName(tag: number): string {
  return tagXml.get(tag) ?? hex(tag, 6);
}

/** Specification name of a tag ("Request Message"), or its hex form when it has none. */
export function tagSpecName(tag: number): string {
  return tagSpec.get(tag) ?? hex(tag, 6);
}

/** Tag by XML/JSON name, specification name, or hex ("0x420001"); undefined when unknown. */
export function tagByName(name: string): number | undefined {
  return tagNames.get(name) ?? parseHex(name, 6);
}

/**
 * A tag for an error message: its XML/JSON name when our table has one, else only what kind of tag it is. Never
 * the hex of an unnamed tag: that is request content, and errors echo none (they go to the reply and the audit log).
 */
export function tagLabel(tag: number): string {
  const name = tagXml.get(tag);
  if (name !== undefined) return name;
  return tag >= 0x540000 && tag <= 0x54ffff ? "(extension tag)" : "(unnamed tag)";
}

/** Whether the tag has a name in KMIP 1.0–2.1. */
export function isKnownTag(tag: number): boolean {
  return tagXml.has(tag);
}

/** The enumeration or mask that items with this tag carry, if any. */
export function enumForTag(tag: number): EnumDef | undefined {
  return enumsByTag.get(tag)?.def;
}

/** An enumeration or mask by specification or XML/JSON name ("Cryptographic Algorithm" or "CryptographicAlgorithm"). */
export function enumByName(name: string): EnumDef | undefined {
  return enumsByName.get(name)?.def;
}

/** Whether items with this tag are bit masks (Integers written symbolically in XML/JSON). */
export function isMaskTag(tag: number): boolean {
  return enumsByTag.get(tag)?.def.mask === true;
}

/** XML/JSON name of an enumeration value of this tag ("CreateKeyPair"), or "0x0000002a" hex when it has none. */
export function enumName(tag: number, value: number): string {
  const index = enumsByTag.get(tag);
  if (index?.ofTags) return tagXml.get(value) ?? hex(value, 8);
  return index?.byValue.get(value)?.[2] ?? hex(value, 8);
}

/** Specification name of an enumeration value of this tag ("Create Key Pair"), or hex when it has none. */
export function enumSpecName(tag: number, value: number): string {
  const index = enumsByTag.get(tag);
  if (index?.ofTags) return tagSpec.get(value) ?? hex(value, 8);
  return index?.byValue.get(value)?.[1] ?? hex(value, 8);
}

/** Enumeration value of this tag by XML/JSON name, specification name or hex; undefined when unknown. */
export function enumValue(tag: number, name: string): number | undefined {
  const index = enumsByTag.get(tag);
  const known = index?.ofTags ? tagNames.get(name) : index?.byName.get(name);
  return known ?? parseHex(name, 8);
}

/**
 * Symbolic form of a mask value: the names of its set bits separated by `separator` ("Encrypt Decrypt"); bits
 * without a name are appended as one hex number. Zero is "0".
 */
export function maskNames(tag: number, value: number, separator = " "): string {
  const index = enumsByTag.get(tag);
  let rest = value >>> 0;
  if (rest === 0) return "0";
  const parts: string[] = [];
  if (index?.def.mask) {
    for (const [bit, , xml] of index.def.values) {
      if ((rest & bit) !== 0) {
        parts.push(xml);
        rest = (rest & ~bit) >>> 0;
      }
    }
  }
  if (rest !== 0) parts.push(hex(rest, 8));
  return parts.join(separator);
}

/**
 * Mask value from its symbolic form: names and numbers (decimal or hex) separated by spaces or '|', OR-ed
 * together. Undefined when a token is not a name of this tag's mask or not a 32-bit number.
 */
export function maskValue(tag: number, text: string): number | undefined {
  const index = enumsByTag.get(tag);
  let value = 0;
  let tokens = 0;
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    const separator = c === 32 || c === 124 || c === 9 || c === 10 || c === 13;
    if (!separator) {
      if (start < 0) start = i;
      continue;
    }
    if (start < 0) continue;
    const token = text.slice(start, i);
    start = -1;
    const bits = (index?.def.mask ? index.byName.get(token) : undefined) ?? parseHex(token, 8) ?? parseDecimalU32(token);
    if (bits === undefined) return undefined;
    value = (value | bits) >>> 0;
    tokens++;
  }
  return tokens === 0 ? undefined : value;
}

function parseDecimalU32(text: string): number | undefined {
  if (text.length === 0 || text.length > 10) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    n = n * 10 + (c - 48);
  }
  return n <= 0xffffffff ? n : undefined;
}
