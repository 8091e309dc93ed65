// Separation of duties, walked completely: every REST route and every KMIP operation, called as admin, auditor, client
// and peer with a minimal valid request, is allowed or refused exactly as test/role-matrix.ts (= docs/security.md)
// says — and every refusal is an audit event with outcome denied.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createRouter } from "../src/http/routes/index.js";
import { jsonToTtlv, ttlvToJson } from "../src/kmip/codec/json.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, enm, find, int, struct, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";
import { OPERATIONS } from "../src/kmip/operations/index.js";
import { type Client, client, type Instance, newInstance } from "./helpers.js";
import { KmipClient, request, results } from "./kmip-client.js";
import { allowedNow, KMIP_MATRIX, markdownRows, REST_MATRIX, ROLES, type Role } from "./role-matrix.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const ROUTES = createRouter("test").routes;
const KMIP_OPS = [...OPERATIONS.values()].map((o) => o.name);
const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

type Version = [number, number];
const V14: Version = [1, 4];
const V21: Version = [2, 1];
const b64 = (s: string) => Buffer.from(s).toString("base64");
const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const data = (b: Buffer) => bytes(Tag.Data, b);
const attr1x = (name: string, value: TtlvItem) =>
  struct(Tag.Attribute, text(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem);
const gcm = () => struct(Tag.CryptographicParameters, enm(Tag.BlockCipherMode, Enum.BlockCipherMode.GCM));
const ecdsa = () => struct(Tag.CryptographicParameters, enm(Tag.DigitalSignatureAlgorithm, Enum.DigitalSignatureAlgorithm.ECDSAWithSHA256));
const aesAttributes = () =>
  struct(
    Tag.Attributes,
    enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
    int(Tag.CryptographicLength, 256),
    int(Tag.CryptographicUsageMask, 0x0c),
  );

test("docs/security.md carries the role matrix exactly as test/role-matrix.ts", () => {
  const doc = readFileSync(`${root}docs/security.md`, "utf8");
  const section = doc.split(/^## /m).find((s) => s.startsWith("Role matrix"));
  assert.ok(section, "docs/security.md has a '## Role matrix' section");
  const documented = section
    .split("\n")
    .filter((l) => /^\| (KMIP )?`[^`]+` \|/.test(l))
    .map((l) => l.trim());
  assert.deepEqual(documented, markdownRows());
});

test("the matrix names every REST route and every KMIP operation, and nothing else", () => {
  assert.deepEqual(Object.keys(REST_MATRIX).sort(), ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  assert.deepEqual(Object.keys(KMIP_MATRIX).sort(), [...KMIP_OPS].sort());
});

describe("role matrix", () => {
  let i: Instance;
  const rest = {} as Record<Role, Client>;
  const kmip = {} as Record<Role, KmipClient>;
  const cn: Record<Role, string> = { admin: "admin1", auditor: "auditor", client: "app", peer: "peer1" };
  let n = 0;
  const uniq = (p: string) => `${p}-${++n}`;

  let peerTls = { cert: "", key: "", ca: "" };
  /** (Re)connects every role's REST and KMIP client to the running server. */
  async function connectAll() {
    for (const r of ROLES) kmip[r]?.close();
    rest.peer?.close();
    Object.assign(rest, { admin: i.as.admin1, auditor: i.as.auditor, client: i.as.app, peer: client(i.url, peerTls) });
    const bundles: Record<Role, { cert: string; key: string; ca: string }> = {
      admin: i.bundle("admin1"),
      auditor: i.bundle("auditor"),
      client: i.bundle("app"),
      peer: peerTls,
    };
    for (const r of ROLES) kmip[r] = await KmipClient.open(i.server.kmipPort, bundles[r]);
  }

  before(async () => {
    i = await newInstance();
    const peer = await i.as.admin1.call("POST", "/v1/certs", { cn: "peer1", ou: "mirror", role: "peer" });
    assert.equal(peer.status, 201, JSON.stringify(peer.body));
    peerTls = { cert: peer.body.certificate, key: peer.body.privateKey, ca: peer.body.ca };
    await connectAll();
  });
  after(async () => {
    for (const r of ROLES) kmip[r]?.close();
    rest.peer?.close();
    await i.cleanup();
  });

  const lastSeq = async () =>
    Number((await i.server.app.store.get<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM events"))?.seq ?? 0);

  /** Every refusal is audited: an event by this caller after `seq`, with the operation's action and outcome denied. */
  async function assertDeniedEvent(role: Role, seq: number, action: string, what: string) {
    const ev = await i.server.app.store.all<{ action: string; outcome: string }>(
      "SELECT action, outcome FROM events WHERE seq > $1 AND actor_cn = $2 ORDER BY seq",
      [seq, cn[role]],
    );
    assert.ok(
      ev.some((e) => e.action === action && e.outcome === "denied"),
      `${what} as ${role}: no denied ${action} event (got ${JSON.stringify(ev)})`,
    );
  }

  // ---- fixtures, created by the client "app" (their owner) ----

  async function restKey(type = "aes-256"): Promise<{ name: string; id: string }> {
    const name = uniq(`k-${type}`);
    const r = await i.as.app.call("POST", "/v1/keys", { name, type });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return { name, id: r.body.versions[0].id };
  }
  async function appCall(method: string, path: string, body?: unknown) {
    const r = await i.as.app.call(method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }
  async function appKmip(v: Version, op: keyof typeof Enum.Operation, payload: TtlvItem[]) {
    return kmip.client.ok(v, op, payload);
  }
  const field = (p: TtlvItem, tag: number) => find(p, tag)?.value as Buffer;

  // ---- one minimal valid request per REST route ----

  interface RestReq {
    method: string;
    path: string;
    body?: unknown;
    headers?: Record<string, string>;
    /**
     * An allowed caller's request reaches the service but cannot succeed in this instance (unseal of an unsealed
     * server, rekey of a file seal, approval of an unknown request): the exact refusal the service gives it, which
     * shows the role passed the gate.
     */
    allowedAs?: { status: number; code: string };
  }
  const kmipMessage = () => ttlvToJson(request(V14, [["DiscoverVersions", []]]));
  const REST_REQUESTS: Record<string, () => Promise<RestReq>> = {
    "GET /v1/sys/health": async () => ({ method: "GET", path: "/v1/sys/health" }),
    "GET /v1/sys/status": async () => ({ method: "GET", path: "/v1/sys/status" }),
    "POST /v1/sys/unseal": async () => ({
      method: "POST",
      path: "/v1/sys/unseal",
      body: { share: "x" },
      allowedAs: { status: 400, code: "bad_request" },
    }),
    "GET /v1/openapi.json": async () => ({ method: "GET", path: "/v1/openapi.json" }),
    "POST /v1/keys": async () => ({ method: "POST", path: "/v1/keys", body: { name: uniq("new"), type: "aes-256" } }),
    "GET /v1/keys": async () => ({ method: "GET", path: "/v1/keys" }),
    "GET /v1/keys/{name}": async () => ({ method: "GET", path: `/v1/keys/${(await restKey()).name}` }),
    "PATCH /v1/keys/{name}": async () => ({ method: "PATCH", path: `/v1/keys/${(await restKey()).name}`, body: { description: "x" } }),
    "POST /v1/keys/{name}/rotate": async () => ({ method: "POST", path: `/v1/keys/${(await restKey()).name}/rotate` }),
    "POST /v1/keys/{name}/revoke": async () => ({
      method: "POST",
      path: `/v1/keys/${(await restKey()).name}/revoke`,
      body: { reason: "superseded" },
    }),
    "DELETE /v1/keys/{name}": async () => ({ method: "DELETE", path: `/v1/keys/${(await restKey()).name}`, body: { pendingDays: 1 } }),
    "POST /v1/keys/{name}/cancel-deletion": async () => {
      const k = await restKey();
      await appCall("DELETE", `/v1/keys/${k.name}`, {});
      return { method: "POST", path: `/v1/keys/${k.name}/cancel-deletion` };
    },
    "GET /v1/keys/{name}/material": async () => ({ method: "GET", path: `/v1/keys/${(await restKey()).name}/material` }),
    "POST /v1/keys/{name}/encrypt": async () => ({
      method: "POST",
      path: `/v1/keys/${(await restKey()).name}/encrypt`,
      body: { plaintext: b64("x") },
    }),
    "POST /v1/keys/{name}/decrypt": async () => {
      const k = await restKey();
      const { ciphertext } = await appCall("POST", `/v1/keys/${k.name}/encrypt`, { plaintext: b64("x") });
      return { method: "POST", path: `/v1/keys/${k.name}/decrypt`, body: { ciphertext } };
    },
    "POST /v1/keys/{name}/rewrap": async () => {
      const k = await restKey();
      const { ciphertext } = await appCall("POST", `/v1/keys/${k.name}/encrypt`, { plaintext: b64("x") });
      return { method: "POST", path: `/v1/keys/${k.name}/rewrap`, body: { ciphertext } };
    },
    "POST /v1/keys/{name}/datakey": async () => ({ method: "POST", path: `/v1/keys/${(await restKey()).name}/datakey`, body: {} }),
    "POST /v1/keys/{name}/sign": async () => ({
      method: "POST",
      path: `/v1/keys/${(await restKey("ec-p256")).name}/sign`,
      body: { input: b64("x") },
    }),
    "POST /v1/keys/{name}/verify": async () => {
      const k = await restKey("ec-p256");
      const { signature } = await appCall("POST", `/v1/keys/${k.name}/sign`, { input: b64("x") });
      return { method: "POST", path: `/v1/keys/${k.name}/verify`, body: { input: b64("x"), signature } };
    },
    "POST /v1/keys/{name}/hmac": async () => ({
      method: "POST",
      path: `/v1/keys/${(await restKey("hmac-sha256")).name}/hmac`,
      body: { input: b64("x") },
    }),
    "POST /v1/keys/{name}/hmac-verify": async () => {
      const k = await restKey("hmac-sha256");
      const { mac } = await appCall("POST", `/v1/keys/${k.name}/hmac`, { input: b64("x") });
      return { method: "POST", path: `/v1/keys/${k.name}/hmac-verify`, body: { input: b64("x"), mac } };
    },
    "POST /v1/keys/{name}/export": async () => {
      const [k, wk] = [await restKey(), await restKey()];
      return { method: "POST", path: `/v1/keys/${k.name}/export`, body: { wrappingKey: { name: wk.name } } };
    },
    "POST /v1/keys/import": async () => ({
      method: "POST",
      path: "/v1/keys/import",
      body: { name: uniq("imported"), type: "aes-256", material: randomBytes(32).toString("base64") },
    }),
    "GET /v1/sys/wrapping-key": async () => ({ method: "GET", path: "/v1/sys/wrapping-key" }),
    "GET /v1/approvals": async () => ({ method: "GET", path: "/v1/approvals" }),
    "POST /v1/approvals/{id}/approve": async () => ({
      method: "POST",
      path: `/v1/approvals/${randomUUID()}/approve`,
      allowedAs: { status: 404, code: "approval_not_found" },
    }),
    "POST /v1/approvals/{id}/deny": async () => ({
      method: "POST",
      path: `/v1/approvals/${randomUUID()}/deny`,
      allowedAs: { status: 404, code: "approval_not_found" },
    }),
    "POST /v1/approvals/window": async () => ({ method: "POST", path: "/v1/approvals/window", body: { minutes: 1 } }),
    "GET /v1/sys/governance": async () => ({ method: "GET", path: "/v1/sys/governance" }),
    "PATCH /v1/sys/governance": async () => ({ method: "PATCH", path: "/v1/sys/governance", body: { approvalWindowMinutes: 60 } }),
    "POST /v1/sys/rekey/init": async () => ({
      method: "POST",
      path: "/v1/sys/rekey/init",
      body: { shares: 3, threshold: 2 },
      allowedAs: { status: 400, code: "bad_request" },
    }),
    "GET /v1/sys/rekey": async () => ({ method: "GET", path: "/v1/sys/rekey" }),
    "POST /v1/sys/rekey/update": async () => ({
      method: "POST",
      path: "/v1/sys/rekey/update",
      body: { nonce: "0", share: "x" },
      allowedAs: { status: 400, code: "bad_request" },
    }),
    "DELETE /v1/sys/rekey": async () => ({ method: "DELETE", path: "/v1/sys/rekey" }),
    "POST /v1/sys/rotate-master": async () => ({ method: "POST", path: "/v1/sys/rotate-master" }),
    "POST /v1/sys/rotate-kek": async () => ({ method: "POST", path: "/v1/sys/rotate-kek" }),
    "GET /v1/sys/rotate-kek": async () => ({ method: "GET", path: "/v1/sys/rotate-kek" }),
    // Sealing succeeds for the admin; the test then restarts the server (file seal: unsealed at start).
    "POST /v1/sys/seal": async () => ({ method: "POST", path: "/v1/sys/seal" }),
    "GET /v1/keys/{name}/usage": async () => ({ method: "GET", path: `/v1/keys/${(await restKey()).name}/usage` }),
    "GET /v1/reports/keys": async () => ({ method: "GET", path: "/v1/reports/keys?staleDays=30" }),
    "POST /v1/certs": async () => ({ method: "POST", path: "/v1/certs", body: { cn: uniq("svc"), role: "client" } }),
    "GET /v1/certs": async () => ({ method: "GET", path: "/v1/certs" }),
    "DELETE /v1/certs/{serial}": async () => {
      const c = await i.as.admin1.call("POST", "/v1/certs", { cn: uniq("victim"), role: "client" });
      assert.equal(c.status, 201);
      return { method: "DELETE", path: `/v1/certs/${c.body.serial}` };
    },
    "GET /v1/audit": async () => ({ method: "GET", path: "/v1/audit?limit=1" }),
    "GET /v1/audit/verify": async () => ({ method: "GET", path: "/v1/audit/verify" }),
    "POST /kmip": async () => ({
      method: "POST",
      path: "/kmip",
      body: kmipMessage(),
      headers: { "content-type": "application/json" },
    }),
  };

  for (const route of ROUTES) {
    const key = `${route.method} ${route.path}`;
    test(`REST ${key}`, async () => {
      const row = REST_MATRIX[key];
      const build = REST_REQUESTS[key];
      assert.ok(row, `${key} is not classified in test/role-matrix.ts`);
      assert.ok(build, `${key} has no request in role-matrix.test.ts`);
      for (const role of ROLES) {
        const req = await build();
        const seq = await lastSeq();
        const r = await rest[role].call(req.method, req.path, req.body, req.headers);
        const what = `${key} as ${role}`;
        if (key === "POST /kmip") {
          // KMIP (here in its JSON encoding) answers in-band: HTTP 200 with the batch item's result.
          assert.equal(r.status, 200, what);
          const [item] = results(jsonToTtlv(JSON.stringify(r.body)));
          if (allowedNow(row, role)) assert.equal(item.status, Enum.ResultStatus.Success, `${what}: ${item.message}`);
          else {
            assert.equal(item.reason, Enum.ResultReason.PermissionDenied, `${what}: ${item.message}`);
            await assertDeniedEvent(role, seq, "kmip.discover-versions", what);
          }
          continue;
        }
        if (allowedNow(row, role)) {
          const detail = `${r.status} ${JSON.stringify(r.body).slice(0, 300)}`;
          if (req.allowedAs) {
            assert.equal(r.status, req.allowedAs.status, `${what}: ${detail}`);
            assert.equal(r.body.error?.code, req.allowedAs.code, `${what}: ${detail}`);
          } else assert.ok(r.status < 300, `${what} should be allowed: ${detail}`);
          if (i.server.app.barrier.sealed) {
            await i.restart();
            await connectAll();
          }
        } else {
          // A key the role may not even read is answered as not found (no existence oracle); the event says denied.
          const concealed = r.status === 404 && r.body.error?.code === "key_not_found";
          if (!concealed) assert.equal(r.status, 403, `${what} should be refused: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
          if (!concealed) assert.equal(r.body.error.code, "forbidden", what);
          await assertDeniedEvent(role, seq, route.action, what);
        }
      }
    });
  }

  // ---- one minimal valid request per KMIP operation ----

  type KmipReq = { v: Version; payload: TtlvItem[] };
  const aesId = async () => (await restKey()).id;
  const KMIP_REQUESTS: Record<string, () => Promise<KmipReq>> = {
    DiscoverVersions: async () => ({ v: V21, payload: [] }),
    Query: async () => ({ v: V21, payload: [enm(Tag.QueryFunction, Enum.QueryFunction.QueryOperations)] }),
    Create: async () => ({ v: V21, payload: [enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey), aesAttributes()] }),
    CreateKeyPair: async () => ({
      v: V14,
      payload: [
        struct(
          Tag.CommonTemplateAttribute,
          attr1x("Cryptographic Algorithm", enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.EC)),
          attr1x("Cryptographic Length", int(Tag.CryptographicLength, 256)),
          attr1x(
            "Cryptographic Domain Parameters",
            struct(Tag.CryptographicDomainParameters, enm(Tag.RecommendedCurve, Enum.RecommendedCurve.P_256)),
          ),
        ),
        struct(Tag.PrivateKeyTemplateAttribute, attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, 0x1))),
        struct(Tag.PublicKeyTemplateAttribute, attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, 0x2))),
      ],
    }),
    Register: async () => ({ v: V21, payload: [enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey), aesAttributes(), symmetricKey()] }),
    Import: async () => ({
      v: V21,
      payload: [uid(randomUUID()), enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey), aesAttributes(), symmetricKey()],
    }),
    Locate: async () => ({ v: V21, payload: [] }),
    Check: async () => ({ v: V21, payload: [uid(await aesId())] }),
    GetAttributes: async () => ({ v: V21, payload: [uid(await aesId())] }),
    GetAttributeList: async () => ({ v: V21, payload: [uid(await aesId())] }),
    ObtainLease: async () => ({ v: V21, payload: [uid(await aesId())] }),
    ReKey: async () => ({ v: V21, payload: [uid(await aesId())] }),
    ReKeyKeyPair: async () => ({ v: V21, payload: [text(Tag.PrivateKeyUniqueIdentifier, (await restKey("ec-p256")).id)] }),
    AddAttribute: async () => ({ v: V14, payload: [uid(await aesId()), attr1x("x-role-matrix", text(Tag.AttributeValue, "a"))] }),
    ModifyAttribute: async () => {
      const id = await aesId();
      await appKmip(V14, "AddAttribute", [uid(id), attr1x("x-role-matrix", text(Tag.AttributeValue, "a"))]);
      return { v: V14, payload: [uid(id), attr1x("x-role-matrix", text(Tag.AttributeValue, "b"))] };
    },
    DeleteAttribute: async () => {
      const id = await aesId();
      await appKmip(V14, "AddAttribute", [uid(id), attr1x("x-role-matrix", text(Tag.AttributeValue, "a"))]);
      return { v: V14, payload: [uid(id), text(Tag.AttributeName, "x-role-matrix")] };
    },
    SetAttribute: async () => ({
      v: V21,
      payload: [uid(await aesId()), struct(Tag.NewAttribute, text(Tag.ContactInformation, "security@example.com"))],
    }),
    Activate: async () => {
      const created = await appKmip(V21, "Create", [enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey), aesAttributes()]);
      return { v: V21, payload: [uid(String(find(created, Tag.UniqueIdentifier)?.value))] };
    },
    Revoke: async () => ({
      v: V14,
      payload: [
        uid(await aesId()),
        struct(Tag.RevocationReason, enm(Tag.RevocationReasonCode, Enum.RevocationReasonCode.CessationOfOperation)),
      ],
    }),
    Destroy: async () => {
      const k = await restKey();
      await appCall("POST", `/v1/keys/${k.name}/revoke`, { reason: "superseded" });
      return { v: V21, payload: [uid(k.id)] };
    },
    Get: async () => ({ v: V21, payload: [uid(await aesId())] }),
    Export: async () => ({ v: V21, payload: [uid(await aesId())] }),
    Encrypt: async () => ({ v: V14, payload: [uid(await aesId()), gcm(), data(Buffer.from("x"))] }),
    Decrypt: async () => {
      const id = await aesId();
      const enc = await appKmip(V14, "Encrypt", [uid(id), gcm(), data(Buffer.from("x"))]);
      return {
        v: V14,
        payload: [
          uid(id),
          gcm(),
          data(field(enc, Tag.Data)),
          bytes(Tag.IVCounterNonce, field(enc, Tag.IVCounterNonce)),
          bytes(Tag.AuthenticatedEncryptionTag, field(enc, Tag.AuthenticatedEncryptionTag)),
        ],
      };
    },
    Sign: async () => ({ v: V14, payload: [uid((await restKey("ec-p256")).id), ecdsa(), data(Buffer.from("x"))] }),
    SignatureVerify: async () => {
      const { id } = await restKey("ec-p256");
      const sig = field(await appKmip(V14, "Sign", [uid(id), ecdsa(), data(Buffer.from("x"))]), Tag.SignatureData);
      return { v: V14, payload: [uid(id), ecdsa(), data(Buffer.from("x")), bytes(Tag.SignatureData, sig)] };
    },
    MAC: async () => ({ v: V14, payload: [uid((await restKey("hmac-sha256")).id), data(Buffer.from("x"))] }),
    MACVerify: async () => {
      const { id } = await restKey("hmac-sha256");
      const mac = field(await appKmip(V14, "MAC", [uid(id), data(Buffer.from("x"))]), Tag.MACData);
      return { v: V14, payload: [uid(id), data(Buffer.from("x")), bytes(Tag.MACData, mac)] };
    },
    RNGRetrieve: async () => ({ v: V14, payload: [int(Tag.DataLength, 16)] }),
    Hash: async () => ({
      v: V14,
      payload: [struct(Tag.CryptographicParameters, enm(Tag.HashingAlgorithm, Enum.HashingAlgorithm.SHA_256)), data(Buffer.from("x"))],
    }),
    Interop: async () => ({
      v: V21,
      payload: [enm(Tag.InteropFunction, Enum.InteropFunction.Begin), text(Tag.InteropIdentifier, "role-matrix")],
    }),
    Log: async () => ({ v: V21, payload: [text(Tag.LogMessage, "role matrix")] }),
    RNGSeed: async () => ({ v: V14, payload: [data(randomBytes(16))] }),
  };
  function symmetricKey(): TtlvItem {
    return struct(
      Tag.SymmetricKey,
      struct(
        Tag.KeyBlock,
        enm(Tag.KeyFormatType, Enum.KeyFormatType.Raw),
        struct(Tag.KeyValue, bytes(Tag.KeyMaterial, randomBytes(32))),
        enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
        int(Tag.CryptographicLength, 256),
      ),
    );
  }

  for (const op of KMIP_OPS) {
    test(`KMIP ${op}`, async () => {
      const row = KMIP_MATRIX[op];
      const build = KMIP_REQUESTS[op];
      assert.ok(row, `KMIP ${op} is not classified in test/role-matrix.ts`);
      assert.ok(build, `KMIP ${op} has no request in role-matrix.test.ts`);
      for (const role of ROLES) {
        const { v, payload } = await build();
        const seq = await lastSeq();
        const [r] = await kmip[role].call(v, [[op as keyof typeof Enum.Operation, payload]]);
        const what = `KMIP ${op} as ${role}`;
        if (allowedNow(row, role)) assert.equal(r.status, Enum.ResultStatus.Success, `${what} should be allowed: ${r.message}`);
        else {
          assert.equal(r.status, Enum.ResultStatus.OperationFailed, `${what} should be refused`);
          // An object the role may not even read is answered as an unknown Unique Identifier; the event says denied.
          const concealed = r.reason === Enum.ResultReason.ItemNotFound || r.reason === Enum.ResultReason.ObjectNotFound;
          if (!concealed) assert.equal(r.reason, Enum.ResultReason.PermissionDenied, `${what}: reason ${r.reason} ${r.message}`);
          await assertDeniedEvent(role, seq, `kmip.${kebab(op)}`, what);
        }
      }
    });
  }
});
