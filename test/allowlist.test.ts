// Listener allowlists: CIDR parsing and configuration errors, IPv4/IPv6 matching, refusal at connection time (`all`)
// and per role on each request, on the HTTPS and KMIP listeners — all traffic on loopback — each refusal audited.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { loadConfig } from "../src/config/config.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { ListenerAllowlist, parseCidr } from "../src/transport/allowlist.js";
import { client, type Instance, newInstance } from "./helpers.js";
import { KmipClient } from "./kmip-client.js";

/** How a client sees a connection closed before the TLS handshake. */
const REFUSED = /ECONNRESET|socket hang up|EPIPE|disconnected before secure TLS connection/;

describe("allowlist matching", () => {
  test("IPv4 and IPv6 CIDRs, bare addresses, IPv4-mapped IPv6 addresses", () => {
    assert.deepEqual(parseCidr("10.0.0.0/8"), { address: "10.0.0.0", prefix: 8, family: "ipv4" });
    assert.deepEqual(parseCidr("192.0.2.7"), { address: "192.0.2.7", prefix: 32, family: "ipv4" });
    assert.deepEqual(parseCidr("2001:db8::/32"), { address: "2001:db8::", prefix: 32, family: "ipv6" });
    assert.deepEqual(parseCidr("::1"), { address: "::1", prefix: 128, family: "ipv6" });
    for (const bad of ["10.0.0.0/33", "::/129", "10.0.0/8", "example.com", "10.0.0.0/x", "10.0.0.0/8/1", "", "1.2.3.4/-1"])
      assert.throws(() => parseCidr(bad), /not an IPv4 or IPv6|prefix length/, bad);

    const a = new ListenerAllowlist("api", { all: ["10.0.0.0/8", "2001:db8::/32"], admin: ["10.1.2.0/24"] });
    assert.equal(a.refuseAddress("10.200.1.1"), null);
    assert.equal(a.refuseAddress("::ffff:10.200.1.1"), null, "IPv4-mapped address of a dual-stack listener");
    assert.equal(a.refuseAddress("2001:db8:1::5"), null);
    assert.equal(a.refuseAddress("127.0.0.1"), "address 127.0.0.1 is not in allowlists.api.all");
    assert.match(a.refuseAddress("2001:db9::1") ?? "", /not in allowlists\.api\.all/);
    assert.match(a.refuseAddress(null) ?? "", /\(unknown\)/);
    // Every list that applies must admit the address: `all`, then the role's own list.
    assert.equal(a.refuseRole("10.1.2.3", "admin"), null);
    assert.equal(a.refuseRole("10.9.9.9", "admin"), "address 10.9.9.9 is not in allowlists.api.admin");
    assert.equal(a.refuseRole("10.9.9.9", "client"), null, "no client list: any address `all` admits");
    const open = new ListenerAllowlist("kmip", { all: [], client: [] });
    assert.ok(open.empty, "empty lists admit any address");
    assert.equal(open.refuseAddress("203.0.113.9"), null);
  });

  test("configuration errors name the bad entry", async () => {
    const i = await newInstance();
    try {
      const path = join(i.dir, "strongroom.yaml");
      const original = readFileSync(path, "utf8");
      const withLists = (allowlists: unknown) => {
        const doc = YAML.parse(original);
        doc.allowlists = allowlists;
        writeFileSync(path, YAML.stringify(doc));
      };
      const cases: [unknown, RegExp][] = [
        [{ api: { admin: ["10.0.0.0/33"] } }, /allowlists\.api\.admin\[0\]: '10\.0\.0\.0\/33': an IPv4 prefix length is 0-32/],
        [{ kmip: { all: ["10.0.0.0/8", "localhost"] } }, /allowlists\.kmip\.all\[1\]: 'localhost' is not an IPv4 or IPv6/],
        [{ kmip: { all: "10.0.0.0/8" } }, /allowlists\.kmip\.all must be a list of CIDRs/],
        [{ api: { admins: ["10.0.0.0/8"] } }, /allowlists\.api\.admins: unknown key \(use all, admin, auditor, client, peer\)/],
        [{ http: { all: ["10.0.0.0/8"] } }, /allowlists\.http: unknown listener/],
        [["10.0.0.0/8"], /allowlists must be a mapping/],
      ];
      for (const [lists, error] of cases) {
        withLists(lists);
        assert.throws(
          () => loadConfig(i.dir),
          (e: Error) => /\/strongroom\.yaml: /.test(e.message) && error.test(e.message),
        );
      }
      withLists({ api: { all: ["127.0.0.1", "::1/128"], admin: ["192.0.2.0/24"] }, kmip: null });
      assert.deepEqual(loadConfig(i.dir).allowlists.api?.admin, ["192.0.2.0/24"]);
    } finally {
      await i.cleanup();
    }
  });
});

describe("allowlists on the listeners (loopback only)", () => {
  let i: Instance;
  let path = "";
  let original = "";
  /** Rewrites the configuration with these allowlists and restarts the server. */
  async function configure(allowlists: unknown) {
    const doc = YAML.parse(original);
    doc.allowlists = allowlists;
    writeFileSync(path, YAML.stringify(doc));
    await i.restart();
  }
  const events = (action: string) =>
    i.server.app.store.all<{
      actor_cn: string | null;
      actor_role: string | null;
      actor_address: string | null;
      outcome: string;
      reason: string;
    }>("SELECT actor_cn, actor_role, actor_address, outcome, reason FROM events WHERE action = $1 ORDER BY seq", [action]);
  const kmipWorks = async (bundle: { cert: string; key: string; ca: string }) => {
    const k = await KmipClient.open(i.server.kmipPort, bundle);
    try {
      const [r] = await k.call([1, 4], [["DiscoverVersions", []]]);
      return r.status === Enum.ResultStatus.Success;
    } finally {
      k.close();
    }
  };

  before(async () => {
    i = await newInstance();
    path = join(i.dir, "strongroom.yaml");
    original = readFileSync(path, "utf8");
  });
  after(async () => {
    await i.cleanup();
  });

  test("127.0.0.1 allowed: both listeners serve", async () => {
    await configure({ api: { all: ["127.0.0.1/32"] }, kmip: { all: ["127.0.0.0/8", "::1"] } });
    assert.equal((await i.as.app.call("GET", "/v1/sys/status")).status, 200);
    assert.ok(await kmipWorks(i.bundle("app")));
    assert.deepEqual(await events("allowlist.refused"), []);
  });

  test("only 10.0.0.0/8 allowed: loopback connections are closed before the handshake and audited", async () => {
    await configure({ api: { all: ["10.0.0.0/8"] }, kmip: { all: ["10.0.0.0/8"] } });
    await assert.rejects(i.as.app.call("GET", "/v1/sys/status"), REFUSED);
    const anonymous = client(i.url, { ca: i.bundle("app").ca });
    try {
      await assert.rejects(anonymous.call("GET", "/v1/sys/health"), REFUSED);
    } finally {
      anonymous.close();
    }
    await assert.rejects(KmipClient.open(i.server.kmipPort, i.bundle("app")), REFUSED);
    await new Promise((r) => setTimeout(r, 100));
    const refused = await events("allowlist.refused");
    assert.ok(refused.some((e) => e.reason === "api: address 127.0.0.1 is not in allowlists.api.all"));
    assert.ok(refused.some((e) => e.reason === "kmip: address 127.0.0.1 is not in allowlists.kmip.all"));
    assert.ok(refused.every((e) => e.outcome === "denied" && e.actor_address === "127.0.0.1" && e.actor_cn === null));
    // Audited once, as allowlist.refused — not a second time as an aborted TLS handshake.
    assert.deepEqual(await events("tls.handshake"), []);
  });

  test("admin restricted to 192.0.2.0/24: admin refused on loopback per request, the application served", async () => {
    await configure({ api: { admin: ["192.0.2.0/24"] }, kmip: { admin: ["192.0.2.0/24"] } });
    const before = (await events("allowlist.refused")).length;
    const r = await i.as.admin1.call("GET", "/v1/keys");
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "forbidden");
    assert.match(r.body.error.message, /api: address 127\.0\.0\.1 is not in allowlists\.api\.admin \(role admin\)/);
    assert.equal((await i.as.app.call("POST", "/v1/keys", { name: "allowed", type: "aes-256" })).status, 201);
    assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).status, 200);
    const anonymous = client(i.url, { ca: i.bundle("app").ca });
    try {
      assert.equal((await anonymous.call("GET", "/v1/sys/health")).status, 200, "no role, no role list");
    } finally {
      anonymous.close();
    }

    const admin = await KmipClient.open(i.server.kmipPort, i.bundle("admin1"));
    try {
      await assert.rejects(admin.call([1, 4], [["DiscoverVersions", []]]), /connection closed by server/);
    } finally {
      admin.close();
    }
    assert.ok(await kmipWorks(i.bundle("app")));

    const refused = (await events("allowlist.refused")).slice(before);
    assert.deepEqual(
      refused.map((e) => [e.actor_cn, e.actor_role, e.actor_address, e.outcome]),
      [
        ["admin1", "admin", "127.0.0.1", "denied"],
        ["admin1", "admin", "127.0.0.1", "denied"],
      ],
    );
    assert.match(refused[1].reason, /kmip: address 127\.0\.0\.1 is not in allowlists\.kmip\.admin/);
  });
});
