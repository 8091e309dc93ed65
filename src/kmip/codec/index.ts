// The KMIP wire codec's public surface: TTLV encode/decode, stream framing, XML and JSON encodings, and name tables.

export { TtlvError, type TtlvErrorReason } from "./errors.js";
export { DEFAULT_MAX_FRAME_BYTES, FrameError, FrameReader, type FrameReaderOptions } from "./frame-reader.js";
export {
  DEFAULT_MAX_JSON_CHARS,
  type JsonDecodeOptions,
  type JsonEncodeOptions,
  type JsonItem,
  jsonToTtlv,
  jsonValueToTtlv,
  ttlvToJson,
  ttlvToJsonValue,
} from "./json.js";
export {
  type EnumDef,
  enumByName,
  enumForTag,
  enumName,
  enumSpecName,
  enumValue,
  isKnownTag,
  isMaskTag,
  maskNames,
  maskValue,
  tagByName,
  tagHex,
  tagName,
  tagSpecName,
} from "./names.js";
export { ENUM_TABLE, Enum, TAG_TABLE, type TagName } from "./tables.js";
export * from "./ttlv.js";
export type { ValueContext, ValueHook } from "./values.js";
export {
  DEFAULT_MAX_XML_CHARS,
  parseXml,
  ttlvToXml,
  type XmlDecodeOptions,
  type XmlElement,
  type XmlEncodeOptions,
  type XmlParseOptions,
  xmlElementToTtlv,
  xmlToTtlv,
} from "./xml.js";
