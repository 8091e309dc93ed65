// KMIP XML encoding (KMIP Profiles, "XML Encoding"): a small safe XML parser for the element/attribute subset it uses, and TTLV tree <-> XML conversion.
//
// The encoding: each item is an element named by its tag's normalized name; non-structure items carry
// `type="Integer"` and `value="…"` attributes; structures are elements whose children are their items, without a
// type attribute. A tag without a name is written `<TTLV tag="0x540001" type="…" value="…"/>`.
//
// The parser accepts only what that needs: elements, attributes, comments, whitespace, an XML declaration, the five
// predefined entities and character references. It refuses DOCTYPE (so no entity expansion), CDATA, processing
// instructions and text content, and bounds input size, nesting depth and element count. Every error is a TtlvError
// ("Invalid Message" for XML syntax, "Invalid Field" for a value that does not fit its type).

import { invalidField, invalidMessage, TtlvError } from "./errors.js";
import { tagByName, tagHex, tagLabel, tagName } from "./names.js";
import { ItemType } from "./tables.js";
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS, isValidTag, type TtlvItem, type TtlvLimits } from "./ttlv.js";
import { attributeNameAfter, formatValue, ITEM_TYPE_BY_NAME, ITEM_TYPE_NAME, namingTag, parseValue, type ValueHook } from "./values.js";

export const DEFAULT_MAX_XML_CHARS = 4 * 1024 * 1024;

export interface XmlElement {
  readonly name: string;
  /** Attributes by name (a null-prototype object). */
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Character offset of the element's "<" in the source. */
  readonly offset: number;
}

export interface XmlParseOptions extends TtlvLimits {
  /** Longest input accepted, in characters. Default 4 Mi. */
  maxChars?: number;
}

export interface XmlDecodeOptions extends XmlParseOptions {
  /** Called with every `value` attribute before it is typed (placeholder substitution in tests). */
  resolveValue?: ValueHook;
}

export interface XmlEncodeOptions {
  /** Indentation per level; "" writes everything on one line. Default two spaces. */
  indent?: string;
  /** Separator between mask names ("Encrypt Decrypt"). Default " ", as in the OASIS test vectors. */
  maskSeparator?: string;
}

// ---------------------------------------------------------------------------------------------------------------------
// Parser

/** Parses an XML document and returns its root element. */
export function parseXml(text: string, options: XmlParseOptions = {}): XmlElement {
  const maxChars = options.maxChars ?? DEFAULT_MAX_XML_CHARS;
  if (text.length > maxChars) throw invalidMessage(`XML document of ${text.length} characters exceeds the limit of ${maxChars}`);
  const parser = new XmlParser(text, options.maxDepth ?? DEFAULT_MAX_DEPTH, options.maxItems ?? DEFAULT_MAX_ITEMS);
  return parser.document();
}

const Ch = {
  Tab: 9,
  LF: 10,
  CR: 13,
  Space: 32,
  Bang: 33,
  Quote: 34,
  Amp: 38,
  Apos: 39,
  Slash: 47,
  Lt: 60,
  Eq: 61,
  Gt: 62,
  Question: 63,
} as const;

function isSpace(c: number): boolean {
  return c === Ch.Space || c === Ch.Tab || c === Ch.LF || c === Ch.CR;
}

function isNameStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 58;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46;
}

/** XML 1.0 Char production (surrogate pairs are checked as pairs by the caller). */
function isXmlChar(cp: number): boolean {
  return (
    cp === 9 ||
    cp === 10 ||
    cp === 13 ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

class XmlParser {
  pos = 0;
  elements = 0;

  constructor(
    readonly text: string,
    readonly maxDepth: number,
    readonly maxElements: number,
  ) {}

  fail(message: string, at = this.pos): never {
    throw invalidMessage(`XML: ${message}`, at);
  }

  document(): XmlElement {
    const t = this.text;
    if (t.charCodeAt(0) === 0xfeff) this.pos = 1;
    if (t.startsWith("<?xml", this.pos) && isSpace(t.charCodeAt(this.pos + 5))) {
      const end = t.indexOf("?>", this.pos);
      if (end < 0) this.fail("unterminated XML declaration");
      this.pos = end + 2;
    }
    this.misc();
    if (t.charCodeAt(this.pos) !== Ch.Lt) this.fail(this.pos >= t.length ? "no root element" : "text outside the root element");
    const root = this.element(1);
    this.misc();
    if (this.pos < t.length) this.fail("content after the root element");
    return root;
  }

  /** Skips whitespace and comments; refuses DOCTYPE, CDATA and processing instructions. */
  misc(): void {
    const t = this.text;
    for (;;) {
      while (this.pos < t.length && isSpace(t.charCodeAt(this.pos))) this.pos++;
      if (t.charCodeAt(this.pos) !== Ch.Lt) return;
      const next = t.charCodeAt(this.pos + 1);
      if (next === Ch.Bang) {
        if (!t.startsWith("<!--", this.pos))
          this.fail(t.startsWith("<!DOCTYPE", this.pos) ? "DOCTYPE is not accepted" : "CDATA and declarations are not accepted");
        this.comment();
      } else if (next === Ch.Question) {
        this.fail("processing instructions are not accepted");
      } else return;
    }
  }

  comment(): void {
    const end = this.text.indexOf("-->", this.pos + 4);
    if (end < 0) this.fail("unterminated comment");
    if (this.text.indexOf("--", this.pos + 4) < end) this.fail("'--' inside a comment");
    this.pos = end + 3;
  }

  name(): string {
    const t = this.text;
    const start = this.pos;
    if (!isNameStart(t.charCodeAt(start))) this.fail("expected a name");
    let i = start + 1;
    while (i < t.length && isNameChar(t.charCodeAt(i))) i++;
    this.pos = i;
    return t.slice(start, i);
  }

  element(depth: number): XmlElement {
    const t = this.text;
    const offset = this.pos;
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
    if (++this.elements > this.maxElements) this.fail(`more than ${this.maxElements} elements`);
    this.pos++; // "<"
    const name = this.name();
    const attributes: Record<string, string> = Object.create(null);
    const children: XmlElement[] = [];
    for (;;) {
      const hadSpace = this.skipSpace();
      const c = t.charCodeAt(this.pos);
      if (c === Ch.Slash) {
        if (t.charCodeAt(this.pos + 1) !== Ch.Gt) this.fail("expected '/>'");
        this.pos += 2;
        return { name, attributes, children, offset };
      }
      if (c === Ch.Gt) {
        this.pos++;
        break;
      }
      if (!hadSpace) this.fail(this.pos >= t.length ? "unterminated start tag" : "expected whitespace before an attribute");
      const attr = this.name();
      this.skipSpace();
      if (t.charCodeAt(this.pos) !== Ch.Eq) this.fail("expected '=' after an attribute name");
      this.pos++;
      this.skipSpace();
      if (attr in attributes) this.fail("duplicate attribute");
      attributes[attr] = this.attributeValue();
    }
    // Content: whitespace, comments and child elements only.
    for (;;) {
      this.misc();
      if (this.pos >= t.length) this.fail("unterminated element", offset);
      if (t.charCodeAt(this.pos) !== Ch.Lt) this.fail("text content is not used by the KMIP XML encoding");
      if (t.charCodeAt(this.pos + 1) === Ch.Slash) {
        this.pos += 2;
        const end = this.name();
        if (end !== name) this.fail(`end tag does not match the start tag at offset ${offset}`);
        this.skipSpace();
        if (t.charCodeAt(this.pos) !== Ch.Gt) this.fail("expected '>'");
        this.pos++;
        return { name, attributes, children, offset };
      }
      children.push(this.element(depth + 1));
    }
  }

  skipSpace(): boolean {
    const start = this.pos;
    while (this.pos < this.text.length && isSpace(this.text.charCodeAt(this.pos))) this.pos++;
    return this.pos > start;
  }

  /** A quoted attribute value with references resolved and whitespace normalized as XML requires. */
  attributeValue(): string {
    const t = this.text;
    const quote = t.charCodeAt(this.pos);
    if (quote !== Ch.Quote && quote !== Ch.Apos) this.fail("expected a quoted attribute value");
    this.pos++;
    let out = "";
    let run = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail("unterminated attribute value");
      const c = t.charCodeAt(this.pos);
      if (c === quote) {
        out += t.slice(run, this.pos);
        this.pos++;
        return out;
      }
      if (c === Ch.Lt) this.fail("'<' in an attribute value");
      if (c === Ch.Amp) {
        out += t.slice(run, this.pos);
        out += this.reference();
        run = this.pos;
        continue;
      }
      if (c === Ch.Tab || c === Ch.LF || c === Ch.CR) {
        // Attribute-value normalization: literal line ends and tabs become spaces (a CR LF pair becomes one).
        out += `${t.slice(run, this.pos)} `;
        this.pos += c === Ch.CR && t.charCodeAt(this.pos + 1) === Ch.LF ? 2 : 1;
        run = this.pos;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff) {
        const low = t.charCodeAt(this.pos + 1);
        if (!(low >= 0xdc00 && low <= 0xdfff)) this.fail("unpaired surrogate");
        this.pos += 2;
        continue;
      }
      if (!isXmlChar(c)) this.fail("a character that is not allowed in XML");
      this.pos++;
    }
  }

  /** "&lt;" "&gt;" "&amp;" "&quot;" "&apos;" "&#10;" "&#xA;" — nothing else. */
  reference(): string {
    const t = this.text;
    // Look for the ";" only a few characters ahead: scanning the rest of the input for every "&" would be quadratic.
    let end = this.pos + 1;
    while (end < t.length && end - this.pos <= 12 && t.charCodeAt(end) !== 59) end++;
    if (t.charCodeAt(end) !== 59) this.fail("unterminated reference");
    const ref = t.slice(this.pos + 1, end);
    this.pos = end + 1;
    switch (ref) {
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "amp":
        return "&";
      case "quot":
        return '"';
      case "apos":
        return "'";
    }
    let cp = Number.NaN;
    if (/^#[0-9]{1,7}$/.test(ref)) cp = Number(ref.slice(1));
    else if (/^#x[0-9a-fA-F]{1,6}$/.test(ref)) cp = Number.parseInt(ref.slice(2), 16);
    else this.fail("unknown entity (only the five predefined entities are accepted)");
    if (!isXmlChar(cp)) this.fail("a character reference to a character that is not allowed in XML");
    return String.fromCodePoint(cp);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// XML -> TTLV

/** Decodes one KMIP message (or any single item) from its XML encoding. */
export function xmlToTtlv(xml: string, options: XmlDecodeOptions = {}): TtlvItem {
  return xmlElementToTtlv(parseXml(xml, options), options);
}

/** Converts a parsed element (e.g. one message inside a test-vector file's `<KMIP>` wrapper) to an item. */
export function xmlElementToTtlv(element: XmlElement, options: XmlDecodeOptions = {}): TtlvItem {
  return toItem(element, undefined, options.resolveValue);
}

/*
 * Errors give the offset and name an element by its tag only when our table names it: never an element,
 * attribute or type name or a value from the request (they reach the reply and the audit log).
 */
function toItem(el: XmlElement, attributeName: string | undefined, hook: ValueHook | undefined): TtlvItem {
  const a = el.attributes;
  let tag: number | undefined;
  if (el.name === "TTLV") {
    if (a.tag === undefined) throw invalidField("<TTLV> without a tag attribute", el.offset);
    tag = tagByName(a.tag);
  } else {
    if (a.tag !== undefined) throw invalidField("an element other than <TTLV> has a tag attribute", el.offset);
    tag = tagByName(el.name);
  }
  if (tag === undefined || !isValidTag(tag)) throw invalidField("unknown tag", el.offset);
  const label = tagLabel(tag);
  const name = label.startsWith("(") ? label : `<${label}>`;
  for (const key in a) {
    if (key !== "type" && key !== "value" && key !== "tag")
      throw invalidField(`${name} has an unknown attribute (allowed: type, value)`, el.offset);
  }
  const type = a.type === undefined ? ItemType.Structure : ITEM_TYPE_BY_NAME.get(a.type);
  if (type === undefined) throw invalidField(`${name} has an unknown type`, el.offset);

  if (type === ItemType.Structure) {
    if (a.value !== undefined) throw invalidField(`structure ${name} has a value attribute`, el.offset);
    const value: TtlvItem[] = [];
    let attribute: string | undefined;
    for (const child of el.children) {
      const item = toItem(child, attribute, hook);
      attribute = attributeNameAfter(item, attribute);
      value.push(item);
    }
    return { tag, type, value };
  }
  if (el.children.length > 0) throw invalidField(`${name} of type ${ITEM_TYPE_NAME.get(type)} has child elements`, el.offset);
  if (a.value === undefined) throw invalidField(`${name} has no value attribute`, el.offset);
  const text = hook ? hook(a.value, { tag, type }) : a.value;
  try {
    return { tag, type, value: parseValue(type, text, namingTag(tag, attributeName)) } as TtlvItem;
  } catch (e) {
    if (e instanceof TtlvError) throw invalidField(`${name}: ${e.message}`, el.offset);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// TTLV -> XML

/** Writes an item (normally a message) in the KMIP XML encoding. */
export function ttlvToXml(item: TtlvItem, options: XmlEncodeOptions = {}): string {
  const out: string[] = [];
  writeElement(out, item, undefined, 0, options.indent ?? "  ", options.maskSeparator ?? " ");
  return out.join("");
}

function writeElement(
  out: string[],
  item: TtlvItem,
  attributeName: string | undefined,
  level: number,
  indent: string,
  maskSeparator: string,
): void {
  const pad = indent === "" ? "" : indent.repeat(level);
  const known = tagName(item.tag);
  const open = known.startsWith("0x") ? `TTLV tag="${tagHex(item.tag)}"` : known;
  const close = known.startsWith("0x") ? "TTLV" : known;
  const nl = indent === "" ? "" : "\n";
  if (item.type === ItemType.Structure) {
    if (item.value.length === 0) {
      out.push(`${pad}<${open}/>${nl}`);
      return;
    }
    out.push(`${pad}<${open}>${nl}`);
    let name: string | undefined;
    for (const child of item.value) {
      writeElement(out, child, name, level + 1, indent, maskSeparator);
      name = attributeNameAfter(child, name);
    }
    out.push(`${pad}</${close}>${nl}`);
    return;
  }
  const value = formatValue(item, namingTag(item.tag, attributeName), maskSeparator);
  out.push(`${pad}<${open} type="${ITEM_TYPE_NAME.get(item.type)}" value="${escapeAttribute(value)}"/>${nl}`);
}

/** Escapes an attribute value so that it parses back unchanged (whitespace other than space as references). */
export function escapeAttribute(value: string): string {
  let out = "";
  let run = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    let rep: string | undefined;
    if (c === Ch.Amp) rep = "&amp;";
    else if (c === Ch.Lt) rep = "&lt;";
    else if (c === Ch.Gt) rep = "&gt;";
    else if (c === Ch.Quote) rep = "&quot;";
    else if (c === Ch.Tab || c === Ch.LF || c === Ch.CR) rep = `&#x${c.toString(16).toUpperCase()};`;
    else if (c < 0x20 || c === 0xfffe || c === 0xffff)
      throw invalidField(`character U+${c.toString(16).padStart(4, "0")} cannot be written in XML`);
    if (rep !== undefined) {
      out += value.slice(run, i) + rep;
      run = i + 1;
    }
  }
  return run === 0 ? value : out + value.slice(run);
}
