// Issue 9 findings 6–8: approvals show what executes and are approved by digest, quorums count principals, production init turns dual control on, exportable false is one-way.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash, createPublicKey, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../src/config/config.js";
import { initInstance } from "../src/init.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { bool, struct, Tag, text } from "../src/kmip/codec/ttlv.js";
import { type Client, client, type Instance, newInstance } from "./helpers.js";
import { attr1x, KmipClient } from "./kmip-client.js";

const DUMMY = `sha256:${"0".repeat(64)}`;
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Runs the CLI (a child process: the server runs in this one) with one of the instance's bundles. */
function cli(i: Instance, who: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const b = i.init.bundles[who];
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) env[k] = v;
  Object.assign(env, { STRONGROOM_ADDR: i.url, STRONGROOM_CERT: b.cert, STRONGROOM_KEY: b.key, STRONGROOM_CA: b.ca });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "bin", "strongroom.js"), ...args], { cwd: ROOT, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

interface Listed {
  id: string;
  action: string;
  target: string | null;
  requestedBy: string;
  principal: string;
  summary: Record<string, any> | null;
  digest: string | null;
  status: string;
}

async function listed(c: Client, id: string): Promise<Listed> {
  const r = await c.call("GET", "/v1/approvals");
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const a = r.body.approvals.find((x: Listed) => x.id === id);
  assert.ok(a, `approval ${id} is listed`);
  return a;
}

/** Approves as `c` exactly what `c` sees listed. */
async function approve(c: Client, id: string) {
  return c.call("POST", `/v1/approvals/${id}/approve`, { digest: (await listed(c, id)).digest });
}

/** A fresh EC key and a PKCS#10 request for it (openssl, as an operator would make one). */
function csrFor(dir: string, cn: string): { csr: string; key: string; spkiSha256: string } {
  const keyFile = join(dir, `${cn}.key`);
  const csrFile = join(dir, `${cn}.csr`);
  const r = spawnSync(
    "openssl",
    [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      `/CN=${cn}`,
      "-keyout",
      keyFile,
      "-out",
      csrFile,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  const key = readFileSync(keyFile, "utf8");
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  return { csr: readFileSync(csrFile, "utf8"), key, spkiSha256: createHash("sha256").update(spki).digest("hex") };
}

describe("approvals show what will execute and count principals (issue 9 #6)", () => {
  let i: Instance;
  let tmp: string;
  const extra: Client[] = [];
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "strongroom-gov-"));
    i = await newInstance({ dualControl: true });
  });
  after(async () => {
    for (const c of extra) c.close();
    await i.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("the helpdesk attack: an admin certificate at admin1's request counts as admin1 and cannot approve admin1's requests", async () => {
    const hd = csrFor(tmp, "helpdesk");
    const req = await i.as.admin1.call("POST", "/v1/certs", { cn: "helpdesk", ou: "it", role: "admin", csr: hd.csr });
    assert.equal(req.status, 202, JSON.stringify(req.body));
    // The approver sees exactly what will be issued: role, CN, OU, validity, the key's fingerprint, whom it counts as.
    const a = await listed(i.as.admin2, req.body.approval.id);
    assert.equal(a.action, "cert.issue");
    assert.equal(a.requestedBy, "admin1");
    assert.equal(a.summary?.role, "admin");
    assert.equal(a.summary?.cn, "helpdesk");
    assert.equal(a.summary?.ou, "it");
    assert.equal(a.summary?.validityDays, 365);
    assert.equal(a.summary?.publicKey.spkiSha256, hd.spkiSha256);
    assert.equal(a.summary?.publicKey.algorithm, "ec-prime256v1");
    assert.equal(a.summary?.principal, "admin1");
    assert.equal(a.summary?.newPrincipal, false);
    assert.match(String(a.digest), /^sha256:[0-9a-f]{64}$/);
    // Approving blind is refused: without the digest, or with one for other content.
    const blind = await i.as.admin2.call("POST", `/v1/approvals/${a.id}/approve`);
    assert.equal(blind.status, 400);
    assert.equal(blind.body.error.code, "approval_digest_required");
    const wrong = await i.as.admin2.call("POST", `/v1/approvals/${a.id}/approve`, { digest: DUMMY });
    assert.equal(wrong.status, 409);
    assert.equal(wrong.body.error.code, "approval_digest_mismatch");
    assert.equal((await listed(i.as.admin2, a.id)).status, "pending", "refused approvals do not count");
    // admin2 approves what it saw; the certificate is issued and records whom it acts for.
    const ok = await approve(i.as.admin2, a.id);
    assert.equal(ok.body.status, "executed", JSON.stringify(ok.body));
    const helpdesk = client(i.url, { cert: ok.body.result.certificate, key: hd.key, ca: i.bundle("admin1").ca });
    extra.push(helpdesk);
    const certs = (await i.as.admin1.call("GET", "/v1/certs?cn=helpdesk")).body.certificates;
    assert.equal(certs[0].principal, "admin1");

    // admin1 asks to turn dual control off and approves as helpdesk: refused, same principal.
    const off = await i.as.admin1.call("PATCH", "/v1/sys/governance", { dualControl: false });
    assert.equal(off.status, 202);
    const o = await listed(helpdesk, off.body.approval.id);
    assert.deepEqual(o.summary, { change: "governance settings", before: { dualControl: true }, after: { dualControl: false } });
    const sneaky = await approve(helpdesk, o.id);
    assert.equal(sneaky.status, 403, JSON.stringify(sneaky.body));
    assert.match(sneaky.body.error.message, /helpdesk acts for admin1/);
    assert.equal((await i.as.admin1.call("GET", "/v1/sys/governance")).body.dualControl, true, "governance stays on");
    assert.equal((await listed(i.as.admin2, o.id)).status, "pending");
    await i.as.admin2.call("POST", `/v1/approvals/${o.id}/deny`);

    // Nor does a window opened by admin1 let admin1's derived identity act alone.
    await i.as.admin1.call("POST", "/v1/keys", { name: "hd-key", type: "aes-256" });
    assert.equal((await i.as.admin1.call("POST", "/v1/approvals/window", { minutes: 5 })).status, 201);
    const inWindow = await helpdesk.call("POST", "/v1/keys/hd-key/revoke", { reason: "superseded" });
    assert.equal(inWindow.status, 202, "helpdesk acts for admin1, who opened the window");
    await i.as.admin2.call("POST", `/v1/approvals/${inWindow.body.approval.id}/deny`);
  });

  test("a new person is declared (newPrincipal), shown to the approver, and can then approve", async () => {
    const carol = csrFor(tmp, "carol");
    const dup = await i.as.admin1.call("POST", "/v1/certs", { cn: "admin2", role: "admin", csr: carol.csr, newPrincipal: true });
    assert.equal(dup.status, 400, "no second voice under an existing principal's name");
    const req = await i.as.admin1.call("POST", "/v1/certs", { cn: "carol", role: "admin", csr: carol.csr, newPrincipal: true });
    assert.equal(req.status, 202);
    const a = await listed(i.as.admin2, req.body.approval.id);
    assert.equal(a.summary?.principal, "carol");
    assert.equal(a.summary?.newPrincipal, true);
    const ok = await approve(i.as.admin2, a.id);
    assert.equal(ok.body.status, "executed");
    const c = client(i.url, { cert: ok.body.result.certificate, key: carol.key, ca: i.bundle("admin1").ca });
    extra.push(c);
    await i.as.admin1.call("POST", "/v1/keys", { name: "carol-key", type: "aes-256" });
    const r = await i.as.admin1.call("POST", "/v1/keys/carol-key/revoke", { reason: "superseded" });
    const done = await approve(c, r.body.approval.id);
    assert.equal(done.body.status, "executed", JSON.stringify(done.body));
    assert.deepEqual(done.body.approvers, ["admin1", "carol"]);
  });

  test("policy, export, revoke, destroy and import requests list exactly what they will do (never material)", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "g-1", type: "aes-256" });
    const p = await i.as.admin1.call("PATCH", "/v1/keys/g-1", { policy: { users: ["app"] } });
    const ps = (await listed(i.as.admin2, p.body.approval.id)).summary;
    assert.deepEqual(ps?.before, { policy: { users: [], groups: [], operations: [] } });
    assert.deepEqual(ps?.after, { policy: { users: ["app"], groups: [], operations: [] } });

    await i.as.admin1.call("POST", "/v1/keys", { name: "g-wrap", type: "aes-256" });
    const e = await i.as.admin1.call("POST", "/v1/keys/g-1/export", { wrappingKey: { name: "g-wrap" } });
    assert.equal(e.status, 202, JSON.stringify(e.body));
    const es = (await listed(i.as.admin2, e.body.approval.id)).summary;
    assert.deepEqual(es, {
      export: "g-1",
      version: 1,
      type: "aes-256",
      format: "raw",
      scheme: "aes-kwp",
      wrappingKey: { name: "g-wrap", version: 1 },
    });

    const r = await i.as.admin1.call("POST", "/v1/keys/g-1/revoke", { reason: "key-compromise" });
    const rs = (await listed(i.as.admin2, r.body.approval.id)).summary;
    assert.deepEqual(rs, { key: "g-1", versions: [{ version: 1, state: "Active" }], newState: "Compromised", reason: "key-compromise" });

    const d = await i.as.admin1.call("DELETE", "/v1/keys/g-1", { pendingDays: 7 });
    assert.deepEqual((await listed(i.as.admin2, d.body.approval.id)).summary, {
      key: "g-1",
      destroy: [{ version: 1, state: "Active" }],
      pendingDays: 7,
    });

    const blob = randomBytes(300);
    const imp = await i.as.admin1.call("POST", "/v1/keys/import", {
      name: "g-imp",
      type: "aes-256",
      wrapped: blob.toString("base64"),
      scheme: "rsa-aes-kwp",
    });
    assert.equal(imp.status, 202, JSON.stringify(imp.body));
    const is = (await listed(i.as.admin2, imp.body.approval.id)).summary;
    assert.equal(is?.wrappedSha256, createHash("sha256").update(blob).digest("hex"));
    assert.ok(!JSON.stringify(is).includes(blob.toString("base64")), "the summary holds a fingerprint, never the blob");
    for (const x of [p, e, r, d, imp]) await i.as.admin2.call("POST", `/v1/approvals/${x.body.approval.id}/deny`);
  });

  test("CLI: approvals list shows what will execute and its digest; approvals approve needs that digest", async () => {
    const k = csrFor(tmp, "ops-auditor");
    const req = await i.as.admin1.call("POST", "/v1/certs", { cn: "ops-auditor", ou: "audit", role: "auditor", csr: k.csr, days: 30 });
    assert.equal(req.status, 202);
    const id = req.body.approval.id;
    const list = await cli(i, "admin2", ["approvals", "list"]);
    assert.equal(list.code, 0, list.stderr);
    const block = list.stdout.slice(list.stdout.indexOf(id));
    for (const line of [
      /role: auditor/,
      /cn: ops-auditor/,
      /ou: audit/,
      /validityDays: 30/,
      new RegExp(`publicKey\\.spkiSha256: ${k.spkiSha256}`),
      /principal: admin1/,
    ])
      assert.match(block, line);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(block)?.[1];
    assert.ok(digest, list.stdout);
    const blind = await cli(i, "admin2", ["approvals", "approve", id]);
    assert.notEqual(blind.code, 0);
    assert.match(blind.stderr, /--digest/);
    const ok = await cli(i, "admin2", ["approvals", "approve", id, "--digest", digest, "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).status, "executed");
  });

  test("what executes is what was approved: a request whose state moved since is not executed", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "g-2", type: "aes-256" });
    const first = await i.as.admin1.call("PATCH", "/v1/keys/g-2", { policy: { users: ["app"] } });
    const second = await i.as.admin1.call("PATCH", "/v1/keys/g-2", { policy: { groups: ["finance"] } });
    const reviewed = await listed(i.as.admin2, first.body.approval.id);
    assert.equal((await approve(i.as.admin2, second.body.approval.id)).body.status, "executed");
    const stale = await i.as.admin2.call("POST", `/v1/approvals/${reviewed.id}/approve`, { digest: reviewed.digest });
    assert.equal(stale.body.status, "failed");
    assert.equal(stale.body.result.error.code, "approval_stale");
    const k = (await i.as.admin1.call("GET", "/v1/keys/g-2")).body;
    assert.deepEqual([k.policy.users, k.policy.groups], [[], ["finance"]], "the stale request changed nothing");
  });
});

describe("production init turns dual control on (issue 9 #7)", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const base = () => {
    const dir = mkdtempSync(join(tmpdir(), "strongroom-init-"));
    dirs.push(dir);
    return { dir, seal: "file" as const, hosts: ["localhost"], apiPort: 0, kmipPort: 0 };
  };

  test("a production init has dual control on and owner-only keys; --no-dual-control opts out; development stays permissive", async () => {
    const prod = await initInstance(base());
    assert.deepEqual(prod.governance, { profile: "production", dualControl: true, defaultPolicy: "owner-only" });
    const cfg = loadConfig(prod.dir);
    assert.equal(cfg.governance.dualControl, true);
    assert.equal(cfg.policy.default, "owner-only");
    const optOut = await initInstance({ ...base(), dualControl: false });
    assert.equal(loadConfig(optOut.dir).governance.dualControl, false);
    assert.equal(loadConfig(optOut.dir).policy.default, "owner-only");
    const dev = await initInstance({ ...base(), profile: "development" });
    assert.deepEqual(dev.governance, { profile: "development", dualControl: false, defaultPolicy: "any-authenticated" });
  });

  test("on a production instance one admin cannot issue a client certificate alone, nor give a client a key", async () => {
    const i = await newInstance({ profile: "production" });
    try {
      assert.equal((await i.as.admin1.call("GET", "/v1/sys/governance")).body.dualControl, true);
      const bundle = await i.as.admin1.call("POST", "/v1/certs", { cn: "bob", ou: "finance", role: "client" });
      assert.equal(bundle.status, 400, "no bundle for bob: the private key would stay with the admin");
      await i.as.admin1.call("POST", "/v1/keys", { name: "payroll", type: "aes-256" });
      assert.equal((await i.as.app.call("GET", "/v1/keys/payroll/material")).status, 404, "owner-only by default: not even visible");
      assert.equal((await i.as.admin1.call("PATCH", "/v1/keys/payroll", { policy: { users: ["app"] } })).status, 202);
    } finally {
      await i.cleanup();
    }
  });
});

describe("exportable false is one-way (issue 9 #8)", () => {
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

  test("PATCH exportable: true is refused to the owner and to admins, with dual control off and on", async () => {
    assert.equal((await i.as.app.call("POST", "/v1/keys", { name: "ow-1", type: "aes-256", exportable: false })).status, 201);
    for (const c of [i.as.app, i.as.admin1]) {
      const r = await c.call("PATCH", "/v1/keys/ow-1", { exportable: true });
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "exportable_one_way");
    }
    // Rotation keeps it: the new version is not exportable either.
    assert.equal((await i.as.app.call("POST", "/v1/keys/ow-1/rotate")).status, 200);
    assert.equal((await i.as.app.call("GET", "/v1/keys/ow-1/material")).status, 403);
    // Turning it off again is fine (idempotent), and exportable keys can still be made non-exportable.
    assert.equal((await i.as.app.call("PATCH", "/v1/keys/ow-1", { exportable: false })).status, 200);

    assert.equal((await i.as.admin1.call("PATCH", "/v1/sys/governance", { dualControl: true })).status, 200);
    try {
      for (const body of [{ exportable: true }, { exportable: true, policy: { users: ["app"] } }]) {
        const r = await i.as.admin1.call("PATCH", "/v1/keys/ow-1", body);
        assert.equal(r.status, 409, "refused outright, not queued for a quorum");
        assert.equal(r.body.error.code, "exportable_one_way");
      }
    } finally {
      const off = await i.as.admin1.call("PATCH", "/v1/sys/governance", { dualControl: false });
      const a = await listed(i.as.admin2, off.body.approval.id);
      assert.equal((await approve(i.as.admin2, a.id)).body.status, "executed");
    }
    const k = (await i.as.app.call("GET", "/v1/keys/ow-1")).body;
    assert.equal(k.exportable, false);
    assert.equal((await i.as.app.call("GET", "/v1/keys/ow-1/material")).status, 403);
  });

  test("KMIP cannot turn Extractable back on for a key made non-exportable over REST (SetAttribute 2.1, ModifyAttribute 1.4)", async () => {
    await i.as.app.call("POST", "/v1/keys", { name: "ow-2", type: "aes-256", exportable: false });
    const id = (await i.as.app.call("GET", "/v1/keys/ow-2")).body.versions[0].id;
    const [set] = await kmip.call(
      [2, 1],
      [["SetAttribute", [text(Tag.UniqueIdentifier, id), struct(Tag.NewAttribute, bool(Tag.Extractable, true))]]],
    );
    assert.equal(set.status, Enum.ResultStatus.OperationFailed);
    assert.equal(set.reason, Enum.ResultReason.AttributeReadOnly);
    const [mod] = await kmip.call(
      [1, 4],
      [["ModifyAttribute", [text(Tag.UniqueIdentifier, id), attr1x("Extractable", bool(Tag.AttributeValue, true))]]],
    );
    assert.equal(mod.status, Enum.ResultStatus.OperationFailed);
    assert.equal(mod.reason, Enum.ResultReason.PermissionDenied);
    const [get] = await kmip.call([2, 1], [["Get", [text(Tag.UniqueIdentifier, id)]]]);
    assert.equal(get.status, Enum.ResultStatus.OperationFailed);
    assert.equal((await i.as.app.call("GET", "/v1/keys/ow-2/material")).status, 403);
  });
});
