// Durability and custody at rest: kill -9 after acknowledged writes loses nothing, the database files hold no key material, restarts keep keys, policies and the audit chain.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { initInstance } from "../src/init.js";
import { type Client, client, newInstance } from "./helpers.js";

const SERVE = fileURLToPath(new URL("./fixtures/serve.js", import.meta.url));
const children = new Set<ChildProcess>();
const dirs: string[] = [];
after(() => {
  for (const c of children) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  url: string;
  as(name: string): Client;
  kill9(): Promise<void>;
}

/** Starts `serve.js DIR` in a child process and waits for its {"port":N} line. */
async function spawnServer(dir: string, bundles: Record<string, { cert: string; key: string; ca: string }>): Promise<Child> {
  const proc = spawn(process.execPath, [SERVE, dir], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  let stderr = "";
  proc.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 15 s: ${stderr}`)), 15_000);
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    lines.once("line", (l) => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(l) as { port: number }).port);
      } catch {
        reject(new Error(`unexpected output ${l}`));
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr}`));
    });
  });
  const url = `https://localhost:${port}`;
  const clients: Client[] = [];
  return {
    proc,
    url,
    as(name) {
      const c = client(url, bundles[name]);
      clients.push(c);
      return c;
    },
    async kill9() {
      const exited = new Promise<void>((r) => proc.once("exit", () => r()));
      proc.kill("SIGKILL");
      await exited;
      children.delete(proc);
      for (const c of clients) c.close();
      assert.equal(proc.signalCode, "SIGKILL");
    },
  };
}

test("kill -9 right after acknowledged writes loses nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-durability-"));
  dirs.push(dir);
  const init = await initInstance({
    dir,
    seal: "file",
    hosts: ["localhost", "127.0.0.1"],
    apiPort: 0,
    kmipPort: 0,
    timeZone: "UTC",
    profile: "development",
  });
  const bundles = Object.fromEntries(
    Object.entries(init.bundles).map(([n, b]) => [
      n,
      { cert: readFileSync(b.cert, "utf8"), key: readFileSync(b.key, "utf8"), ca: readFileSync(b.ca, "utf8") },
    ]),
  );

  // One create, killed the moment the 201 arrives.
  let srv = await spawnServer(dir, bundles);
  let admin = srv.as("admin1");
  const one = await admin.call("POST", "/v1/keys", { name: "first", type: "aes-256" });
  assert.equal(one.status, 201, JSON.stringify(one.body));
  await srv.kill9();

  srv = await spawnServer(dir, bundles);
  admin = srv.as("admin1");
  const got = await admin.call("GET", "/v1/keys/first");
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.equal(got.body.versions[0].id, one.body.versions[0].id);

  // Twenty creates in a quick loop, then a rotation and a revocation; killed after the last reply.
  const acked = new Map<string, { id: string; requestId: string }>();
  for (let n = 0; n < 20; n++) {
    const name = `k-${String(n).padStart(2, "0")}`;
    const r = await admin.call("POST", "/v1/keys", { name, type: n % 2 ? "hmac-sha256" : "aes-256" });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    acked.set(name, { id: r.body.versions[0].id, requestId: String(r.headers["x-request-id"]) });
  }
  const rot = await admin.call("POST", "/v1/keys/first/rotate");
  assert.equal(rot.status, 200, JSON.stringify(rot.body));
  const rev = await admin.call("POST", "/v1/keys/first/revoke", { reason: "superseded", version: 1 });
  assert.equal(rev.status, 200, JSON.stringify(rev.body));
  // A read's audit event is committed before its reply, too.
  const app = srv.as("app");
  const enc = await app.call("POST", "/v1/keys/k-00/encrypt", { plaintext: Buffer.from("survives").toString("base64") });
  assert.equal(enc.status, 200, JSON.stringify(enc.body));
  await srv.kill9();

  srv = await spawnServer(dir, bundles);
  admin = srv.as("admin1");
  const list = await admin.call("GET", "/v1/keys?limit=1000");
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.keys.map((k: any) => k.name),
    ["first", ...acked.keys()],
  );
  for (const [name, { id }] of acked) {
    const k = await admin.call("GET", `/v1/keys/${name}`);
    assert.equal(k.status, 200, `${name}: ${JSON.stringify(k.body)}`);
    assert.equal(k.body.versions.length, 1);
    assert.equal(k.body.versions[0].id, id, `${name} kept its version id`);
  }
  const first = (await admin.call("GET", "/v1/keys/first")).body;
  assert.deepEqual(first, rev.body, "rotation and revocation survived");
  assert.deepEqual(
    first.versions.map((v: any) => v.state),
    ["Deactivated", "Active"],
  );
  const dec = await srv.as("app").call("POST", "/v1/keys/k-00/decrypt", { ciphertext: enc.body.ciphertext });
  assert.equal(dec.status, 200, JSON.stringify(dec.body));
  assert.equal(Buffer.from(dec.body.plaintext, "base64").toString(), "survives");

  const auditor = srv.as("auditor");
  const events = (await auditor.call("GET", "/v1/audit?limit=1000")).body.events as any[];
  for (const [name, { requestId }] of acked) {
    const ev = events.find((e) => e.requestId === requestId);
    assert.ok(ev, `audit event of the acknowledged create of ${name}`);
    assert.equal(ev.action, "key.create");
    assert.equal(ev.outcome, "success");
    assert.equal(ev.target.name, name);
  }
  assert.ok(
    events.some((e) => e.requestId === enc.headers["x-request-id"] && e.action === "key.encrypt"),
    "the encrypt's event survived",
  );
  const v = await auditor.call("GET", "/v1/audit/verify");
  assert.equal(v.body.ok, true, JSON.stringify(v.body));
  assert.equal(v.body.checked, events.length + 1);
  await srv.kill9();
});

/** The private parts of a key (never the public ones, which are stored in clear by design). */
function secretParts(type: string, material: Buffer): Buffer[] {
  if (type.startsWith("aes") || type.startsWith("hmac")) return [material];
  const jwk = createPrivateKey({ key: material, format: "der", type: "pkcs8" }).export({ format: "jwk" });
  const parts = type.startsWith("rsa") ? [jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi] : [jwk.d];
  return parts.map((p) => Buffer.from(p as string, "base64url"));
}

function assertAbsent(files: Record<string, Buffer>, needle: Buffer, what: string): void {
  assert.ok(needle.length >= 16, `${what}: needle long enough to be meaningful`);
  const mid = Math.floor(needle.length / 2) - 8;
  const probes: [string, Buffer | string][] = [
    ["bytes", needle],
    ["16-byte middle window", needle.subarray(mid, mid + 16)],
    ["base64", needle.toString("base64")],
    ["hex", needle.toString("hex")],
    ["HEX", needle.toString("hex").toUpperCase()],
  ];
  for (const [file, data] of Object.entries(files)) {
    for (const [form, probe] of probes) assert.equal(data.indexOf(probe), -1, `${what} (${form}) found in ${file}`);
  }
}

test("the database and its WAL hold no key material and no master key", async () => {
  const i = await newInstance();
  try {
    const a = i.as.admin1;
    const types = ["aes-128", "aes-256", "hmac-sha256", "hmac-sha512", "rsa-2048", "ec-p256", "ec-p384"];
    for (const type of types) {
      const r = await a.call("POST", "/v1/keys", { name: `at-rest-${type}`, type });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    for (const type of ["aes-256", "ec-p256"]) assert.equal((await a.call("POST", `/v1/keys/at-rest-${type}/rotate`)).status, 200);

    const secrets: { what: string; type: string; material: Buffer }[] = [];
    for (const type of types) {
      const k = (await a.call("GET", `/v1/keys/at-rest-${type}`)).body;
      for (const v of k.versions) {
        const m = await i.as.app.call("GET", `/v1/keys/at-rest-${type}/material?version=${v.version}`);
        assert.equal(m.status, 200, JSON.stringify(m.body));
        assert.equal(m.body.version, v.version);
        const material = Buffer.from(m.body.material, "base64");
        secrets.push({ what: `${type} v${v.version}`, type, material });
      }
    }
    assert.equal(secrets.length, types.length + 2);
    const master = Buffer.from(readFileSync(join(i.dir, "seal", "master.key"), "utf8").trim(), "base64");
    assert.equal(master.length, 32);
    // The private keys of the bundles init wrote to disk are not in the database either.
    const bundleKeys = ["admin1", "admin2", "auditor", "app"].map((n) =>
      createPrivateKey(readFileSync(i.init.bundles[n].key, "utf8")).export({ type: "pkcs8", format: "der" }),
    );

    const db = join(i.dir, "data", "strongroom.db");
    const read = (): Record<string, Buffer> => {
      const out: Record<string, Buffer> = {};
      for (const suffix of ["", "-wal", "-shm"]) if (existsSync(db + suffix)) out[`strongroom.db${suffix}`] = readFileSync(db + suffix);
      return out;
    };
    const check = (files: Record<string, Buffer>) => {
      // Positive control: the files are readable and hold what is meant to be in clear.
      assert.ok(
        Object.values(files).some((f) => f.includes("at-rest-rsa-2048")),
        "key names are stored in clear",
      );
      for (const s of secrets.filter((x) => x.type.startsWith("rsa") || x.type.startsWith("ec"))) {
        const spki = createPublicKey(createPrivateKey({ key: s.material, format: "der", type: "pkcs8" })).export({
          type: "spki",
          format: "der",
        });
        assert.ok(
          Object.values(files).some((f) => f.includes(spki)),
          `${s.what}: public key found in clear (the byte search works)`,
        );
      }
      for (const s of secrets)
        for (const [n, part] of secretParts(s.type, s.material).entries()) assertAbsent(files, part, `${s.what} secret part ${n}`);
      for (const s of secrets) if (s.material.length >= 32) assertAbsent(files, s.material, `${s.what} material`);
      assertAbsent(files, master, "master key");
      assert.equal(
        Object.values(files).some((f) => f.includes(master.toString("base64"))),
        false,
        "master key file text",
      );
      for (const [n, k] of bundleKeys.entries()) assertAbsent(files, k, `bundle private key ${n}`);
    };

    // While the server runs, recent pages live in the WAL.
    const live = read();
    assert.ok(live["strongroom.db-wal"]?.length, "a WAL file exists while the server runs");
    check(live);
    await i.stop();
    const stopped = read();
    check(stopped);
  } finally {
    await i.cleanup();
  }
});

test("restart keeps keys, versions, policies and the audit chain; tampering is detected", async () => {
  const i = await newInstance();
  try {
    const a = () => i.as.admin1;
    const created = await a().call("POST", "/v1/keys", {
      name: "ledger",
      type: "aes-256",
      description: "general ledger",
      rotation: { mode: "auto", periodDays: 90 },
      policy: { users: ["app"], groups: ["finance"], operations: ["encrypt", "decrypt"] },
      exportable: false,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ct1 = (await i.as.app.call("POST", "/v1/keys/ledger/encrypt", { plaintext: Buffer.from("v1 data").toString("base64") })).body
      .ciphertext;
    assert.equal((await a().call("POST", "/v1/keys/ledger/rotate")).status, 200);
    const ct2 = (await i.as.app.call("POST", "/v1/keys/ledger/encrypt", { plaintext: Buffer.from("v2 data").toString("base64") })).body
      .ciphertext;
    const revoked = await a().call("POST", "/v1/keys/ledger/revoke", { reason: "superseded", version: 1 });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal((await a().call("POST", "/v1/keys", { name: "other", type: "ec-p256" })).status, 201);
    const scheduled = await a().call("DELETE", "/v1/keys/other", { pendingDays: 7 });
    assert.equal(scheduled.status, 200);

    const before = (await a().call("GET", "/v1/keys/ledger")).body;
    const otherBefore = (await a().call("GET", "/v1/keys/other")).body;
    assert.deepEqual(
      before.versions.map((v: any) => [v.version, v.state]),
      [
        [1, "Deactivated"],
        [2, "Active"],
      ],
    );
    const eventsBefore = (await i.as.auditor.call("GET", "/v1/audit?limit=1000")).body.events as any[];

    await i.restart();

    const afterView = (await i.as.admin1.call("GET", "/v1/keys/ledger")).body;
    assert.deepEqual(afterView, before, "same versions, ids, states, dates, policy, rotation");
    assert.deepEqual(afterView.policy, { users: ["app"], groups: ["finance"], operations: ["encrypt", "decrypt"] });
    assert.deepEqual(afterView.rotation, { mode: "auto", periodDays: 90 });
    assert.equal(afterView.exportable, false);
    assert.deepEqual((await i.as.admin1.call("GET", "/v1/keys/other")).body, otherBefore, "scheduled deletion survived");
    // Material survived: both versions decrypt; the policy is enforced as before.
    for (const [ct, text] of [
      [ct1, "v1 data"],
      [ct2, "v2 data"],
    ]) {
      const d = await i.as.app.call("POST", "/v1/keys/ledger/decrypt", { ciphertext: ct });
      assert.equal(d.status, 200, JSON.stringify(d.body));
      assert.equal(Buffer.from(d.body.plaintext, "base64").toString(), text);
    }
    const m = await i.as.app.call("GET", "/v1/keys/ledger/material");
    assert.equal(m.status, 403, "not exportable, and material is not among the granted operations");

    // The audit chain: every event from before the restart is unchanged and the chain verifies.
    const events = (await i.as.auditor.call("GET", "/v1/audit?limit=1000")).body.events as any[];
    assert.deepEqual(events.slice(0, eventsBefore.length), eventsBefore);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, n) => n + 1),
    );
    const v = await i.as.auditor.call("GET", "/v1/audit/verify");
    assert.equal(v.status, 200);
    // The listing above added its own audit.query event after it was read.
    assert.deepEqual(v.body, { ok: true, checked: events.length + 1, firstBroken: null, broken: [], omitted: 0 });

    // Someone with the database file alters an old event: the chain reports exactly where.
    const target = events.find((e) => e.action === "key.revoke");
    const raw = new Database(join(i.dir, "data", "strongroom.db"), { timeout: 5000 });
    try {
      raw.prepare("UPDATE events SET reason = 'nothing to see' WHERE seq = ?").run(target.seq);
    } finally {
      raw.close();
    }
    const broken = await i.as.auditor.call("GET", "/v1/audit/verify");
    assert.deepEqual(broken.body, {
      ok: false,
      checked: events.length + 2, // the two verify events are checked too: verify reads on past the break
      firstBroken: target.seq,
      broken: [{ from: target.seq, to: target.seq, kind: "altered" }],
      omitted: 0,
    });
  } finally {
    await i.cleanup();
  }
});
