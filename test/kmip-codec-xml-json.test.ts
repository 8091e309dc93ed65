// KMIP XML and JSON encodings: exact output, value forms (hex, ISO 8601, masks, unknown tags), placeholder hook, and a parser that refuses hostile input.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TtlvError } from "../src/kmip/codec/errors.js";
import {
  bigInt,
  bool,
  bytes,
  dateTime,
  dateTimeExtended,
  enm,
  ItemType,
  int,
  interval,
  jsonToTtlv,
  jsonValueToTtlv,
  long,
  parseXml,
  struct,
  Tag,
  type TtlvItem,
  text,
  ttlvToJson,
  ttlvToJsonValue,
  ttlvToXml,
  xmlToTtlv,
} from "../src/kmip/codec/index.js";

function rejects(fn: () => unknown, reason: "Invalid Message" | "Invalid Field", fragment?: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TtlvError, `expected TtlvError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.equal(e.reason, reason, e.message);
    if (fragment !== undefined) assert.ok(e.message.includes(fragment), `"${e.message}" lacks "${fragment}"`);
    return;
  }
  assert.fail("expected a TtlvError");
}

const request = struct(
  "RequestMessage",
  struct("RequestHeader", struct("ProtocolVersion", int("ProtocolVersionMajor", 1), int("ProtocolVersionMinor", 4)), int("BatchCount", 1)),
  struct(
    "BatchItem",
    enm("Operation", "Create"),
    struct(
      "RequestPayload",
      enm("ObjectType", "Symmetric Key"),
      struct(
        "TemplateAttribute",
        struct("Attribute", text("AttributeName", "Cryptographic Algorithm"), enm("AttributeValue", 3)),
        struct("Attribute", text("AttributeName", "Cryptographic Usage Mask"), int("AttributeValue", 12)),
        struct("Attribute", text("AttributeName", "State"), enm("AttributeValue", 1)),
      ),
    ),
  ),
);

const requestXml = `<RequestMessage>
  <RequestHeader>
    <ProtocolVersion>
      <ProtocolVersionMajor type="Integer" value="1"/>
      <ProtocolVersionMinor type="Integer" value="4"/>
    </ProtocolVersion>
    <BatchCount type="Integer" value="1"/>
  </RequestHeader>
  <BatchItem>
    <Operation type="Enumeration" value="Create"/>
    <RequestPayload>
      <ObjectType type="Enumeration" value="SymmetricKey"/>
      <TemplateAttribute>
        <Attribute>
          <AttributeName type="TextString" value="Cryptographic Algorithm"/>
          <AttributeValue type="Enumeration" value="AES"/>
        </Attribute>
        <Attribute>
          <AttributeName type="TextString" value="Cryptographic Usage Mask"/>
          <AttributeValue type="Integer" value="Encrypt Decrypt"/>
        </Attribute>
        <Attribute>
          <AttributeName type="TextString" value="State"/>
          <AttributeValue type="Enumeration" value="PreActive"/>
        </Attribute>
      </TemplateAttribute>
    </RequestPayload>
  </BatchItem>
</RequestMessage>
`;

test("XML: a 1.4 request is written as the profile shows (Attribute Values named by their Attribute Name) and read back", () => {
  assert.equal(ttlvToXml(request), requestXml);
  assert.deepEqual(xmlToTtlv(requestXml), request);
  assert.equal(ttlvToXml(request, { indent: "" }), requestXml.replace(/\n\s*/g, ""));
  assert.deepEqual(xmlToTtlv(ttlvToXml(request, { indent: "" })), request);
});

test("XML: every item type's value form", () => {
  const all = struct(
    0x420020,
    int(0x420020, -5),
    long(0x420020, -(2n ** 63n)),
    bigInt(0x420020, -1n),
    enm(0x420020, 0x8000000a),
    bool(0x420020, true),
    text(0x420020, `<&>"' tab\tnl\ncr\r é 😀`),
    bytes(0x420020, Buffer.from([0, 0xab, 0xff])),
    dateTime(0x420020, 1205495800n),
    interval(0x420020, 864000),
    dateTimeExtended(0x420020, 1205495800123456n),
    int(0x540001, 7),
    struct(0x540002),
  );
  const xml = ttlvToXml(all);
  for (const line of [
    '<CompromiseDate type="Integer" value="-5"/>',
    '<CompromiseDate type="LongInteger" value="-9223372036854775808"/>',
    '<CompromiseDate type="BigInteger" value="ffffffffffffffff"/>',
    '<CompromiseDate type="Enumeration" value="0x8000000a"/>',
    '<CompromiseDate type="Boolean" value="true"/>',
    '<CompromiseDate type="TextString" value="&lt;&amp;&gt;&quot;\' tab&#x9;nl&#xA;cr&#xD; é 😀"/>',
    '<CompromiseDate type="ByteString" value="00abff"/>',
    '<CompromiseDate type="DateTime" value="2008-03-14T11:56:40+00:00"/>',
    '<CompromiseDate type="Interval" value="864000"/>',
    '<CompromiseDate type="DateTimeExtended" value="2008-03-14T11:56:40.123456+00:00"/>',
    '<TTLV tag="0x540001" type="Integer" value="7"/>',
    '<TTLV tag="0x540002"/>',
  ]) {
    assert.ok(xml.includes(line), `missing ${line} in\n${xml}`);
  }
  assert.deepEqual(xmlToTtlv(xml), all);
});

test("XML: accepted input forms — offsets, hex, masks with '|', spec names, declarations and comments", () => {
  const one = (xml: string): TtlvItem =>
    (xmlToTtlv(`<?xml version="1.0" encoding="UTF-8"?>\n<!-- c -->\n${xml}\n<!-- c -->`) as { value: TtlvItem[] }).value[0];
  const wrap = (inner: string) => `<RequestPayload>${inner}</RequestPayload>`;
  assert.equal(one(wrap('<ActivationDate type="DateTime" value="2000-02-02T00:00:00+10:00"/>')).value, 949413600n);
  assert.equal(one(wrap('<ActivationDate type="DateTime" value="2000-02-01T14:00:00Z"/>')).value, 949413600n);
  assert.equal(one(wrap('<ActivationDate type="DateTime" value="0x000000003896E6E0"/>')).value, 949413600n);
  assert.equal(one(wrap('<ActivationDate type="DateTimeExtended" value="1969-12-31T23:59:59.999999Z"/>')).value, -1n);
  assert.equal(one(wrap('<CryptographicUsageMask type="Integer" value="Sign|Verify"/>')).value, 3);
  assert.equal(one(wrap('<CryptographicUsageMask type="Integer" value="0x0000000C"/>')).value, 12);
  assert.equal(one(wrap('<BatchCount type="Integer" value="0xFFFFFFFF"/>')).value, -1);
  assert.equal(one(wrap('<Operation type="Enumeration" value="Create Key Pair"/>')).value, 2);
  assert.equal(one(wrap('<OpaqueDataType type="Enumeration" value="0x80000001"/>')).value, 0x80000001);
  assert.equal(one(wrap('<Modulus type="BigInteger" value="0000000000010001"/>')).value, 65537n);
  assert.equal(one(wrap("<NameValue type='TextString' value='a&#10;b&#x9;c&amp;d'/>")).value, "a\nb\tc&d");
  assert.equal(one(wrap('<NameValue type="TextString" value="line\n  two\ttab"/>')).value, "line   two tab"); // XML attribute normalization
  assert.equal(one(wrap('<NameValue type="TextString" value=""/>')).value, "");
  assert.equal(one(wrap("<Attributes></Attributes>")).type, ItemType.Structure);
});

test("XML: values that do not fit their type are Invalid Field", () => {
  const bad = (el: string, fragment?: string) =>
    rejects(() => xmlToTtlv(`<RequestPayload>${el}</RequestPayload>`), "Invalid Field", fragment);
  bad('<BatchCount type="Integer" value="2147483648"/>', "not an Integer");
  bad('<BatchCount type="Integer" value="1.5"/>');
  bad('<LeaseTime type="Interval" value="-1"/>');
  bad('<Operation type="Enumeration" value="Frobnicate"/>', "value is not a value of Operation"); // never the value itself
  bad('<Operation type="Enumeration" value="5"/>');
  bad('<Sensitive type="Boolean" value="yes"/>');
  bad('<KeyMaterial type="ByteString" value="abc"/>', "hex");
  bad('<KeyMaterial type="ByteString" value="zz"/>', "hex");
  try {
    xmlToTtlv('<KeyMaterial type="ByteString" value="5ec12e7k"/>');
  } catch (e) {
    assert.ok(e instanceof TtlvError && !e.message.includes("5ec12e7"), "a malformed key value is not echoed");
  }
  bad('<Modulus type="BigInteger" value=""/>');
  bad('<TimeStamp type="DateTime" value="2021-02-30T00:00:00Z"/>', "valid date");
  bad('<TimeStamp type="DateTime" value="2021-01-01T00:00:00"/>', "offset");
  bad('<TimeStamp type="DateTime" value="2021-01-01T00:00:00.5Z"/>', "precision");
  bad('<TimeStamp type="DateTime" value="$NOW"/>');
  bad('<CryptographicUsageMask type="Integer" value="Encrypt Bogus"/>');
  bad('<BatchCount type="Frobnicate" value="1"/>', "unknown type");
  bad('<NoSuchTag type="Integer" value="1"/>', "unknown tag");
  bad('<TTLV type="Integer" value="1"/>', "without a tag");
  bad('<TTLV tag="0x430001" type="Integer" value="1"/>', "unknown tag");
  bad('<BatchCount type="Integer"/>', "no value");
  bad('<BatchCount type="Integer" value="1" extra="x"/>', "unknown attribute");
  bad('<BatchCount type="Integer" value="1"><BatchCount type="Integer" value="1"/></BatchCount>', "child elements");
  bad('<RequestHeader value="1"/>', "value attribute");
});

test("XML parser: refuses DOCTYPE/entities, CDATA, PIs, text, malformed markup, and bounds size, depth and element count", () => {
  const bad = (xml: string, fragment?: string, options = {}) => rejects(() => xmlToTtlv(xml, options), "Invalid Message", fragment);
  bad('<!DOCTYPE lolz [<!ENTITY lol "lol">]><RequestMessage/>', "DOCTYPE");
  bad('<RequestMessage><NameValue type="TextString" value="&lol;"/></RequestMessage>', "unknown entity");
  bad('<RequestMessage><NameValue type="TextString" value="&#0;"/></RequestMessage>', "character reference");
  bad("<RequestMessage><![CDATA[x]]></RequestMessage>", "CDATA");
  bad('<?xml-stylesheet href="x"?><RequestMessage/>', "processing instructions");
  bad("<RequestMessage>text</RequestMessage>", "text content");
  bad("<RequestMessage></ResponseMessage>", "does not match the start tag at offset 0");
  bad("<RequestMessage>", "unterminated");
  bad("<RequestMessage", "unterminated");
  bad('<RequestMessage a="1" a="2"/>', "duplicate attribute");
  bad('<RequestMessage a="<"/>', "'<'");
  bad('<RequestMessage a="1"b="2"/>', "whitespace");
  bad("<RequestMessage/><RequestMessage/>", "after the root");
  bad("", "no root");
  bad("<!-- a -- b --><RequestMessage/>", "'--'");
  bad("<RequestMessage/>", "exceeds the limit of 10", { maxChars: 10 });
  const nested = (n: number) => `${"<Attributes>".repeat(n)}${"</Attributes>".repeat(n)}`;
  assert.doesNotThrow(() => xmlToTtlv(nested(32)));
  bad(nested(33), "deeper than 32");
  bad("<Attributes>".repeat(250_000), "deeper than 32"); // stops early, no stack overflow
  bad(`<Attributes>${"<Attributes/>".repeat(20)}</Attributes>`, "more than 10 elements", { maxItems: 10 });
  // parseXml alone gives the element tree, attributes without prototype.
  const el = parseXml('<a b="1" constructor="x"><c/></a>');
  assert.equal(el.attributes.b, "1");
  assert.equal(Object.getPrototypeOf(el.attributes), null);
  assert.equal(el.children[0].name, "c");
});

test("XML: the placeholder hook rewrites values before they are typed", () => {
  const seen: string[] = [];
  const item = xmlToTtlv(
    '<ResponseHeader><TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="1"/></ResponseHeader>',
    {
      resolveValue: (value, { tag, type }) => {
        seen.push(`${tag.toString(16)}:${type}:${value}`);
        return value === "$NOW" ? "2021-06-01T12:00:00Z" : value;
      },
    },
  );
  assert.deepEqual(seen, ["420092:9:$NOW", "42000d:2:1"]);
  assert.deepEqual(item, struct("ResponseHeader", dateTime("TimeStamp", 1622548800n), int("BatchCount", 1)));
});

test("XML: text that XML 1.0 cannot carry is refused on output", () => {
  rejects(() => ttlvToXml(text("NameValue", "a\u0001b")), "Invalid Field", "cannot be written");
});

test("JSON: the profile's object form, both ways", () => {
  const msg = struct("RequestMessage", struct("RequestHeader", int("BatchCount", 1)), struct("BatchItem", enm("Operation", "Get")));
  assert.equal(
    ttlvToJson(msg),
    '{"tag":"RequestMessage","value":[{"tag":"RequestHeader","value":[{"tag":"BatchCount","type":"Integer","value":1}]},{"tag":"BatchItem","value":[{"tag":"Operation","type":"Enumeration","value":"Get"}]}]}',
  );
  assert.deepEqual(jsonToTtlv(ttlvToJson(msg, { space: 2 })), msg);
  assert.deepEqual(jsonToTtlv(ttlvToJson(request)), request);
  const forms = ttlvToJsonValue(
    struct(
      0x420020,
      int("CryptographicUsageMask", 12),
      long(0x420020, 2n ** 60n),
      long(0x420020, -5n),
      bigInt(0x420020, 65537n),
      bytes(0x420020, Buffer.from([1, 2])),
      dateTime(0x420020, 0n),
      enm(0x540001, 3),
    ),
  );
  assert.deepEqual(
    (forms.value as { value: unknown }[]).map((c) => c.value),
    ["Encrypt|Decrypt", "0x1000000000000000", -5, "0x0000000000010001", "0102", "1970-01-01T00:00:00+00:00", "0x00000003"],
  );
  assert.equal((forms.value as { tag: string }[])[6].tag, "0x540001");
});

test("JSON: lenient number and name forms in, strict structure", () => {
  const item = jsonValueToTtlv({
    tag: "Request Payload",
    value: [
      { tag: "Operation", type: "Enumeration", value: 10 },
      { tag: "CryptographicUsageMask", type: "Integer", value: "Encrypt Decrypt" },
      { tag: "UsageLimitsTotal", type: "LongInteger", value: "0xFFFFFFFFFFFFFFFF" },
      { tag: "UsageLimitsTotal", type: "LongInteger", value: 42 },
      { tag: "Sensitive", type: "Boolean", value: "true" },
      { tag: "0x540001", type: "TextString", value: "$X" },
    ],
  });
  assert.deepEqual(
    item,
    struct(
      "RequestPayload",
      enm("Operation", 10),
      int("CryptographicUsageMask", 12),
      long("UsageLimitsTotal", -1n),
      long("UsageLimitsTotal", 42n),
      bool("Sensitive", true),
      text(0x540001, "$X"),
    ),
  );
  const bad = (v: unknown, reason: "Invalid Message" | "Invalid Field", fragment?: string) =>
    rejects(() => jsonValueToTtlv(v), reason, fragment);
  bad([], "Invalid Message", "object");
  bad({ tag: "BatchCount", type: "Integer" }, "Invalid Field", 'no "value"');
  bad({ tag: "BatchCount", type: "Integer", value: 1, extra: 1 }, "Invalid Field", "unknown member");
  bad({ tag: "BatchCount", type: "Integer", value: 2 ** 31 }, "Invalid Field", "does not fit");
  bad({ tag: "BatchCount", type: "Integer", value: true }, "Invalid Field");
  bad({ tag: "Nope", value: [] }, "Invalid Field", "unknown tag");
  bad({ tag: "RequestMessage", value: {} }, "Invalid Field", "not an array");
  bad({ tag: "RequestMessage", type: 1, value: [] }, "Invalid Field");
  rejects(() => jsonToTtlv("{"), "Invalid Message", "JSON");
  rejects(() => jsonToTtlv("[".repeat(100_000)), "Invalid Message");
  rejects(() => jsonToTtlv('{"tag":"RequestMessage","value":[]}', { maxChars: 10 }), "Invalid Message", "exceeds");
  let deep: unknown = { tag: "Attributes", value: [] };
  for (let i = 0; i < 40; i++) deep = { tag: "Attributes", value: [deep] };
  rejects(() => jsonValueToTtlv(deep), "Invalid Message", "deeper than 32");
  assert.equal(Tag.Attributes, 0x420125);
});
