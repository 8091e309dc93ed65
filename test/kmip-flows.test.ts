// KMIP over TLS as real clients use it (VMware vCenter, MongoDB), one object model with REST, and hostile input on a live listener.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Enum } from "../src/kmip/codec/tables.js";
import {
  bytes,
  dateTime,
  decodeTtlv,
  encodeTtlv,
  enm,
  find,
  findAll,
  int,
  struct,
  Tag,
  type TtlvItem,
  text,
} from "../src/kmip/codec/ttlv.js";
import { type Instance, newInstance } from "./helpers.js";
import { aesCreate1x, attr1x, KmipClient, keyMaterialOf, request, results } from "./kmip-client.js";

const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const idOf = (payload: TtlvItem) => String(find(payload, Tag.UniqueIdentifier)?.value);
const attrValue = (payload: TtlvItem, name: string) => {
  const a = findAll(payload, Tag.Attribute).find((x) => find(x, Tag.AttributeName)?.value === name);
  return a ? find(a, Tag.AttributeValue)?.value : undefined;
};

describe("KMIP client flows over TLS", () => {
  let i: Instance;
  let kmip: KmipClient;
  before(async () => {
    i = await newInstance();
    kmip = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
  });
  after(async () => {
    kmip.close();
    await i.cleanup();
  });

  test("VMware vCenter (KMIP 1.1): discover, query, create AES-256, custom attributes in one batch, get", async () => {
    const V: [number, number] = [1, 1];
    const dv = await kmip.ok(V, "DiscoverVersions", []);
    assert.ok(findAll(dv, Tag.ProtocolVersion).length >= 5);
    const q = await kmip.ok(V, "Query", [
      enm(Tag.QueryFunction, Enum.QueryFunction.QueryOperations),
      enm(Tag.QueryFunction, Enum.QueryFunction.QueryObjects),
    ]);
    const ops = findAll(q, Tag.Operation).map((o) => o.value);
    for (const op of [
      Enum.Operation.Create,
      Enum.Operation.Get,
      Enum.Operation.GetAttributes,
      Enum.Operation.AddAttribute,
      Enum.Operation.Locate,
    ])
      assert.ok(ops.includes(op));
    const created = await kmip.ok(V, "Create", aesCreate1x(256, 0x0c));
    const id = idOf(created);
    const ga = await kmip.ok(V, "GetAttributes", [uid(id)]);
    assert.equal(attrValue(ga, "Cryptographic Length"), 256);
    const batch = await kmip.call(V, [
      ["AddAttribute", [uid(id), attr1x("x-Product_Version", text(Tag.AttributeValue, "8.0.2"))]],
      ["AddAttribute", [uid(id), attr1x("x-Vendor", text(Tag.AttributeValue, "VMware, Inc."))]],
      ["AddAttribute", [uid(id), attr1x("x-Product", text(Tag.AttributeValue, "VMware vSphere"))]],
    ]);
    assert.deepEqual(
      batch.map((r) => r.status),
      [0, 0, 0],
    );
    const after = await kmip.ok(V, "GetAttributes", [uid(id)]);
    assert.equal(attrValue(after, "x-Vendor"), "VMware, Inc.");
    assert.equal(attrValue(after, "x-Product"), "VMware vSphere");
    const state = await kmip.ok(V, "GetAttributes", [uid(id), text(Tag.AttributeName, "State")]);
    assert.equal(attrValue(state, "State"), Enum.State.PreActive);
    const got = await kmip.ok(V, "Get", [uid(id)]);
    assert.equal(keyMaterialOf(got).length, 32);
    // The key is a REST key as well (named by its id, as vCenter sets no Name).
    const rest = await i.as.admin1.call("GET", `/v1/keys/${id}`);
    assert.equal(rest.status, 200);
    assert.equal(rest.body.state, "Pre-Active");
  });

  test("MongoDB: register + activate + poll state + get (server-side), secret data for client-side encryption", async () => {
    const V: [number, number] = [1, 2];
    const key = randomBytes(32);
    const reg = await kmip.ok(V, "Register", [
      enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
      struct(Tag.TemplateAttribute, attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, 0x0c))),
      struct(
        Tag.SymmetricKey,
        struct(
          Tag.KeyBlock,
          enm(Tag.KeyFormatType, Enum.KeyFormatType.Raw),
          struct(Tag.KeyValue, bytes(Tag.KeyMaterial, key)),
          enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
          int(Tag.CryptographicLength, 256),
        ),
      ),
    ]);
    const id = idOf(reg);
    await kmip.ok(V, "Activate", [uid(id)]);
    const st = await kmip.ok(V, "GetAttributes", [uid(id), text(Tag.AttributeName, "State")]);
    assert.equal(attrValue(st, "State"), Enum.State.Active);
    const got = await kmip.ok(V, "Get", [uid(id)]);
    assert.deepEqual(keyMaterialOf(got), key);

    const secret = randomBytes(96);
    const sd = await kmip.ok(V, "Register", [
      enm(Tag.ObjectType, Enum.ObjectType.SecretData),
      struct(Tag.TemplateAttribute),
      struct(
        Tag.SecretData,
        enm(Tag.SecretDataType, Enum.SecretDataType.Password),
        struct(Tag.KeyBlock, enm(Tag.KeyFormatType, Enum.KeyFormatType.Opaque), struct(Tag.KeyValue, bytes(Tag.KeyMaterial, secret))),
      ),
    ]);
    await kmip.ok(V, "Activate", [uid(idOf(sd))]);
    const back = await kmip.ok(V, "Get", [uid(idOf(sd))]);
    const sdm = find(
      find(find(find(back, Tag.SecretData) as TtlvItem, Tag.KeyBlock) as TtlvItem, Tag.KeyValue) as TtlvItem,
      Tag.KeyMaterial,
    );
    assert.deepEqual(sdm?.value, secret);
  });

  test("MongoDB delegated encryption (KMIP 1.2): create, activate, AES-CBC PKCS5 with a random IV", async () => {
    const V: [number, number] = [1, 2];
    const created = await kmip.ok(V, "Create", aesCreate1x(256, 0x0c));
    const id = idOf(created);
    await kmip.ok(V, "Activate", [uid(id)]);
    const params = struct(
      Tag.CryptographicParameters,
      enm(Tag.BlockCipherMode, Enum.BlockCipherMode.CBC),
      enm(Tag.PaddingMethod, Enum.PaddingMethod.PKCS5),
      enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
    );
    const iv = randomBytes(16);
    const data = Buffer.from("mongodb data encryption key material");
    const enc = await kmip.ok(V, "Encrypt", [uid(id), params, bytes(Tag.Data, data), bytes(Tag.IVCounterNonce, iv)]);
    const ct = find(enc, Tag.Data)?.value as Buffer;
    const dec = await kmip.ok(V, "Decrypt", [uid(id), params, bytes(Tag.Data, ct), bytes(Tag.IVCounterNonce, iv)]);
    assert.deepEqual(find(dec, Tag.Data)?.value, data);
  });
});

describe("one object model across REST and KMIP", () => {
  let i: Instance;
  let kmip: KmipClient;
  before(async () => {
    i = await newInstance();
    kmip = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
  });
  after(async () => {
    kmip.close();
    await i.cleanup();
  });

  test("a REST key is located by name over KMIP; its Unique Identifier is the version id; Get returns the same material", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "payroll", type: "aes-256" });
    const loc = await kmip.ok([1, 4], "Locate", [attr1x("Name", struct(Tag.Name, text(Tag.NameValue, "payroll"), enm(Tag.NameType, 1)))]);
    const ids = findAll(loc, Tag.UniqueIdentifier).map((u) => u.value);
    const rest = (await i.as.admin1.call("GET", "/v1/keys/payroll")).body;
    assert.deepEqual(ids, [rest.versions[0].id]);
    const got = await kmip.ok([1, 4], "Get", [uid(ids[0] as string)]);
    const mat = (await i.as.app.call("GET", "/v1/keys/payroll/material")).body.material;
    assert.equal(keyMaterialOf(got).toString("base64"), mat);
    // After a REST rotation the name is on the new version.
    const rotated = (await i.as.admin1.call("POST", "/v1/keys/payroll/rotate")).body;
    const loc2 = await kmip.ok([2, 0], "Locate", [
      struct(Tag.Attributes, struct(Tag.Name, text(Tag.NameValue, "payroll"), enm(Tag.NameType, 1))),
    ]);
    assert.deepEqual(
      findAll(loc2, Tag.UniqueIdentifier).map((u) => u.value),
      [rotated.versions[1].id],
    );
  });

  test("a KMIP-created key shows up in REST; KMIP Activate changes its REST state; policy and audit are shared", async () => {
    const created = await kmip.ok([2, 0], "Create", [
      enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
      struct(
        Tag.Attributes,
        enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
        int(Tag.CryptographicLength, 128),
        struct(Tag.Name, text(Tag.NameValue, "from-kmip"), enm(Tag.NameType, 1)),
      ),
    ]);
    const id = idOf(created);
    const k = (await i.as.admin1.call("GET", "/v1/keys/from-kmip")).body;
    assert.equal(k.type, "aes-128");
    assert.equal(k.owner, "app");
    assert.equal(k.state, "Pre-Active");
    await kmip.ok([2, 0], "Activate", [uid(id)]);
    assert.equal((await i.as.admin1.call("GET", "/v1/keys/from-kmip")).body.state, "Active");
    const list = (await i.as.admin1.call("GET", "/v1/keys?prefix=from-")).body.keys.map((x: { name: string }) => x.name);
    assert.deepEqual(list, ["from-kmip"]);
    // A key restricted to another user is refused over KMIP too (same policy engine), as if it did not exist.
    await i.as.admin1.call("POST", "/v1/keys", { name: "private", type: "aes-256", policy: { users: ["bob"] } });
    const pid = (await i.as.admin1.call("GET", "/v1/keys/private")).body.versions[0].id;
    const [denied] = await kmip.call([1, 4], [["Get", [uid(pid)]]]);
    assert.equal(denied.status, Enum.ResultStatus.OperationFailed);
    assert.equal(denied.reason, Enum.ResultReason.ItemNotFound, "a key the caller may not see is not found (no oracle)");
    // Admins manage but never retrieve material, over KMIP as over REST.
    const admin = await KmipClient.open(i.server.kmipPort, i.bundle("admin1"));
    try {
      const [r] = await admin.call([1, 4], [["Get", [uid(id)]]]);
      assert.equal(r.reason, Enum.ResultReason.PermissionDenied);
    } finally {
      admin.close();
    }
    const ev = (await i.as.auditor.call("GET", "/v1/audit?action=kmip.get&outcome=denied")).body.events;
    assert.ok(ev.length >= 2);
    assert.ok(ev.every((e: { actor: { cn: string } }) => e.actor.cn === "app" || e.actor.cn === "admin1"));
    assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).body.ok, true);
  });
});

describe("KMIP 2.x Export and Import between two servers", () => {
  test("an exported key imports under the same Unique Identifier with its attributes, and Query reports profiles", async () => {
    const a = await newInstance();
    const b = await newInstance();
    const ka = await KmipClient.open(a.server.kmipPort, a.bundle("app"));
    const kb = await KmipClient.open(b.server.kmipPort, b.bundle("app"));
    try {
      const V: [number, number] = [2, 1];
      const created = await ka.ok(V, "Create", [
        enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
        struct(
          Tag.Attributes,
          enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
          int(Tag.CryptographicLength, 256),
          int(Tag.CryptographicUsageMask, 0x0c),
          struct(Tag.Name, text(Tag.NameValue, "moving-key"), enm(Tag.NameType, 1)),
        ),
      ]);
      const id = idOf(created);
      const exported = await ka.ok(V, "Export", [uid(id)]);
      const attrs = find(exported, Tag.Attributes) as TtlvItem;
      assert.equal(find(attrs, Tag.CryptographicLength)?.value, 256);
      const key = find(exported, Tag.SymmetricKey) as TtlvItem;
      await kb.ok(V, "Import", [
        uid(id),
        enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
        struct(
          Tag.Attributes,
          find(attrs, Tag.CryptographicAlgorithm) as TtlvItem,
          find(attrs, Tag.CryptographicLength) as TtlvItem,
          find(attrs, Tag.Name) as TtlvItem,
        ),
        key,
      ]);
      assert.deepEqual(keyMaterialOf(await kb.ok(V, "Get", [uid(id)])), keyMaterialOf(await ka.ok(V, "Get", [uid(id)])));
      assert.equal((await b.as.admin1.call("GET", "/v1/keys/moving-key")).body.versions[0].id, id);
      const [again] = await kb.call(V, [["Import", [uid(id), enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey), key]]]);
      assert.equal(again.status, Enum.ResultStatus.OperationFailed, "an id in use is refused");
      // Query Profiles and Capabilities (KMIP 1.3+).
      const q = await kb.ok(V, "Query", [
        enm(Tag.QueryFunction, Enum.QueryFunction.QueryProfiles),
        enm(Tag.QueryFunction, Enum.QueryFunction.QueryCapabilities),
      ]);
      const profiles = findAll(q, Tag.ProfileInformation).map((p) => find(p, Tag.ProfileName)?.value);
      assert.ok(profiles.includes(Enum.ProfileName.BaselineServer));
      assert.ok(profiles.includes(Enum.ProfileName.SymmetricKeyLifecycleServer));
      assert.equal(find(find(q, Tag.CapabilityInformation) as TtlvItem, Tag.BatchUndoCapability)?.value, true);
      const q14 = await kb.ok([1, 4], "Query", [enm(Tag.QueryFunction, Enum.QueryFunction.QueryProfiles)]);
      assert.ok(
        findAll(q14, Tag.ProfileInformation).some((p) => find(p, Tag.ProfileName)?.value === Enum.ProfileName.BaselineServerBasicKMIPV1_4),
      );
    } finally {
      ka.close();
      kb.close();
      await a.cleanup();
      await b.cleanup();
    }
  });
});

describe("hostile input on a live KMIP listener", () => {
  let i: Instance;
  before(async () => {
    i = await newInstance();
  });
  after(async () => {
    await i.cleanup();
  });

  async function stillServes(): Promise<void> {
    const c = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
    try {
      const dv = await c.ok([1, 4], "DiscoverVersions", []);
      assert.ok(findAll(dv, Tag.ProtocolVersion).length > 0);
    } finally {
      c.close();
    }
  }

  test("oversize, truncated, garbage, deeply nested and 10,000-item messages: error or close, and others keep being served", async () => {
    const bystander = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
    try {
      // 1) A frame that declares 64 MiB: refused before buffering, connection closed.
      const big = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
      const header = Buffer.from([0x42, 0x00, 0x78, 0x01, 0x04, 0x00, 0x00, 0x00]);
      assert.equal((await big.sendRaw(header)).length, 0);
      // 2) A truncated frame, then the client goes away.
      const trunc = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
      const full = encodeTtlv(request([1, 4], [["DiscoverVersions", []]]));
      trunc.socket.write(full.subarray(0, full.length - 5));
      trunc.close();
      // 3) Garbage.
      const junk = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
      const reply = await junk.sendRaw(Buffer.concat([Buffer.from([0x42, 0x00, 0x78, 0x01, 0, 0, 0, 16]), randomBytes(16)]));
      if (reply.length > 0) assert.equal(results(decode(reply))[0].status, Enum.ResultStatus.OperationFailed);
      junk.close();
      // 4) 100 levels of nesting.
      let deep: TtlvItem = int(Tag.BatchCount, 1);
      for (let n = 0; n < 100; n++) deep = struct(Tag.RequestPayload, deep);
      const nest = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
      const deepReply = await nest.sendRaw(encodeTtlv(struct(Tag.RequestMessage, deep), { maxDepth: 200 }));
      if (deepReply.length > 0) assert.equal(results(decode(deepReply))[0].reason, Enum.ResultReason.InvalidMessage);
      nest.close();
      // 5) A batch of 10,000 items: refused as a whole.
      const many = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
      const items = Array.from({ length: 10_000 }, () => ["DiscoverVersions", []] as ["DiscoverVersions", TtlvItem[]]);
      const manyReply = await many.sendRaw(encodeTtlv(request([1, 4], items)));
      assert.ok(manyReply.length > 0);
      const r = results(decode(manyReply));
      assert.equal(r.length, 1);
      assert.equal(r[0].status, Enum.ResultStatus.OperationFailed);
      many.close();
      // 6) Wrong protocol use: a Response Message as a request, a Date-Time where a structure belongs.
      const odd = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
      const oddReply = await odd.sendRaw(encodeTtlv(struct(Tag.ResponseMessage, dateTime(Tag.TimeStamp, new Date()))));
      assert.equal(results(decode(oddReply))[0].reason, Enum.ResultReason.InvalidMessage);
      odd.close();
      // The client that was connected all along still gets correct answers, and new ones do too.
      const dv = await bystander.ok([2, 1], "DiscoverVersions", []);
      assert.equal(find(find(dv, Tag.ProtocolVersion) as TtlvItem, Tag.ProtocolVersionMajor)?.value, 2);
      await stillServes();
    } finally {
      bystander.close();
    }
  });

  test("a certificate revoked while connected is refused on its next request", async () => {
    const r = await i.as.admin1.call("POST", "/v1/certs", { cn: "kmip-victim", ou: "apps", role: "client" });
    const c = await KmipClient.open(i.server.kmipPort, { cert: r.body.certificate, key: r.body.privateKey, ca: r.body.ca });
    try {
      await c.ok([1, 4], "DiscoverVersions", []);
      await i.as.admin1.call("DELETE", `/v1/certs/${r.body.serial}`);
      const reply = await c.sendRaw(encodeTtlv(request([1, 4], [["DiscoverVersions", []]])));
      assert.equal(reply.length, 0, "connection closed");
    } finally {
      c.close();
    }
  });
});

const decode = (b: Buffer) => decodeTtlv(b);
