// KMIP JSON encoding (KMIP Profiles, "JSON Encoding"): TTLV tree <-> {"tag", "type", "value"} objects, with bounded parsing.
//
// Each item is an object {"tag": name, "type": item type, "value": …}; a Structure omits "type" and its value is
// the array of its items. Tags and enumeration values without a name are hex ("0x540001", "0x8000000A"); Byte
// Strings are hex, Big Integers "0x"-prefixed hex, Date-Times ISO 8601, masks names joined by "|" (on input
// names may also be separated by spaces), Long Integers numbers when exactly representable and hex otherwise.

import { invalidField, invalidMessage, TtlvError } from "./errors.js";
import { enumName, isMaskTag, maskNames, tagByName, tagLabel, tagName } from "./names.js";
import { ItemType } from "./tables.js";
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS, isValidTag, type TtlvItem, type TtlvLimits } from "./ttlv.js";
import {
  attributeNameAfter,
  bigIntegerHex,
  formatDateTime,
  ITEM_TYPE_BY_NAME,
  ITEM_TYPE_NAME,
  namingTag,
  parseValue,
  type ValueHook,
} from "./values.js";

export const DEFAULT_MAX_JSON_CHARS = 4 * 1024 * 1024;

export interface JsonItem {
  tag: string;
  type?: string;
  value: JsonItem[] | string | number | boolean;
}

export interface JsonDecodeOptions extends TtlvLimits {
  /** Longest JSON text accepted, in characters. Default 4 Mi. */
  maxChars?: number;
  /** Called with every string value before it is typed (placeholder substitution in tests). */
  resolveValue?: ValueHook;
}

export interface JsonEncodeOptions {
  /** Separator between mask names. Default "|". */
  maskSeparator?: string;
}

// ---------------------------------------------------------------------------------------------------------------------
// JSON -> TTLV

/** Decodes one KMIP message (or any single item) from JSON text. */
export function jsonToTtlv(json: string, options: JsonDecodeOptions = {}): TtlvItem {
  const maxChars = options.maxChars ?? DEFAULT_MAX_JSON_CHARS;
  if (json.length > maxChars) throw invalidMessage(`JSON text of ${json.length} characters exceeds the limit of ${maxChars}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    // V8's message quotes part of the input, which may be key material: report the position only.
    const at = e instanceof Error ? /position (\d+)/.exec(e.message)?.[1] : undefined;
    throw invalidMessage(`JSON: syntax error${at ? ` at position ${at}` : ""}`);
  }
  return jsonValueToTtlv(parsed, options);
}

/** Converts an already parsed JSON value to an item. */
export function jsonValueToTtlv(value: unknown, options: JsonDecodeOptions = {}): TtlvItem {
  const state = {
    items: 0,
    maxItems: options.maxItems ?? DEFAULT_MAX_ITEMS,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
    hook: options.resolveValue,
  };
  return toItem(value, undefined, 1, state);
}

interface DecodeState {
  items: number;
  readonly maxItems: number;
  readonly maxDepth: number;
  readonly hook: ValueHook | undefined;
}

const hasOwn = (o: object, k: string): boolean => Object.hasOwn(o, k);

/*
 * Errors name the item by its number in document order ("item 7") and by its tag only when our table names it:
 * never a member name, tag name, type name or value from the request (they reach the reply and the audit log).
 */
function toItem(node: unknown, attributeName: string | undefined, depth: number, state: DecodeState): TtlvItem {
  if (depth > state.maxDepth) throw invalidMessage(`JSON nesting deeper than ${state.maxDepth}`);
  const n = ++state.items;
  if (n > state.maxItems) throw invalidMessage(`more than ${state.maxItems} items`);
  if (typeof node !== "object" || node === null || Array.isArray(node))
    throw invalidMessage(`item ${n}: a KMIP JSON item must be an object`);
  for (const key of Object.keys(node)) {
    if (key !== "tag" && key !== "type" && key !== "value")
      throw invalidField(`item ${n}: unknown member in a KMIP JSON item (allowed: tag, type, value)`);
  }
  const o = node as Record<string, unknown>;
  if (typeof o.tag !== "string") throw invalidField(`item ${n}: a KMIP JSON item needs a string "tag"`);
  const tag = tagByName(o.tag);
  if (tag === undefined || !isValidTag(tag)) throw invalidField(`item ${n}: unknown tag`);
  const label = tagLabel(tag);
  const at = `item ${n} ${label.startsWith("(") ? label : `(${label})`}`;
  let type: ItemType | undefined = ItemType.Structure;
  if (hasOwn(o, "type")) {
    if (typeof o.type !== "string") throw invalidField(`${at}: "type" is not a string`);
    type = ITEM_TYPE_BY_NAME.get(o.type);
    if (type === undefined) throw invalidField(`${at}: unknown type`);
  }
  if (!hasOwn(o, "value")) throw invalidField(`${at}: no "value"`);
  const v = o.value;

  if (type === ItemType.Structure) {
    if (!Array.isArray(v)) throw invalidField(`${at}: the value of a structure is not an array`);
    const children: TtlvItem[] = [];
    let name: string | undefined;
    for (const child of v) {
      const item = toItem(child, name, depth + 1, state);
      name = attributeNameAfter(item, name);
      children.push(item);
    }
    return { tag, type, value: children };
  }
  const nameTag = namingTag(tag, attributeName);
  try {
    return { tag, type, value: primitive(type, v, tag, nameTag, state.hook) } as TtlvItem;
  } catch (e) {
    if (e instanceof TtlvError) throw invalidField(`${at}: ${e.message}`);
    throw e;
  }
}

function primitive(type: ItemType, v: unknown, tag: number, nameTag: number, hook: ValueHook | undefined): TtlvItem["value"] {
  if (typeof v === "string") return parseValue(type, hook ? hook(v, { tag, type }) : v, nameTag);
  switch (type) {
    case ItemType.Integer:
      if (Number.isInteger(v) && (v as number) >= -0x80000000 && (v as number) <= 0x7fffffff) return v as number;
      break;
    case ItemType.Enumeration:
    case ItemType.Interval:
      if (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff) return v as number;
      break;
    case ItemType.LongInteger:
    case ItemType.BigInteger:
      if (Number.isSafeInteger(v)) return BigInt(v as number);
      break;
    case ItemType.Boolean:
      if (typeof v === "boolean") return v;
      break;
  }
  throw invalidField(`a ${typeof v} value does not fit type ${ITEM_TYPE_NAME.get(type)}`);
}

// ---------------------------------------------------------------------------------------------------------------------
// TTLV -> JSON

/** The JSON encoding of an item as a plain object tree (JSON.stringify it, or use ttlvToJson). */
export function ttlvToJsonValue(item: TtlvItem, options: JsonEncodeOptions = {}): JsonItem {
  return toJson(item, undefined, options.maskSeparator ?? "|");
}

/** The JSON encoding of an item as text; `space` as for JSON.stringify. */
export function ttlvToJson(item: TtlvItem, options: JsonEncodeOptions & { space?: number | string } = {}): string {
  return JSON.stringify(ttlvToJsonValue(item, options), null, options.space);
}

function toJson(item: TtlvItem, attributeName: string | undefined, maskSeparator: string): JsonItem {
  const tag = tagName(item.tag);
  if (item.type === ItemType.Structure) {
    let name: string | undefined;
    const value: JsonItem[] = [];
    for (const child of item.value) {
      value.push(toJson(child, name, maskSeparator));
      name = attributeNameAfter(child, name);
    }
    return { tag, value };
  }
  const type = ITEM_TYPE_NAME.get(item.type) ?? String(item.type);
  const nameTag = namingTag(item.tag, attributeName);
  switch (item.type) {
    case ItemType.Integer:
      return { tag, type, value: isMaskTag(nameTag) ? maskNames(nameTag, item.value, maskSeparator) : item.value };
    case ItemType.LongInteger: {
      const n = item.value;
      const safe = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
      return { tag, type, value: safe ? Number(n) : `0x${BigInt.asUintN(64, n).toString(16).padStart(16, "0")}` };
    }
    case ItemType.BigInteger:
      return { tag, type, value: `0x${bigIntegerHex(item.value)}` };
    case ItemType.Enumeration:
      return { tag, type, value: enumName(nameTag, item.value) };
    case ItemType.Boolean:
    case ItemType.TextString:
    case ItemType.Interval:
      return { tag, type, value: item.value };
    case ItemType.ByteString:
      return { tag, type, value: item.value.toString("hex") };
    case ItemType.DateTime:
      return { tag, type, value: formatDateTime(item.value, false) };
    case ItemType.DateTimeExtended:
      return { tag, type, value: formatDateTime(item.value, true) };
  }
}
