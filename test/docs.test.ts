// Documentation matches the code: every route and every error code is in docs/api.md; the OpenAPI document is served.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ERRORS } from "../src/errors/registry.js";
import { createRouter } from "../src/http/routes/index.js";
import { newInstance } from "./helpers.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

test("docs/api.md lists every route and every error code", () => {
  const doc = readFileSync(`${root}docs/api.md`, "utf8");
  for (const r of createRouter("x").routes)
    assert.ok(doc.includes(`${r.method} ${r.path}`), `${r.method} ${r.path} missing from docs/api.md`);
  for (const code of Object.keys(ERRORS)) assert.ok(doc.includes(`\`${code}\``), `error ${code} missing from docs/api.md`);
});

test("GET /v1/openapi.json describes every route with the validating schemas", async () => {
  const i = await newInstance();
  try {
    const r = await i.as.app.call("GET", "/v1/openapi.json");
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, "3.1.0");
    const create = r.body.paths["/v1/keys"].post.requestBody.content["application/json"].schema;
    assert.deepEqual(create.required, ["name", "type"]);
    assert.ok(create.properties.type.enum.includes("rsa-4096"));
    assert.equal(create.additionalProperties, false);
    assert.ok(r.body.paths["/v1/keys/{name}/encrypt"].post);
    assert.deepEqual(r.body.paths["/v1/sys/health"].get.security, []);
  } finally {
    await i.cleanup();
  }
});
