// Regression tests for the security review: clear release rules, one-way KMIP protections, dual-control gaps, no echoes, no oracles.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { request } from "node:https";
import { after, before, describe, test } from "node:test";
import { Enum } from "../src/kmip/codec/tables.js";
import { bool, bytes, enm, find, int, struct, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";
import { type Instance, newInstance } from "./helpers.js";
import { KmipClient } from "./kmip-client.js";

const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const b64 = (s: string) => Buffer.from(s).toString("base64");

function registerAes(key: Buffer, attrs: TtlvItem[]): TtlvItem[] {
  return [
    enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
    struct(Tag.Attributes, enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES), int(Tag.CryptographicLength, 256), ...attrs),
    struct(
      Tag.SymmetricKey,
      struct(Tag.KeyBlock, enm(Tag.KeyFormatType, Enum.KeyFormatType.Raw), struct(Tag.KeyValue, bytes(Tag.KeyMaterial, key))),
    ),
  ];
}

describe("hardening", () => {
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

  test("KMIP Extractable=false and Sensitive=true also stop REST material; Extractable cannot be turned back on", async () => {
    const reg = await kmip.ok([2, 1], "Register", [
      ...registerAes(randomBytes(32), [
        struct(Tag.Name, text(Tag.NameValue, "no-extract"), enm(Tag.NameType, 1)),
        bool(Tag.Extractable, false),
      ]),
    ]);
    const id = String(find(reg, Tag.UniqueIdentifier)?.value);
    await kmip.ok([2, 1], "Activate", [uid(id)]);
    const m = await i.as.app.call("GET", "/v1/keys/no-extract/material");
    assert.equal(m.status, 403);
    assert.equal(m.body.error.code, "not_extractable");
    const [loosen] = await kmip.call([2, 1], [["SetAttribute", [uid(id), struct(Tag.NewAttribute, bool(Tag.Extractable, true))]]]);
    assert.equal(loosen.status, Enum.ResultStatus.OperationFailed);
    assert.equal(loosen.reason, Enum.ResultReason.AttributeReadOnly);

    const sens = await kmip.ok([2, 1], "Register", [
      ...registerAes(randomBytes(32), [
        struct(Tag.Name, text(Tag.NameValue, "sensitive"), enm(Tag.NameType, 1)),
        bool(Tag.Sensitive, true),
      ]),
    ]);
    await kmip.ok([2, 1], "Activate", [uid(String(find(sens, Tag.UniqueIdentifier)?.value))]);
    assert.equal((await i.as.app.call("GET", "/v1/keys/sensitive/material")).status, 403);
  });

  test("rewrap takes only authenticated (GCM) ciphertext, so it is no padding oracle", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "rw-cbc", type: "aes-256" });
    const cbc = await i.as.app.call("POST", "/v1/keys/rw-cbc/encrypt", { plaintext: b64("legacy"), algorithm: "aes-cbc" });
    const r = await i.as.app.call("POST", "/v1/keys/rw-cbc/rewrap", { ciphertext: cbc.body.ciphertext });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /aes-gcm/);
  });

  test("the server's own actor name cannot be issued as a certificate CN", async () => {
    const r = await i.as.admin1.call("POST", "/v1/certs", { cn: "strongroom", role: "client" });
    assert.equal(r.status, 400);
  });

  test("a KMIP JSON syntax error does not echo request bytes into the reply or the audit log", async () => {
    const secret = "00112233445566778899aabbccddeeff";
    const bundle = i.bundle("app");
    const body = `{"tag":"RequestMessage","value":[{"tag":"KeyMaterial","type":"ByteString","value":'${secret}'}]}`;
    const reply = await new Promise<string>((resolve, reject) => {
      const req = request(
        `${i.url}/kmip`,
        { method: "POST", ...bundle, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let t = "";
          res.on("data", (c) => (t += c));
          res.on("end", () => resolve(t));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    assert.ok(!reply.includes(secret.slice(0, 12)), "no request bytes in the reply");
    const ev = (await i.as.auditor.call("GET", "/v1/audit?action=kmip.message")).body.events;
    assert.ok(ev.length > 0);
    assert.ok(!JSON.stringify(ev).includes(secret.slice(0, 12)), "no request bytes in the audit log");
  });

  test("dual control: an admin cannot Register key material over KMIP; making a key exportable again is refused outright", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "locked", type: "aes-256", exportable: false });
    await i.as.admin1.call("PATCH", "/v1/sys/governance", { dualControl: true });
    const admin = await KmipClient.open(i.server.kmipPort, i.bundle("admin1"));
    try {
      const [r] = await admin.call([2, 1], [["Register", registerAes(randomBytes(32), [])]]);
      assert.equal(r.status, Enum.ResultStatus.OperationFailed);
      assert.equal(r.reason, Enum.ResultReason.PermissionDenied);
    } finally {
      admin.close();
    }
    const p = await i.as.admin1.call("PATCH", "/v1/keys/locked", { exportable: true });
    assert.equal(p.status, 409, "one-way: not even a quorum may undo it");
    assert.equal(p.body.error.code, "exportable_one_way");
    assert.equal((await i.as.admin1.call("GET", "/v1/keys/locked")).body.exportable, false);
    // Clients still register their own keys over KMIP (vSphere, MongoDB) under dual control.
    const ok = await kmip.ok([2, 1], "Register", registerAes(randomBytes(32), []));
    assert.ok(find(ok, Tag.UniqueIdentifier));
  });
});
