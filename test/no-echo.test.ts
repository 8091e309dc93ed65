// Errors never echo request content: secret-shaped values and names in every KMIP JSON/XML/TTLV decode error and REST
// validation error stay out of the reply and the audit log; errors give positions, types and our own names only.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { type Instance, newInstance } from "./helpers.js";

/** Secret-shaped: what a misplaced API key in a request would look like. */
const SECRET = "sk_live_SECRET4f9a8b7c6d5e";
/** The part of SECRET that must appear nowhere (case-insensitive: hex and names may be re-cased). */
const NEEDLE = /secret4f9a8b7c6d5e/i;

const header =
  '{"tag":"RequestHeader","value":[{"tag":"ProtocolVersion","value":[{"tag":"ProtocolVersionMajor","type":"Integer","value":1},{"tag":"ProtocolVersionMinor","type":"Integer","value":4}]},{"tag":"BatchCount","type":"Integer","value":1}]}';
const jsonMessage = (item: string) => `{"tag":"RequestMessage","value":[${header},${item}]}`;
const jsonPayload = (op: string, payload: string) =>
  jsonMessage(
    `{"tag":"BatchItem","value":[{"tag":"Operation","type":"Enumeration","value":"${op}"},{"tag":"RequestPayload","value":[${payload}]}]}`,
  );
const S = JSON.stringify(SECRET);

/** KMIP JSON requests, each failing in a different decode path with SECRET in the failing place. */
const JSON_CASES: Record<string, string> = {
  "Integer value": jsonMessage(`{"tag":"ProtocolVersionMajor","type":"Integer","value":${S}}`),
  "Enumeration value": jsonPayload(SECRET, ""),
  "Long Integer value": jsonMessage(`{"tag":"CompromiseDate","type":"LongInteger","value":${S}}`),
  "Interval value": jsonMessage(`{"tag":"Offset","type":"Interval","value":${S}}`),
  "Boolean value": jsonMessage(`{"tag":"Sensitive","type":"Boolean","value":${S}}`),
  "Date-Time value": jsonMessage(`{"tag":"CompromiseDate","type":"DateTime","value":${S}}`),
  "Date-Time value shaped like a date": jsonMessage(`{"tag":"CompromiseDate","type":"DateTime","value":"2024-13-01T00:00:00Z${SECRET}"}`),
  "Date-Time Extended value": jsonMessage(`{"tag":"CompromiseDate","type":"DateTimeExtended","value":${S}}`),
  "Big Integer value": jsonMessage(`{"tag":"PrimeFieldSize","type":"BigInteger","value":${S}}`),
  "Byte String value": jsonMessage(`{"tag":"KeyMaterial","type":"ByteString","value":${S}}`),
  "mask value": jsonMessage(`{"tag":"CryptographicUsageMask","type":"Integer","value":"Encrypt|${SECRET}"}`),
  "Attribute Value named by its Attribute Name": jsonMessage(
    `{"tag":"Attribute","value":[{"tag":"AttributeName","type":"TextString","value":"Cryptographic Algorithm"},{"tag":"AttributeValue","type":"Enumeration","value":${S}}]}`,
  ),
  "unknown tag": jsonMessage(`{"tag":${S},"type":"Integer","value":1}`),
  "unknown member": jsonMessage(`{"tag":"BatchCount","type":"Integer","value":1,${S}:1}`),
  "unknown type": jsonMessage(`{"tag":"BatchCount","type":${S},"value":1}`),
  "type of the wrong kind": jsonMessage(`{"tag":"BatchCount","type":[${S}],"value":1}`),
  "extension tag with a bad value": jsonMessage(`{"tag":"0x54ab12","type":"Integer","value":${S}}`),
  "syntax error": `{"tag":"RequestMessage","value":[${S} ${S}]}`,
  "unknown attribute name in Register": jsonPayload(
    "Create",
    `{"tag":"ObjectType","type":"Enumeration","value":"SymmetricKey"},{"tag":"TemplateAttribute","value":[{"tag":"Attribute","value":[{"tag":"AttributeName","type":"TextString","value":${S}},{"tag":"AttributeValue","type":"Integer","value":1}]}]}`,
  ),
};

const xmlMessage = (item: string) =>
  `<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion><BatchCount type="Integer" value="1"/></RequestHeader>${item}</RequestMessage>`;

const XML_CASES: Record<string, string> = {
  "Integer value": xmlMessage(`<ProtocolVersionMajor type="Integer" value="${SECRET}"/>`),
  "Enumeration value": xmlMessage(`<BatchItem><Operation type="Enumeration" value="${SECRET}"/></BatchItem>`),
  "Long Integer value": xmlMessage(`<CompromiseDate type="LongInteger" value="${SECRET}"/>`),
  "Boolean value": xmlMessage(`<Sensitive type="Boolean" value="${SECRET}"/>`),
  "Date-Time value": xmlMessage(`<CompromiseDate type="DateTime" value="${SECRET}"/>`),
  "Interval value": xmlMessage(`<Offset type="Interval" value="${SECRET}"/>`),
  "mask value": xmlMessage(`<CryptographicUsageMask type="Integer" value="Encrypt ${SECRET}"/>`),
  "unknown element": xmlMessage(`<${SECRET} type="Integer" value="1"/>`),
  "unknown TTLV tag": xmlMessage(`<TTLV tag="${SECRET}" type="Integer" value="1"/>`),
  "tag attribute on a named element": xmlMessage(`<${SECRET} tag="0x420001" type="Integer" value="1"/>`),
  "unknown attribute": xmlMessage(`<BatchCount type="Integer" value="1" ${SECRET}="1"/>`),
  "unknown type": xmlMessage(`<BatchCount type="${SECRET}" value="1"/>`),
  "duplicate attribute": xmlMessage(`<BatchCount ${SECRET}="1" ${SECRET}="2"/>`),
  "mismatched end tag": xmlMessage(`<BatchItem></${SECRET}>`),
  "unterminated element": `<${SECRET}>`,
  "unknown entity": xmlMessage(`<NameValue type="TextString" value="&${SECRET};"/>`),
  "bad character reference": xmlMessage(`<NameValue type="TextString" value="&#${SECRET};"/>`),
  "structure with a value": xmlMessage(`<RequestPayload value="${SECRET}"/>`),
};

/** TTLV: an extension tag (whose hex must not be echoed) and a declared length spelling "secr". */
const TTLV_CASES: Record<string, Buffer> = {
  "length past the end": Buffer.from("420078010000002054ab120773656372", "hex"),
  "non-zero padding": Buffer.from("42007801000000105400000200000004000000017365637200000000", "hex"),
};

describe("errors never echo request content", () => {
  let i: Instance;
  before(async () => {
    i = await newInstance();
  });
  after(async () => {
    await i.cleanup();
  });

  const kmip = async (body: string | Buffer, contentType: string) => {
    const r = await i.as.app.call("POST", "/kmip", body, { "content-type": contentType });
    assert.equal(r.status, 200);
    const text = Buffer.isBuffer(r.body) ? r.body.toString("latin1") : typeof r.body === "string" ? r.body : JSON.stringify(r.body);
    return text;
  };

  test("KMIP JSON: every decode error names positions, types and our own tag names, never the request's text", async () => {
    for (const [name, body] of Object.entries(JSON_CASES)) {
      const text = await kmip(body, "application/json");
      assert.match(text, /OperationFailed/, `${name}: refused`);
      assert.doesNotMatch(text, NEEDLE, `${name}: ${text}`);
      assert.doesNotMatch(text, /54ab12/i, `${name}: no unnamed tag hex`);
    }
    // Still useful: the failing item and its (known) tag are named.
    const t = await kmip(JSON_CASES["Integer value"], "application/json");
    assert.match(t, /item \d+ \(ProtocolVersionMajor\): value is not an Integer/);
  });

  test("KMIP XML: every parse and decode error gives the offset, never the request's text", async () => {
    for (const [name, body] of Object.entries(XML_CASES)) {
      const text = await kmip(body, "text/xml");
      assert.match(text, /OperationFailed/, `${name}: refused`);
      assert.doesNotMatch(text, NEEDLE, `${name}: ${text}`);
    }
    const t = await kmip(XML_CASES["Integer value"], "text/xml");
    assert.match(t, /&lt;ProtocolVersionMajor&gt;: value is not an Integer \(\d+ characters\) \(at offset \d+\)/);
  });

  test("KMIP TTLV: decode errors name no unnamed tag and no declared length", async () => {
    for (const [name, body] of Object.entries(TTLV_CASES)) {
      const text = await kmip(body, "application/octet-stream");
      assert.doesNotMatch(text, /54ab12|1936024434|73656372/i, `${name}: ${text}`);
      assert.match(text, /extension tag|padding|exceeds/, name);
    }
    // The frame reader (KMIP port) refuses a header without echoing its length or type byte.
    for (const header of ["42007801 73656372", "42007807 00000008"]) {
      try {
        new FrameReader().push(Buffer.from(header.replace(" ", ""), "hex"));
        assert.fail("refused");
      } catch (e) {
        assert.doesNotMatch((e as Error).message, /1936024434|0x7\b|type 0x/, (e as Error).message);
      }
    }
  });

  test("REST: unknown body fields and query parameters are reported by position; values are never quoted", async () => {
    const a = i.as.admin1;
    const cases: [string, string, unknown][] = [
      ["POST", "/v1/keys", { name: "k1", type: "aes-256", [SECRET]: 1 }],
      ["POST", "/v1/keys", { name: "k1", type: "aes-256", policy: { users: ["a"], [SECRET]: true } }],
      ["POST", "/v1/keys", { name: "k1", type: SECRET }],
      ["POST", "/v1/keys", { name: `${SECRET}!`, type: "aes-256" }],
      ["POST", "/v1/keys", { name: "k1", type: "aes-256", exportable: SECRET }],
      ["POST", "/v1/keys", `{"name":"k1","type":"aes-256",${S}:1,${S}:2}`],
      ["GET", `/v1/keys?${SECRET}=1`, undefined],
      ["GET", `/v1/keys?limit=${SECRET}`, undefined],
    ];
    for (const [method, path, body] of cases) {
      const r = await a.call(method, path, body);
      assert.equal(r.status, 400, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "validation");
      assert.doesNotMatch(JSON.stringify(r.body), NEEDLE, `${method} ${path}: ${r.body.error.message}`);
    }
    const r = await a.call("POST", "/v1/keys", { name: "k1", [SECRET]: 1, type: "aes-256" });
    assert.match(r.body.error.message, /^body: field 2 of 3 is not a known field \(known: name, type, /);
    const nested = await a.call("POST", "/v1/keys", { name: "k1", type: "aes-256", policy: { [SECRET]: true } });
    assert.match(nested.body.error.message, /^policy: field 1 of 1 is not a known field/);
  });

  test("the audit log holds none of it either", async () => {
    const raw = await i.server.app.store.all<Record<string, unknown>>("SELECT * FROM events");
    const stored = JSON.stringify(raw);
    assert.ok(raw.length > 40, "every request above was audited");
    assert.doesNotMatch(stored, NEEDLE);
    assert.doesNotMatch(stored, /54ab12/i);
    const api = await i.as.auditor.call("GET", "/v1/audit?limit=1000");
    assert.doesNotMatch(JSON.stringify(api.body), NEEDLE);
    // The refusals are there, with their positions and types.
    const reasons = api.body.events.map((e: { reason: string | null }) => e.reason ?? "").join("\n");
    assert.match(reasons, /bad_request: item \d+ \(ProtocolVersionMajor\): value is not an Integer/);
    assert.match(reasons, /validation: body: field \d of \d is not a known field/);
  });
});
