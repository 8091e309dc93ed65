// Issue 10, findings 2 and 3: a key a client may not see is invisible in listing (pages full, cursors only name visible
// keys), in KMIP Locate (results and Located Items) and GetAttributes; Locate reads Template-Attribute filters, refuses
// filters it cannot evaluate, pages exactly, and its visibility and name filters run on indexes.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { type AuthCtx, identify } from "../src/auth/identity.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, enm, find, findAll, int, struct, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";
import type { SqlValue } from "../src/store/store.js";
import { type Client, client, type Instance, newInstance } from "./helpers.js";
import { aesCreate1x, attr1x, KmipClient } from "./kmip-client.js";

interface Issued {
  rest: Client;
  tls: { cert: string; key: string; ca: string };
}

async function issue(i: Instance, cn: string, ou: string): Promise<Issued> {
  const r = await i.as.admin1.call("POST", "/v1/certs", { cn, ou, role: "client" });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const tls = { cert: r.body.certificate, key: r.body.privateKey, ca: r.body.ca };
  return { rest: client(i.url, tls), tls };
}

const nameAttr = (n: string) => struct(Tag.Name, text(Tag.NameValue, n), enm(Tag.NameType, Enum.NameType.UninterpretedTextString));
const uids = (p: TtlvItem | undefined) => (p ? findAll(p, Tag.UniqueIdentifier).map((u) => String(u.value)) : []);
const located = (p: TtlvItem | undefined) => (p ? (find(p, Tag.LocatedItems)?.value as number | undefined) : undefined);

/** Every page of GET /v1/keys as `c` with `limit`, following `next`: the names, the cursors and the page sizes. */
async function walk(c: Client, query: string, limit: number) {
  const names: string[] = [];
  const cursors: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  for (let n = 0; n < 10_000; n++) {
    const r: { status: number; body: any } = await c.call(
      "GET",
      `/v1/keys?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    names.push(...r.body.keys.map((k: { name: string }) => k.name));
    sizes.push(r.body.keys.length);
    cursor = r.body.next;
    if (!cursor) break;
    cursors.push(cursor);
  }
  return { names, cursors, sizes };
}

describe("key visibility: listing, cursors, Locate, GetAttributes (default policy owner-only)", () => {
  let i: Instance;
  let bob: Issued;
  let alice: Issued;
  let kBob: KmipClient;
  let kAlice: KmipClient;
  const idOf = async (c: Client, name: string): Promise<string> => (await c.call("GET", `/v1/keys/${name}`)).body.versions[0].id;
  const ctxOf = async (pem: string): Promise<AuthCtx> => {
    const cert = new X509Certificate(pem);
    const field = (k: string) => new RegExp(`${k}=([^\\n,]+)`).exec(cert.subject)?.[1] ?? "";
    const actor = await identify(i.server.app.store, { serial: cert.serialNumber, cn: field("CN"), ou: field("OU") }, null, i.clock.now());
    return { actor, requestId: "visibility-test" };
  };

  before(async () => {
    i = await newInstance({ defaultPolicy: "owner-only" });
    bob = await issue(i, "bob", "payroll");
    alice = await issue(i, "alice", "analytics");
    kBob = await KmipClient.open(i.server.kmipPort, bob.tls);
    kAlice = await KmipClient.open(i.server.kmipPort, alice.tls);
  });
  after(async () => {
    kBob.close();
    kAlice.close();
    bob.rest.close();
    alice.rest.close();
    await i.cleanup();
  });

  test("a key restricted to bob is invisible to alice in list, cursor, Locate and GetAttributes", async () => {
    for (const [c, name, policy] of [
      [bob.rest, "hr-payroll-secret", undefined],
      [bob.rest, "hr-shared", { users: ["alice"] }],
      [alice.rest, "alice-1", undefined],
      [alice.rest, "zz-alice-2", undefined],
    ] as const) {
      const r = await c.call("POST", "/v1/keys", { name, type: "aes-256", ...(policy ? { policy } : {}) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    // The issue's reproduction: the first key of the page is one alice may not see.
    const first = await alice.rest.call("GET", "/v1/keys?prefix=hr-&limit=1");
    assert.deepEqual(
      first.body.keys.map((k: { name: string }) => k.name),
      ["hr-shared"],
    );
    assert.equal(first.body.next, null);
    // Every page full, every cursor a key alice sees, the walk exactly her keys.
    const w = await walk(alice.rest, "", 1);
    assert.deepEqual(w.names, ["alice-1", "hr-shared", "zz-alice-2"]);
    assert.ok(w.sizes.every((n) => n === 1));
    assert.ok(!w.cursors.includes("hr-payroll-secret"));
    // Bob and an admin see theirs / all; the auditor lists nothing.
    assert.deepEqual((await walk(bob.rest, "", 1)).names, ["hr-payroll-secret", "hr-shared"]);
    assert.deepEqual((await walk(i.as.admin1, "", 2)).names, ["alice-1", "hr-payroll-secret", "hr-shared", "zz-alice-2"]);
    assert.equal((await i.as.auditor.call("GET", "/v1/keys")).status, 403);

    // KMIP Locate: by name nothing (Located Items 0), without filters exactly her objects.
    const secretId = await idOf(bob.rest, "hr-payroll-secret");
    const byName = await kAlice.ok([1, 4], "Locate", [int(Tag.MaximumItems, 10), attr1x("Name", nameAttr("hr-payroll-secret"))]);
    assert.deepEqual(uids(byName), []);
    assert.equal(located(byName), 0);
    const all = await kAlice.ok([2, 0], "Locate", [int(Tag.MaximumItems, 100)]);
    const mine = [await idOf(alice.rest, "alice-1"), await idOf(alice.rest, "hr-shared"), await idOf(alice.rest, "zz-alice-2")];
    const shared = mine[1];
    assert.deepEqual(uids(all).sort(), [...mine].sort());
    assert.equal(located(all), 3);
    assert.deepEqual(uids(await kBob.ok([1, 4], "Locate", [attr1x("Name", nameAttr("hr-payroll-secret"))])), [secretId]);
    // GetAttributes: the same answer as an identifier nobody has used.
    const [ga] = await kAlice.call([1, 4], [["GetAttributes", [text(Tag.UniqueIdentifier, secretId)]]]);
    const [unknown] = await kAlice.call([1, 4], [["GetAttributes", [text(Tag.UniqueIdentifier, "no-such-object")]]]);
    assert.equal(ga.status, Enum.ResultStatus.OperationFailed);
    assert.equal(ga.reason, Enum.ResultReason.ItemNotFound);
    assert.equal(ga.reason, unknown.reason);

    // Grants follow the policy: revoked, the key disappears; granted to her group, it is back.
    assert.equal((await bob.rest.call("PATCH", "/v1/keys/hr-shared", { policy: { users: [] } })).status, 200);
    assert.deepEqual((await walk(alice.rest, "", 1)).names, ["alice-1", "zz-alice-2"]);
    assert.deepEqual(uids(await kAlice.ok([2, 0], "Locate", [])).sort(), mine.filter((x) => x !== shared).sort());
    assert.equal((await bob.rest.call("PATCH", "/v1/keys/hr-shared", { policy: { groups: ["analytics"] } })).status, 200);
    assert.deepEqual((await walk(alice.rest, "", 1)).names, ["alice-1", "hr-shared", "zz-alice-2"]);
  });

  test("Locate reads filters wrapped in a Template-Attribute (KMIP 1.x clients such as FortiGate)", async () => {
    const ids: string[] = [];
    for (const n of ["fgt-a", "fgt-b"]) {
      const p = aesCreate1x(256);
      (p[1] as { value: TtlvItem[] }).value.push(attr1x("Name", nameAttr(n)));
      ids.push(uids(await kAlice.ok([1, 2], "Create", p))[0]);
    }
    for (const v of [
      [1, 0],
      [1, 2],
      [1, 4],
    ] as [number, number][]) {
      const r = await kAlice.ok(v, "Locate", [
        struct(
          Tag.TemplateAttribute,
          attr1x("Object Type", enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey)),
          attr1x("Name", nameAttr("fgt-b")),
        ),
      ]);
      assert.deepEqual(uids(r), [ids[1]], `KMIP ${v.join(".")}`);
    }
  });

  test("a Locate filter the server cannot evaluate is refused, never ignored", async () => {
    const digest = struct(
      Tag.Digest,
      enm(Tag.HashingAlgorithm, Enum.HashingAlgorithm.SHA_256),
      bytes(Tag.DigestValue, Buffer.alloc(32, 1)),
    );
    for (const payload of [
      [attr1x("Digest", digest)],
      [struct(Tag.TemplateAttribute, attr1x("Digest", digest))],
      // A Template-Attribute naming a Template object (there are none) and a field Locate does not know.
      [struct(Tag.TemplateAttribute, nameAttr("some-template"))],
      [enm(Tag.ObjectGroupMember, 1)],
    ]) {
      const [r] = await kAlice.call([1, 4], [["Locate", payload]]);
      assert.equal(r.status, Enum.ResultStatus.OperationFailed);
      assert.equal(r.reason, Enum.ResultReason.FeatureNotSupported, r.message);
    }
  });

  test("paging and Located Items are exact over 3,000 keys, visibility applied before paging", async () => {
    const app = i.server.app;
    for (const [who, pem] of [
      ["bob", bob.tls.cert],
      ["alice", alice.tls.cert],
    ] as const) {
      const ctx = await ctxOf(pem);
      for (let b = 0; b < 3; b++) {
        const reqs = Array.from({ length: 500 }, (_, n) => ({
          name: `pg-${who}-${String(b * 500 + n).padStart(4, "0")}`,
          type: "aes-256" as const,
        }));
        await app.keys.createMany(ctx, reqs);
      }
    }
    // Listing: 1,500 of alice's, in full pages.
    const w = await walk(alice.rest, "&prefix=pg-", 1000);
    assert.equal(w.names.length, 1500);
    assert.deepEqual(w.sizes, [1000, 500]);
    assert.ok(w.names.every((n) => n.startsWith("pg-alice-")));
    // Locate, SQL filters only and with a residual (algorithm and length) check: the same exact answer.
    const symmetric = await app.store.all<{ id: string }>(
      // Hers, and bob's key shared with her group by the first test.
      "SELECT o.id FROM objects o JOIN keys k ON k.name = o.name WHERE (k.owner = 'alice' OR k.name = 'hr-shared') AND o.object_type = 'SymmetricKey'",
    );
    const want = symmetric.map((r) => r.id).sort();
    assert.ok(want.length >= 1500);
    for (const filter of [
      [enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey)],
      [
        enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
        enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
        int(Tag.CryptographicLength, 256),
      ],
    ]) {
      const got: string[] = [];
      for (let offset = 0; ; offset += 700) {
        const p = await kAlice.ok([2, 0], "Locate", [
          int(Tag.MaximumItems, 700),
          int(Tag.OffsetItems, offset),
          struct(Tag.Attributes, ...filter),
        ]);
        assert.equal(located(p), want.length);
        const page = uids(p);
        assert.equal(page.length, Math.min(700, Math.max(0, want.length - offset)));
        got.push(...page);
        if (page.length < 700) break;
      }
      assert.equal(new Set(got).size, got.length, "no identifier twice across pages");
      assert.deepEqual([...got].sort(), want);
    }
  });

  test("Locate by name and the listing run on indexes (query plans)", async () => {
    const store = i.server.app.store;
    const seen: { sql: string; params: SqlValue[] }[] = [];
    const all = store.all.bind(store);
    store.all = (async (sql: string, params?: SqlValue[]) => {
      seen.push({ sql, params: params ?? [] });
      return all(sql, params);
    }) as typeof store.all;
    try {
      await kAlice.ok([1, 4], "Locate", [attr1x("Name", nameAttr("pg-alice-0042"))]);
      await alice.rest.call("GET", "/v1/keys?limit=10&cursor=pg-alice-0100");
    } finally {
      store.all = all;
    }
    const locateSql = seen.find((s) => s.sql.includes("FROM objects o") && s.sql.includes("object_names"));
    const listSql = seen.find((s) => s.sql.includes("key_readers r JOIN keys k"));
    assert.ok(locateSql && listSql);
    const db = new Database(join(i.dir, "data", "strongroom.db"), { readonly: true });
    try {
      // As the store binds them: each $n a positional parameter.
      const plan = (q: { sql: string; params: SqlValue[] }) => {
        const order: number[] = [];
        const sql = q.sql.replace(/\$(\d+)/g, (_, n: string) => {
          order.push(Number(n) - 1);
          return "?";
        });
        return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...order.map((k) => q.params[k])) as { detail: string }[]).map((r) => r.detail);
      };
      const lp = plan(locateSql);
      assert.ok(!lp.some((d) => /^SCAN (o|objects)\b/.test(d)), lp.join("; "));
      assert.ok(
        lp.some((d) => /object_names/.test(d) && /\(name=\?\)/.test(d)),
        lp.join("; "),
      );
      assert.ok(
        lp.some((d) =>
          /^SEARCH r USING (PRIMARY KEY|(COVERING )?INDEX \w+) \((principal=\? AND name=\?|name=\? AND principal=\?)\)/.test(d),
        ),
        lp.join("; "),
      );
      const kp = plan(listSql);
      assert.ok(!kp.some((d) => /^SCAN (k|keys|r)\b/.test(d)), kp.join("; "));
      assert.ok(
        kp.some((d) => /SEARCH r USING PRIMARY KEY \(principal=\? AND name>\?\)/.test(d)),
        kp.join("; "),
      );
    } finally {
      db.close();
    }
  });
});
