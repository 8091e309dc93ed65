// The served OpenAPI document is the validating schemas: Ajv compiles it and refuses what the server refuses; path,
// query and response schemas are typed; query integers are plain digits and reach handlers as numbers.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { type Instance, newInstance } from "./helpers.js";

/** An Ajv as a client would set one up from the document alone (the extension keyword is a plain size check). */
function clientAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv, ["byte"]);
  ajv.addKeyword({
    keyword: "x-maxDecodedBytes",
    type: "string",
    validate: (max: number, s: string) => Buffer.from(s, "base64").length <= max,
  });
  return ajv;
}

describe("REST schemas", () => {
  let i: Instance;
  let doc: any;
  before(async () => {
    i = await newInstance();
    doc = (await i.as.app.call("GET", "/v1/openapi.json")).body;
  });
  after(() => i.cleanup());

  test("the document's request schema is the one the server validates with: same verdict on every body", async () => {
    const validate = clientAjv().compile(doc.paths["/v1/keys"].post.requestBody.content["application/json"].schema);
    const bodies: unknown[] = [
      { name: "s-ok-1", type: "aes-256" },
      { name: "s-ok-2", type: "hmac-sha256", rotation: { mode: "manual" }, policy: { users: ["app"] }, exportable: false },
      { name: "s-bad-1", type: "aes-999" },
      { name: "s bad", type: "aes-256" },
      { name: "s-bad-2", type: "aes-256", colour: "red" },
      { name: "s-bad-3", type: "aes-256", policy: { roles: ["admin"] } },
      { name: "s-bad-4", type: "aes-256", rotation: { mode: "auto", periodDays: 0 } },
      { name: "s-bad-5", type: "aes-256", description: "d".repeat(1025) },
      { name: "s-bad-6" },
      [],
    ];
    for (const body of bodies) {
      const r = await i.as.admin1.call("POST", "/v1/keys", body);
      const ok = validate(body);
      assert.equal(r.status, ok ? 201 : 400, `${JSON.stringify(body)}: document says ${ok}, server ${JSON.stringify(r.body)}`);
      if (!ok) assert.equal(r.body.error.code, "validation");
    }
    // The crypto body: one item or {"batch": [...]}, base64 bounded by its decoded size.
    const enc = clientAjv().compile(doc.paths["/v1/keys/{name}/encrypt"].post.requestBody.content["application/json"].schema);
    const context4096 = Buffer.alloc(4096).toString("base64");
    const context4097 = Buffer.alloc(4097).toString("base64");
    for (const body of [
      { plaintext: "aGk=", context: context4096 },
      { plaintext: "aGk=", context: context4097 },
      { plaintext: "not base64!" },
      { batch: [{ plaintext: "aGk=" }] },
      { batch: [] },
      { batch: [{ plaintext: "aGk=" }], plaintext: "aGk=" },
    ]) {
      const r = await i.as.app.call("POST", "/v1/keys/s-ok-1/encrypt", body);
      const ok = enc(body);
      assert.equal(r.status, ok ? 200 : 400, `encrypt ${JSON.stringify(body).slice(0, 80)}: document says ${ok}, server ${r.status}`);
    }
  });

  test("path and query parameters carry their schemas; responses are described", () => {
    const show = doc.paths["/v1/keys/{name}"].get;
    const name = show.parameters.find((p: any) => p.in === "path" && p.name === "name");
    assert.equal(name.schema.pattern, "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$");
    const limit = doc.paths["/v1/keys"].get.parameters.find((p: any) => p.name === "limit");
    assert.deepEqual(
      [limit.in, limit.required, limit.schema.type, limit.schema.minimum, limit.schema.maximum],
      ["query", false, "integer", 1, 1000],
    );
    const serial = doc.paths["/v1/certs/{serial}"].delete.parameters.find((p: any) => p.name === "serial");
    assert.equal(serial.schema.pattern, "^[0-9A-Fa-f:]+$");
    const keyReply = show.responses["2XX"].content["application/json"].schema;
    assert.ok(keyReply.properties.versions, "the key view is described, not just 'an object'");
  });

  test("real responses match their documented schemas", async () => {
    const ajv = clientAjv();
    for (const [path, pattern] of [
      ["/v1/keys/s-ok-1", "/v1/keys/{name}"],
      ["/v1/keys?limit=5", "/v1/keys"],
      ["/v1/keys/s-ok-1/material", "/v1/keys/{name}/material"],
    ] as const) {
      const r = await i.as.app.call("GET", path);
      assert.equal(r.status, 200, path);
      const schema = doc.paths[pattern].get.responses["2XX"].content["application/json"].schema;
      const validate = ajv.compile(schema);
      assert.ok(validate(r.body), `${path}: ${JSON.stringify(validate.errors)}`);
    }
  });

  test("query integers are plain decimal digits, and handlers get numbers", async () => {
    for (const limit of ["0x10", "1e1", "%2010", "+5", "1.0", ""]) {
      const r = await i.as.admin1.call("GET", `/v1/keys?limit=${limit}`);
      assert.equal(r.status, 400, `limit=${limit}`);
      assert.equal(r.body.error.message, "limit: must be a whole number");
    }
    const one = await i.as.admin1.call("GET", "/v1/keys?limit=1");
    assert.equal(one.status, 200);
    assert.equal(one.body.keys.length, 1);
    assert.ok(one.body.next, "a next cursor: the number 1 was used as the page size");
    const over = await i.as.admin1.call("GET", "/v1/keys?limit=1001");
    assert.equal(over.body.error.message, "limit: must be an integer in 1..1000");
  });
});
