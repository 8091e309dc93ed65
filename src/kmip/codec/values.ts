// Text forms of TTLV values shared by the KMIP XML and JSON encodings: hex, ISO 8601 dates, symbolic enumerations and masks.
//
// From the KMIP XML/JSON profiles: Byte Strings and Big Integers are hex; Date-Times are ISO 8601; Enumerations are
// names, or hex ("0x0000002A") when they have none; masks "SHALL be encoded as Integers but in symbolic form".

import { invalidField } from "./errors.js";
import { enumName, enumValue, isMaskTag, maskNames, maskValue, tagByName, tagLabel } from "./names.js";
import { ItemType, Tag } from "./tables.js";
import type { TtlvItem, ValueOf } from "./ttlv.js";

/** Item type by its XML/JSON name ("TextString"). */
export const ITEM_TYPE_BY_NAME: ReadonlyMap<string, ItemType> = new Map(Object.entries(ItemType));
/** XML/JSON name of an item type. */
export const ITEM_TYPE_NAME: ReadonlyMap<number, string> = new Map(Object.entries(ItemType).map(([name, type]) => [type, name]));

/** Where a value occurs, for the placeholder hook of the XML and JSON decoders. */
export interface ValueContext {
  /** The item's tag. */
  tag: number;
  /** The item's type (from its `type` attribute or member). */
  type: ItemType;
}

/**
 * Rewrites a value's text before it is typed; the XML and JSON decoders call it for every text value. A test
 * harness uses it to substitute the conformance vectors' placeholders ("$UNIQUE_IDENTIFIER_0", "$NOW-3600").
 */
export type ValueHook = (text: string, context: ValueContext) => string;

/**
 * The tag whose enumeration names a value. Usually the item's own tag; for a KMIP 1.x Attribute Value it is the
 * attribute named by the preceding Attribute Name ("Cryptographic Algorithm" → names like "AES").
 */
export function namingTag(tag: number, attributeName: string | undefined): number {
  if (tag === Tag.AttributeValue && attributeName !== undefined) return tagByName(attributeName) ?? tag;
  return tag;
}

/**
 * The Attribute Name in effect after `item` among a structure's children: an Attribute Value is named by the
 * closest Attribute Name before it ("Attribute Name … Attribute Value" is the order KMIP 1.x prescribes).
 */
export function attributeNameAfter(item: TtlvItem, current: string | undefined): string | undefined {
  return item.tag === Tag.AttributeName && item.type === ItemType.TextString ? item.value : current;
}

// ---------------------------------------------------------------------------------------------------------------------
// Parsing

/** Parses the text form of a non-structure value; throws TtlvError ("Invalid Field") when it does not fit the type. */
export function parseValue<T extends ItemType>(type: T, text: string, nameTag: number): ValueOf<T>;
export function parseValue(type: ItemType, text: string, nameTag: number): TtlvItem["value"] {
  switch (type) {
    case ItemType.Integer: {
      const n = parseInteger(text, INT32_MIN, INT32_MAX, 32);
      if (n !== undefined) return Number(n);
      const mask = isMaskTag(nameTag) ? maskValue(nameTag, text) : undefined;
      if (mask === undefined) throw invalidField(`value is not an Integer (${text.length} characters)`);
      return mask | 0;
    }
    case ItemType.LongInteger: {
      const n = parseInteger(text, INT64_MIN, INT64_MAX, 64);
      if (n === undefined) throw invalidField(`value is not a Long Integer (${text.length} characters)`);
      return n;
    }
    case ItemType.BigInteger:
      return parseBigInteger(text);
    case ItemType.Enumeration: {
      const n = enumValue(nameTag, text);
      if (n === undefined) throw invalidField(`value is not a value of ${tagLabel(nameTag)} (${text.length} characters)`);
      return n;
    }
    case ItemType.Boolean:
      if (text === "true") return true;
      if (text === "false") return false;
      throw invalidField(`value is not a Boolean (true or false)`);
    case ItemType.TextString:
      return text;
    case ItemType.ByteString:
      return parseHexBytes(text);
    case ItemType.DateTime:
      return parseDateTime(text, false);
    case ItemType.Interval: {
      const n = parseInteger(text, 0n, UINT32_MAX, 32);
      if (n === undefined) throw invalidField(`value is not an Interval (${text.length} characters)`);
      return Number(n);
    }
    case ItemType.DateTimeExtended:
      return parseDateTime(text, true);
    default:
      throw invalidField(`a Structure has no text value`);
  }
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const UINT32_MAX = 2n ** 32n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A decimal integer within [min, max], or hex ("0x0000000C") of at most `bits` bits read as two's complement when
 * min is negative; undefined when the text is neither.
 */
function parseInteger(text: string, min: bigint, max: bigint, bits: 32 | 64): bigint | undefined {
  if (/^-?[0-9]{1,20}$/.test(text)) {
    const n = BigInt(text);
    return n < min || n > max ? undefined : n;
  }
  if (/^0[xX][0-9a-fA-F]+$/.test(text) && text.length <= bits / 4 + 2) {
    const n = BigInt(text);
    return min < 0n ? BigInt.asIntN(bits, n) : n;
  }
  return undefined;
}

function parseBigInteger(text: string): bigint {
  const hex = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) throw invalidField("value is not a hex Big Integer"); // no echo: it may be key material
  // Two's complement over the bytes given, as in TTLV.
  return BigInt.asIntN(hex.length * 4, BigInt(`0x${hex}`));
}

export function parseHexBytes(text: string): Buffer {
  const hex = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw invalidField(`value is not hex (${text.length} characters)`); // no echo: it may be key material
  return Buffer.from(hex, "hex");
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * ISO 8601 date and time with an explicit offset ("2000-02-02T00:00:00+10:00", "…Z") or hex. Date-Time is whole
 * seconds (a fraction must be zero); Date-Time Extended keeps microseconds.
 */
function parseDateTime(text: string, extended: boolean): bigint {
  const hex = parseHexSigned64(text);
  if (hex !== undefined) return hex;
  const m = ISO_8601.exec(text);
  if (!m) throw invalidField(`value is not an ISO 8601 date-time with an offset (${text.length} characters)`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw invalidField("value is not a valid date-time");
  }
  const fraction = (m[7] ?? "").padEnd(9, "0");
  if (fraction.slice(extended ? 6 : 0) !== "0".repeat(extended ? 3 : 9)) {
    throw invalidField(`value has more precision than ${extended ? "microseconds" : "seconds"}`);
  }
  let offset = 0;
  if (m[8] !== "Z") {
    const oh = Number(m[8].slice(1, 3));
    const om = Number(m[8].slice(4, 6));
    if (oh > 23 || om > 59) throw invalidField("value has an invalid offset");
    offset = (m[8][0] === "-" ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const days = daysFromCivil(year, month, day);
  const seconds = BigInt(days * 86400 + hour * 3600 + minute * 60 + second - offset);
  if (!extended) return seconds;
  return seconds * 1_000_000n + BigInt(fraction.slice(0, 6));
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (the usual era-based civil calendar arithmetic). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

function parseHexSigned64(text: string): bigint | undefined {
  if (!/^0[xX][0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  return BigInt.asIntN(64, BigInt(text));
}

// ---------------------------------------------------------------------------------------------------------------------
// Formatting

/** The text form of a non-structure item's value. */
export function formatValue(item: TtlvItem, nameTag: number, maskSeparator: string): string {
  switch (item.type) {
    case ItemType.Integer:
      return isMaskTag(nameTag) ? maskNames(nameTag, item.value, maskSeparator) : String(item.value);
    case ItemType.LongInteger:
    case ItemType.Interval:
      return String(item.value);
    case ItemType.BigInteger:
      return bigIntegerHex(item.value);
    case ItemType.Enumeration:
      return enumName(nameTag, item.value);
    case ItemType.Boolean:
      return item.value ? "true" : "false";
    case ItemType.TextString:
      return item.value;
    case ItemType.ByteString:
      return item.value.toString("hex");
    case ItemType.DateTime:
      return formatDateTime(item.value, false);
    case ItemType.DateTimeExtended:
      return formatDateTime(item.value, true);
    default:
      throw invalidField("a Structure has no text value");
  }
}

/** Hex of the Big Integer's TTLV encoding: two's complement, sign-extended to a multiple of eight bytes. */
export function bigIntegerHex(value: bigint): string {
  const magnitude = value < 0n ? -value - 1n : value;
  const bits = magnitude === 0n ? 0 : magnitude.toString(2).length;
  const bytes = Math.ceil((Math.floor(bits / 8) + 1) / 8) * 8;
  return BigInt.asUintN(bytes * 8, value)
    .toString(16)
    .padStart(bytes * 2, "0");
}

const YEAR_0_MS = -62_167_219_200_000n;
const YEAR_10000_MS = 253_402_300_800_000n;

/** "2000-02-01T14:00:00+00:00" (with ".ffffff" for Date-Time Extended); hex outside years 0000–9999. */
export function formatDateTime(value: bigint, extended: boolean): string {
  const ms = extended ? value / 1000n - (value % 1000n < 0n ? 1n : 0n) : value * 1000n;
  if (ms < YEAR_0_MS || ms >= YEAR_10000_MS) {
    return `0x${BigInt.asUintN(64, value).toString(16).padStart(16, "0")}`;
  }
  const iso = new Date(Number(ms)).toISOString(); // "YYYY-MM-DDTHH:MM:SS.mmmZ"
  let text = iso.slice(0, 19);
  if (extended) {
    let micro = value % 1_000_000n;
    if (micro < 0n) micro += 1_000_000n;
    text += `.${micro.toString().padStart(6, "0")}`;
  }
  return `${text}+00:00`;
}
