// KMIP TTLV binary codec: the item tree model, a single-buffer encoder, a bounds-checked zero-copy decoder, and small builders and readers.
//
// Wire format (KMIP 1.4 §9.1, 2.1 §9): every item is a 3-byte Tag, a 1-byte Type, a 4-byte big-endian Length and the
// Value, padded with zero bytes to a multiple of eight. The Length of a Text or Byte String excludes the padding; a
// Structure's Length is that of its items, padding included.
//
// Value representation:
//   Structure → TtlvItem[]          Integer → number (int32)          Long Integer → bigint (int64)
//   Big Integer → bigint            Enumeration → number (uint32)     Boolean → boolean
//   Text String → string (UTF-8)    Byte String → Buffer              Date-Time → bigint (POSIX seconds, int64)
//   Interval → number (uint32, s)   Date-Time Extended → bigint (POSIX microseconds, int64)
// Decoded Byte Strings are views into the decoded buffer (no copy): copy them to keep them beyond the frame, and
// zeroing the frame buffer zeroes them.

import { isUtf8 } from "node:buffer";
import { invalidField, invalidMessage } from "./errors.js";
import { enumValue, tagLabel } from "./names.js";
import { ItemType, Tag, type TagName } from "./tables.js";

export { ItemType, Tag } from "./tables.js";

export interface StructureItem {
  tag: number;
  type: typeof ItemType.Structure;
  value: TtlvItem[];
}
export interface IntegerItem {
  tag: number;
  type: typeof ItemType.Integer;
  value: number;
}
export interface LongIntegerItem {
  tag: number;
  type: typeof ItemType.LongInteger;
  value: bigint;
}
export interface BigIntegerItem {
  tag: number;
  type: typeof ItemType.BigInteger;
  value: bigint;
}
export interface EnumerationItem {
  tag: number;
  type: typeof ItemType.Enumeration;
  value: number;
}
export interface BooleanItem {
  tag: number;
  type: typeof ItemType.Boolean;
  value: boolean;
}
export interface TextStringItem {
  tag: number;
  type: typeof ItemType.TextString;
  value: string;
}
export interface ByteStringItem {
  tag: number;
  type: typeof ItemType.ByteString;
  value: Buffer;
}
export interface DateTimeItem {
  tag: number;
  type: typeof ItemType.DateTime;
  value: bigint;
}
export interface IntervalItem {
  tag: number;
  type: typeof ItemType.Interval;
  value: number;
}
export interface DateTimeExtendedItem {
  tag: number;
  type: typeof ItemType.DateTimeExtended;
  value: bigint;
}

export type TtlvItem =
  | StructureItem
  | IntegerItem
  | LongIntegerItem
  | BigIntegerItem
  | EnumerationItem
  | BooleanItem
  | TextStringItem
  | ByteStringItem
  | DateTimeItem
  | IntervalItem
  | DateTimeExtendedItem;

/** The item interface for one item type, e.g. `ItemOf<typeof ItemType.Integer>` is IntegerItem. */
export type ItemOf<T extends ItemType> = Extract<TtlvItem, { type: T }>;
interface ValueByType {
  [ItemType.Structure]: TtlvItem[];
  [ItemType.Integer]: number;
  [ItemType.LongInteger]: bigint;
  [ItemType.BigInteger]: bigint;
  [ItemType.Enumeration]: number;
  [ItemType.Boolean]: boolean;
  [ItemType.TextString]: string;
  [ItemType.ByteString]: Buffer;
  [ItemType.DateTime]: bigint;
  [ItemType.Interval]: number;
  [ItemType.DateTimeExtended]: bigint;
}
/** The value representation for one item type. */
export type ValueOf<T extends ItemType> = ValueByType[T];

/** A tag by number or by XML/JSON name ("RequestMessage"). */
export type TagRef = number | TagName;

export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_MAX_ITEMS = 100_000;

export interface TtlvLimits {
  /** Deepest nesting accepted; the outermost item is at depth 1. Default 32. */
  maxDepth?: number;
  /** Most items accepted in one message, counting every item at every level. Default 100,000. */
  maxItems?: number;
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** String.prototype.isWellFormed (Node 20; not in the ES2022 lib typings): no lone surrogates. */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Value length plus zero padding to the next multiple of eight. */
function padded(length: number): number {
  return length + ((8 - (length % 8)) % 8);
}

function hexTag(tag: number): string {
  return `0x${tag.toString(16).padStart(6, "0")}`;
}

/** "All tags SHALL contain either the value 42 in hex or the value 54 in hex as the first byte." */
export function isValidTag(tag: number): boolean {
  return Number.isInteger(tag) && ((tag >= 0x420000 && tag <= 0x42ffff) || (tag >= 0x540000 && tag <= 0x54ffff));
}

// ---------------------------------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes one item (normally a Request or Response Message) into a single buffer sized in advance.
 * Throws TtlvError ("Invalid Field") when the tree holds a value its type cannot carry.
 */
export function encodeTtlv(item: TtlvItem, limits: Pick<TtlvLimits, "maxDepth"> = {}): Buffer {
  const lengths: number[] = [];
  const size = measure(item, lengths, 1, limits.maxDepth ?? DEFAULT_MAX_DEPTH);
  const buf = Buffer.alloc(size);
  const state = { buf, next: 0, lengths };
  const end = write(state, item, 0);
  if (end !== size) throw new Error(`TTLV encoder wrote ${end} bytes of ${size}`); // internal invariant
  return buf;
}

/** Encoded size in bytes of one item, padding included. */
export function encodedLength(item: TtlvItem, limits: Pick<TtlvLimits, "maxDepth"> = {}): number {
  return measure(item, [], 1, limits.maxDepth ?? DEFAULT_MAX_DEPTH);
}

/**
 * Validates the item and returns its encoded size. Variable lengths (structure contents, UTF-8 byte counts, Big
 * Integer sizes) are pushed in pre-order onto `lengths` so the write pass does not compute them again.
 */
function measure(item: TtlvItem, lengths: number[], depth: number, maxDepth: number): number {
  if (typeof item !== "object" || item === null) throw invalidField("TTLV item is not an object");
  const { tag, type, value } = item;
  if (!isValidTag(tag)) throw invalidField(`tag ${typeof tag === "number" ? hexTag(tag) : String(tag)} is not a KMIP tag`);
  if (depth > maxDepth) throw invalidField(`TTLV nesting deeper than ${maxDepth}`);
  switch (type) {
    case ItemType.Structure: {
      if (!Array.isArray(value)) throw invalidField(`structure ${hexTag(tag)} value is not an array`);
      const slot = lengths.length;
      lengths.push(0);
      let total = 0;
      for (const child of value) total += measure(child, lengths, depth + 1, maxDepth);
      if (total > UINT32_MAX) throw invalidField(`structure ${hexTag(tag)} is larger than 4 GiB`);
      lengths[slot] = total;
      return 8 + total;
    }
    case ItemType.Integer:
      if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX)
        throw invalidField(`Integer ${hexTag(tag)} is not a 32-bit integer`);
      return 16;
    case ItemType.Enumeration:
    case ItemType.Interval:
      if (!Number.isInteger(value) || value < 0 || value > UINT32_MAX)
        throw invalidField(`item ${hexTag(tag)} is not an unsigned 32-bit integer`);
      return 16;
    case ItemType.LongInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      if (typeof value !== "bigint" || value < INT64_MIN || value > INT64_MAX)
        throw invalidField(`item ${hexTag(tag)} is not a 64-bit bigint`);
      return 16;
    case ItemType.Boolean:
      if (typeof value !== "boolean") throw invalidField(`Boolean ${hexTag(tag)} is not a boolean`);
      return 16;
    case ItemType.BigInteger: {
      if (typeof value !== "bigint") throw invalidField(`Big Integer ${hexTag(tag)} is not a bigint`);
      const n = bigIntLength(value);
      lengths.push(n);
      return 8 + n;
    }
    case ItemType.TextString: {
      if (typeof value !== "string") throw invalidField(`Text String ${hexTag(tag)} is not a string`);
      if (!isWellFormed(value)) throw invalidField(`Text String ${hexTag(tag)} is not valid Unicode`);
      const n = Buffer.byteLength(value, "utf8");
      lengths.push(n);
      return 8 + padded(n);
    }
    case ItemType.ByteString:
      if (!(value instanceof Uint8Array)) throw invalidField(`Byte String ${hexTag(tag)} is not a Buffer`);
      return 8 + padded(value.length);
    default:
      throw invalidField(`item ${hexTag(tag)} has unknown type ${String(type)}`);
  }
}

interface WriteState {
  buf: Buffer;
  next: number;
  lengths: number[];
}

function writeHeader(buf: Buffer, off: number, tag: number, type: number, length: number): void {
  buf[off] = tag >>> 16;
  buf[off + 1] = (tag >>> 8) & 0xff;
  buf[off + 2] = tag & 0xff;
  buf[off + 3] = type;
  buf.writeUInt32BE(length, off + 4);
}

/** Writes a measured item at `off` into the zero-filled buffer; returns the offset after it. */
function write(state: WriteState, item: TtlvItem, off: number): number {
  const buf = state.buf;
  const v = off + 8;
  switch (item.type) {
    case ItemType.Structure: {
      const length = state.lengths[state.next++];
      writeHeader(buf, off, item.tag, item.type, length);
      let at = v;
      for (const child of item.value) at = write(state, child, at);
      return at;
    }
    case ItemType.Integer:
      writeHeader(buf, off, item.tag, item.type, 4);
      buf.writeInt32BE(item.value, v);
      return v + 8;
    case ItemType.Enumeration:
    case ItemType.Interval:
      writeHeader(buf, off, item.tag, item.type, 4);
      buf.writeUInt32BE(item.value, v);
      return v + 8;
    case ItemType.LongInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      writeHeader(buf, off, item.tag, item.type, 8);
      buf.writeBigInt64BE(item.value, v);
      return v + 8;
    case ItemType.Boolean:
      writeHeader(buf, off, item.tag, item.type, 8);
      buf[v + 7] = item.value ? 1 : 0;
      return v + 8;
    case ItemType.BigInteger: {
      const n = state.lengths[state.next++];
      writeHeader(buf, off, item.tag, item.type, n);
      // Two's complement, big-endian, sign-extended to n bytes (n is a multiple of 8).
      buf.write(
        BigInt.asUintN(n * 8, item.value)
          .toString(16)
          .padStart(n * 2, "0"),
        v,
        n,
        "hex",
      );
      return v + n;
    }
    case ItemType.TextString: {
      const n = state.lengths[state.next++];
      writeHeader(buf, off, item.tag, item.type, n);
      buf.write(item.value, v, n, "utf8");
      return v + padded(n);
    }
    case ItemType.ByteString: {
      const n = item.value.length;
      writeHeader(buf, off, item.tag, item.type, n);
      buf.set(item.value, v);
      return v + padded(n);
    }
  }
}

/**
 * Byte length of a Big Integer: "If the length of the sequence is not a multiple of eight bytes, then Big Integers
 * SHALL be padded with the minimal number of leading sign-extended bytes to make the length a multiple of eight
 * bytes. These padding bytes are part of the Item Value and SHALL be counted in the Item Length."
 */
function bigIntLength(value: bigint): number {
  const magnitude = value < 0n ? -value - 1n : value;
  let bits = 0;
  if (magnitude > 0n) {
    const hex = magnitude.toString(16);
    bits = (hex.length - 1) * 4 + (32 - Math.clz32(Number.parseInt(hex[0], 16)));
  }
  const bytes = Math.floor(bits / 8) + 1; // one more bit for the sign
  return padded(bytes);
}

// ---------------------------------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes one TTLV item that fills `input` exactly (a frame from FrameReader, or an HTTP body). Every length is
 * checked against the bytes that remain and against the enclosing structure; padding must be zero. Throws only
 * TtlvError: "Invalid Message" for malformed encoding or exceeded limits, "Invalid Field" for a value its type
 * forbids (a Boolean other than 0 or 1, a Text String that is not UTF-8).
 */
export function decodeTtlv(input: Uint8Array, limits: TtlvLimits = {}): TtlvItem {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const decoder = new Decoder(buf, limits.maxDepth ?? DEFAULT_MAX_DEPTH, limits.maxItems ?? DEFAULT_MAX_ITEMS);
  const item = decoder.item(buf.length, 1);
  if (decoder.pos !== buf.length) throw invalidMessage(`${buf.length - decoder.pos} bytes after the TTLV item`, decoder.pos);
  return item;
}

class Decoder {
  pos = 0;
  items = 0;

  constructor(
    readonly buf: Buffer,
    readonly maxDepth: number,
    readonly maxItems: number,
  ) {}

  /** Decodes the item at `pos`, which must end at or before `end`. */
  item(end: number, depth: number): TtlvItem {
    const buf = this.buf;
    const start = this.pos;
    if (end - start < 8) throw invalidMessage(`truncated item header: ${end - start} of 8 bytes`, start);
    if (++this.items > this.maxItems) throw invalidMessage(`more than ${this.maxItems} items`, start);
    if (depth > this.maxDepth) throw invalidMessage(`nesting deeper than ${this.maxDepth}`, start);
    const lead = buf[start];
    const tag = (lead << 16) | (buf[start + 1] << 8) | buf[start + 2];
    if (lead !== 0x42 && lead !== 0x54) throw invalidMessage("not a KMIP tag (first byte 42 or 54)", start);
    const type = buf[start + 3];
    const length = buf.readUInt32BE(start + 4);
    const v = start + 8;
    const room = end - v;

    if (type === ItemType.Structure) {
      if (length > room) throw invalidMessage(`structure ${tagLabel(tag)}: its length exceeds the ${room} bytes left`, start);
      const valueEnd = v + length;
      const children: TtlvItem[] = [];
      this.pos = v;
      while (this.pos < valueEnd) children.push(this.item(valueEnd, depth + 1));
      return { tag, type, value: children };
    }
    if (type < ItemType.Integer || type > ItemType.DateTimeExtended)
      throw invalidMessage(`item ${tagLabel(tag)} has an unknown item type`, start);
    const total = padded(length);
    if (total > room) throw invalidMessage(`item ${tagLabel(tag)}: its length exceeds the ${room} bytes left`, start);
    for (let i = v + length; i < v + total; i++) {
      if (buf[i] !== 0) throw invalidMessage(`item ${tagLabel(tag)} has non-zero padding`, i);
    }
    this.pos = v + total;

    switch (type) {
      case ItemType.Integer:
        fixedLength(tag, length, 4, start);
        return { tag, type, value: buf.readInt32BE(v) };
      case ItemType.Enumeration:
      case ItemType.Interval:
        fixedLength(tag, length, 4, start);
        return { tag, type, value: buf.readUInt32BE(v) };
      case ItemType.LongInteger:
      case ItemType.DateTime:
      case ItemType.DateTimeExtended:
        fixedLength(tag, length, 8, start);
        return { tag, type, value: buf.readBigInt64BE(v) };
      case ItemType.Boolean: {
        // "Booleans are encoded as an eight-byte value that SHALL either contain the hex value 0000000000000000,
        // indicating the Boolean value False, or the hex value 0000000000000001 … indicating the Boolean value True."
        fixedLength(tag, length, 8, start);
        const high = buf.readUInt32BE(v);
        const low = buf.readUInt32BE(v + 4);
        if (high !== 0 || low > 1) throw invalidField(`Boolean ${tagLabel(tag)} is neither 0 nor 1`, start);
        return { tag, type, value: low === 1 };
      }
      case ItemType.BigInteger: {
        if (length === 0 || length % 8 !== 0)
          throw invalidMessage(`Big Integer ${tagLabel(tag)}: its length is not a multiple of 8`, start);
        // Hex keeps the conversion linear in the length (a hostile 1 MiB Big Integer stays cheap).
        let value = BigInt(`0x${buf.toString("hex", v, v + length)}`);
        if (buf[v] & 0x80) value -= 1n << BigInt(length * 8);
        return { tag, type, value };
      }
      case ItemType.TextString: {
        const bytes = buf.subarray(v, v + length);
        if (!isUtf8(bytes)) throw invalidField(`Text String ${tagLabel(tag)} is not valid UTF-8`, start);
        return { tag, type, value: bytes.toString("utf8") };
      }
      default: // ItemType.ByteString
        return { tag, type: ItemType.ByteString, value: buf.subarray(v, v + length) };
    }
  }
}

function fixedLength(tag: number, length: number, expected: number, at: number): void {
  if (length !== expected) throw invalidMessage(`item ${tagLabel(tag)}: its type requires ${expected} bytes`, at);
}

// ---------------------------------------------------------------------------------------------------------------------
// Builders

function tagOf(tag: TagRef): number {
  return typeof tag === "number" ? tag : Tag[tag];
}

/** A Structure; `undefined`, `null` and `false` children are skipped, so optional fields can be written inline. */
export function struct(tag: TagRef, ...children: (TtlvItem | undefined | null | false)[]): StructureItem {
  const value: TtlvItem[] = [];
  for (const c of children) if (c) value.push(c);
  return { tag: tagOf(tag), type: ItemType.Structure, value };
}
export function int(tag: TagRef, value: number): IntegerItem {
  return { tag: tagOf(tag), type: ItemType.Integer, value };
}
export function long(tag: TagRef, value: bigint | number): LongIntegerItem {
  return { tag: tagOf(tag), type: ItemType.LongInteger, value: BigInt(value) };
}
export function bigInt(tag: TagRef, value: bigint): BigIntegerItem {
  return { tag: tagOf(tag), type: ItemType.BigInteger, value };
}
/** An Enumeration by number, or by a name of the tag's enumeration ("CreateKeyPair" or "Create Key Pair"). */
export function enm(tag: TagRef, value: number | string): EnumerationItem {
  const t = tagOf(tag);
  if (typeof value === "number") return { tag: t, type: ItemType.Enumeration, value };
  const n = enumValue(t, value);
  if (n === undefined) throw invalidField(`"${value}" is not a value of ${hexTag(t)}`);
  return { tag: t, type: ItemType.Enumeration, value: n };
}
export function bool(tag: TagRef, value: boolean): BooleanItem {
  return { tag: tagOf(tag), type: ItemType.Boolean, value };
}
export function text(tag: TagRef, value: string): TextStringItem {
  return { tag: tagOf(tag), type: ItemType.TextString, value };
}
export function bytes(tag: TagRef, value: Uint8Array): ByteStringItem {
  const b = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return { tag: tagOf(tag), type: ItemType.ByteString, value: b };
}
/** A Date-Time from POSIX seconds or a Date (truncated to whole seconds). */
export function dateTime(tag: TagRef, value: bigint | number | Date): DateTimeItem {
  const seconds = value instanceof Date ? BigInt(Math.floor(value.getTime() / 1000)) : BigInt(value);
  return { tag: tagOf(tag), type: ItemType.DateTime, value: seconds };
}
export function interval(tag: TagRef, seconds: number): IntervalItem {
  return { tag: tagOf(tag), type: ItemType.Interval, value: seconds };
}
/** A Date-Time Extended (KMIP 2.0) from POSIX microseconds. */
export function dateTimeExtended(tag: TagRef, microseconds: bigint): DateTimeExtendedItem {
  return { tag: tagOf(tag), type: ItemType.DateTimeExtended, value: microseconds };
}

// ---------------------------------------------------------------------------------------------------------------------
// Readers

/** The first direct child of a structure with this tag. */
export function find(parent: TtlvItem, tag: TagRef): TtlvItem | undefined {
  if (parent.type !== ItemType.Structure) return undefined;
  const t = tagOf(tag);
  for (const child of parent.value) if (child.tag === t) return child;
  return undefined;
}

/** Every direct child of a structure with this tag, in order. */
export function findAll(parent: TtlvItem, tag: TagRef): TtlvItem[] {
  if (parent.type !== ItemType.Structure) return [];
  const t = tagOf(tag);
  return parent.value.filter((child) => child.tag === t);
}

/** The first child with this tag, of this type when given; otherwise TtlvError ("Invalid Message"). */
export function getOrThrow(parent: TtlvItem, tag: TagRef): TtlvItem;
export function getOrThrow<T extends ItemType>(parent: TtlvItem, tag: TagRef, type: T): ItemOf<T>;
export function getOrThrow(parent: TtlvItem, tag: TagRef, type?: ItemType): TtlvItem {
  const item = find(parent, tag);
  if (item === undefined) throw invalidMessage(`missing ${describe(tag)} in ${hexTag(parent.tag)}`);
  if (type !== undefined && item.type !== type) throw invalidMessage(`${describe(tag)} has type ${item.type}, expected ${type}`);
  return item;
}

/** The value of the first child with this tag and type; TtlvError ("Invalid Message") when missing or mistyped. */
export function valueOrThrow<T extends ItemType>(parent: TtlvItem, tag: TagRef, type: T): ValueOf<T> {
  return getOrThrow(parent, tag, type).value as ValueOf<T>;
}

/** The value of the first child with this tag, or undefined when absent; TtlvError when present with another type. */
export function optionalValue<T extends ItemType>(parent: TtlvItem, tag: TagRef, type: T): ValueOf<T> | undefined {
  const item = find(parent, tag);
  if (item === undefined) return undefined;
  if (item.type !== type) throw invalidMessage(`${describe(tag)} has type ${item.type}, expected ${type}`);
  return item.value as ValueOf<T>;
}

function describe(tag: TagRef): string {
  return typeof tag === "number" ? hexTag(tag) : tag;
}
