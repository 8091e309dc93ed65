// Split-knowledge master key management over the real HTTPS API: rekey, rotate-master, rotate-kek (background re-wrap, resumable), seal; and the operator CLI.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { encodeShare } from "../src/seal/shares.js";
import { type Instance, newInstance } from "./helpers.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function unseal(i: Instance, shares: string[]): Promise<void> {
  let last: { status: number; body: any } = { status: 0, body: null };
  for (const s of shares) last = await i.as.admin1.call("POST", "/v1/sys/unseal", { share: s });
  assert.equal(last.status, 200, JSON.stringify(last.body));
  assert.equal(last.body.sealed, false);
}

/** Creates `name` and returns a ciphertext of `text` under it (encrypted by the app client). */
async function keyWithCiphertext(i: Instance, name: string, text: string): Promise<string> {
  assert.equal((await i.as.admin1.call("POST", "/v1/keys", { name, type: "aes-256" })).status, 201);
  const e = await i.as.app.call("POST", `/v1/keys/${name}/encrypt`, { plaintext: b64(text) });
  assert.equal(e.status, 200, JSON.stringify(e.body));
  return e.body.ciphertext;
}

async function decrypts(i: Instance, name: string, ciphertext: string, text: string): Promise<void> {
  const d = await i.as.app.call("POST", `/v1/keys/${name}/decrypt`, { ciphertext });
  assert.equal(d.status, 200, JSON.stringify(d.body));
  assert.equal(Buffer.from(d.body.plaintext, "base64").toString(), text);
}

const sealSection = (i: Instance) => YAML.parse(readFileSync(join(i.dir, "strongroom.yaml"), "utf8")).seal;

async function auditText(i: Instance): Promise<string> {
  const r = await i.as.auditor.call("GET", "/v1/audit?limit=1000");
  assert.equal(r.status, 200);
  return JSON.stringify(r.body.events);
}

describe("rekey (shamir)", () => {
  test("3-of-5 → 2-of-3: M current shares in one operation; old shares refused after restart, new ones unseal, keys still decrypt", async () => {
    const i = await newInstance({ seal: "shamir", shares: 5, threshold: 3 });
    try {
      const old = i.init.unsealShares as string[];
      await unseal(i, old.slice(0, 3));
      const ct = await keyWithCiphertext(i, "payroll", "salary table");
      const setId = sealSection(i).setId as string;
      const yamlBefore = readFileSync(join(i.dir, "strongroom.yaml"), "utf8");

      // Admin only; rotate-master is not the way for shamir.
      assert.equal((await i.as.app.call("POST", "/v1/sys/rekey/init", { shares: 3, threshold: 2 })).body.error.code, "forbidden");
      assert.equal((await i.as.auditor.call("GET", "/v1/sys/rekey")).status, 403);
      const rm = await i.as.admin1.call("POST", "/v1/sys/rotate-master", {});
      assert.equal(rm.status, 400);
      assert.match(rm.body.error.message, /rekey/);
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/rekey/init", { shares: 2, threshold: 3 })).body.error.code, "validation");
      assert.equal(
        (await i.as.admin1.call("POST", "/v1/sys/rekey/update", { nonce: "x", share: old[0] })).body.error.code,
        "invalid_state",
      );

      // Forged shares of the right set reach the threshold but do not open the keyring: progress starts again.
      let r = await i.as.admin1.call("POST", "/v1/sys/rekey/init", { shares: 3, threshold: 2 });
      assert.equal(r.status, 200);
      assert.deepEqual(
        { started: r.body.started, progress: r.body.progress, required: r.body.required },
        { started: true, progress: 0, required: 3 },
      );
      const forged = [1, 2, 3].map((index) => encodeShare(setId, { index, value: randomBytes(32) }));
      for (const s of forged.slice(0, 2))
        assert.equal((await i.as.admin1.call("POST", "/v1/sys/rekey/update", { nonce: r.body.nonce, share: s })).status, 200);
      const bad = await i.as.admin1.call("POST", "/v1/sys/rekey/update", { nonce: r.body.nonce, share: forged[2] });
      assert.equal(bad.body.error.code, "unseal_failed");
      assert.equal((await i.as.admin1.call("GET", "/v1/sys/rekey")).body.progress, 0);
      assert.equal((await i.as.admin2.call("POST", "/v1/sys/rekey/init", { shares: 3, threshold: 2 })).body.error.code, "invalid_state");
      assert.deepEqual((await i.as.admin2.call("DELETE", "/v1/sys/rekey")).body, { cancelled: true });

      r = await i.as.admin1.call("POST", "/v1/sys/rekey/init", { shares: 3, threshold: 2 });
      const nonce = r.body.nonce as string;
      assert.equal(
        (await i.as.admin1.call("POST", "/v1/sys/rekey/update", { nonce: "0".repeat(32), share: old[4] })).body.error.code,
        "invalid_state",
      );
      const p1 = await i.as.admin1.call("POST", "/v1/sys/rekey/update", { nonce, share: old[4] });
      assert.deepEqual({ progress: p1.body.progress, complete: p1.body.complete }, { progress: 1, complete: false });
      assert.equal(p1.body.newShares, undefined);
      assert.equal((await i.as.admin2.call("POST", "/v1/sys/rekey/update", { nonce, share: old[4] })).body.error.code, "duplicate_share");
      assert.equal(
        (await i.as.admin2.call("POST", "/v1/sys/rekey/update", { nonce, share: "srs1-nope" })).body.error.code,
        "invalid_share",
      );
      await i.as.admin2.call("POST", "/v1/sys/rekey/update", { nonce, share: old[1] });
      const done = await i.as.admin2.call("POST", "/v1/sys/rekey/update", { nonce, share: old[3] });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.equal(done.body.complete, true);
      const fresh = done.body.newShares as string[];
      assert.equal(fresh.length, 3);
      assert.equal((await i.as.admin1.call("GET", "/v1/sys/rekey")).body.started, false);

      // strongroom.yaml follows; the server stays unsealed and the data is untouched.
      const cfg = sealSection(i);
      assert.deepEqual({ shares: cfg.shares, threshold: cfg.threshold }, { shares: 3, threshold: 2 });
      assert.notEqual(cfg.setId, setId);
      await decrypts(i, "payroll", ct, "salary table");

      // No share, old or new, is in the audit log; the chain still verifies.
      const events = await auditText(i);
      for (const s of [...old, ...fresh, ...forged]) assert.ok(!events.includes(s.split("-")[3]), "a share leaked into the audit log");
      assert.match(events, /sys\.rekey\.update/);
      assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).body.ok, true);

      // As if the process died after the keyring committed but before strongroom.yaml was rewritten:
      // the database holds the seal record too, and the next start repairs the file.
      writeFileSync(join(i.dir, "strongroom.yaml"), yamlBefore, { mode: 0o600 });
      await i.restart();
      assert.equal(sealSection(i).setId, cfg.setId);
      assert.equal((await i.as.admin1.call("GET", "/v1/keys/payroll")).status, 503);
      // A share of the replaced set is named as such (it was "belongs to a different Strongroom instance").
      const refused = await i.as.admin1.call("POST", "/v1/sys/unseal", { share: old[0] });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error.code, "superseded_share");
      assert.match(refused.body.error.message, /earlier share set, replaced by a rekey/);
      const s1 = await i.as.admin1.call("POST", "/v1/sys/unseal", { share: fresh[2] });
      assert.deepEqual({ sealed: s1.body.sealed, threshold: s1.body.threshold }, { sealed: true, threshold: 2 });
      await unseal(i, [fresh[0]]);
      await decrypts(i, "payroll", ct, "salary table");
      assert.equal((await i.as.admin1.call("POST", "/v1/keys/payroll/rotate")).status, 200);
    } finally {
      await i.cleanup();
    }
  });
});

describe("rotate-master", () => {
  test("file seal: a new key file (0600, written atomically), keyring re-wrapped; an interrupted rotation recovers at start", async () => {
    const i = await newInstance();
    try {
      const keyFile = join(i.dir, "seal", "master.key");
      const ct = await keyWithCiphertext(i, "files", "file seal data");
      const before = readFileSync(keyFile, "utf8");
      assert.equal((await i.as.app.call("POST", "/v1/sys/rotate-master")).body.error.code, "forbidden");
      assert.equal(
        (await i.as.admin1.call("POST", "/v1/sys/rotate-master", { newPassphrase: "x".repeat(20) })).body.error.code,
        "validation",
      );
      const r = await i.as.admin1.call("POST", "/v1/sys/rotate-master");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const after = readFileSync(keyFile, "utf8");
      assert.notEqual(after, before);
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      assert.ok(!existsSync(`${keyFile}.next`));
      await decrypts(i, "files", ct, "file seal data");

      await i.restart();
      assert.equal(i.server.app.barrier.sealed, false, "unseals with the new key file");
      await decrypts(i, "files", ct, "file seal data");

      // Crash after the keyring committed but before the rename: the new key is still in .next.
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/rotate-master")).status, 200);
      const newest = readFileSync(keyFile, "utf8");
      writeFileSync(`${keyFile}.next`, newest, { mode: 0o600 });
      writeFileSync(keyFile, after, { mode: 0o600 });
      await i.restart();
      assert.equal(i.server.app.barrier.sealed, false);
      assert.equal(readFileSync(keyFile, "utf8"), newest);
      assert.ok(!existsSync(`${keyFile}.next`));
      // Crash before the keyring committed: .next holds a key that opens nothing and is discarded.
      writeFileSync(`${keyFile}.next`, randomBytes(32).toString("base64"), { mode: 0o600 });
      await i.restart();
      assert.equal(i.server.app.barrier.sealed, false);
      assert.ok(!existsSync(`${keyFile}.next`));
      await decrypts(i, "files", ct, "file seal data");
    } finally {
      await i.cleanup();
    }
  });

  test("passphrase seal: needs the current passphrase; afterwards only the new one unseals", async () => {
    const p1 = "correct horse battery staple";
    const p2 = "another long passphrase 2";
    const env: NodeJS.ProcessEnv = { STRONGROOM_PASSPHRASE: p1 };
    const i = await newInstance({ seal: "passphrase", passphrase: p1 }, env);
    try {
      const ct = await keyWithCiphertext(i, "pp", "passphrase data");
      const salt = sealSection(i).salt;
      const wrong = await i.as.admin1.call("POST", "/v1/sys/rotate-master", { passphrase: "not the passphrase", newPassphrase: p2 });
      assert.equal(wrong.body.error.code, "unseal_failed");
      assert.equal(
        (await i.as.admin1.call("POST", "/v1/sys/rotate-master", { passphrase: p1, newPassphrase: "short" })).body.error.code,
        "validation",
      );
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/rotate-master", { passphrase: p1 })).body.error.code, "validation");
      const ok = await i.as.admin1.call("POST", "/v1/sys/rotate-master", { passphrase: p1, newPassphrase: p2 });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.notEqual(sealSection(i).salt, salt);
      await decrypts(i, "pp", ct, "passphrase data");
      const events = await auditText(i);
      assert.ok(!events.includes(p1) && !events.includes(p2), "a passphrase leaked into the audit log");

      await i.restart(); // the environment still has the old passphrase: the server starts sealed
      assert.equal(i.server.app.barrier.sealed, true);
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/unseal", { passphrase: p1 })).body.error.code, "unseal_failed");
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/unseal", { passphrase: p2 })).body.sealed, false);
      await decrypts(i, "pp", ct, "passphrase data");
    } finally {
      await i.cleanup();
    }
  });
});

async function createKeys(i: Instance, n: number, prefix: string): Promise<void> {
  for (let start = 0; start < n; start += 8) {
    const batch = [];
    for (let k = start; k < Math.min(n, start + 8); k++)
      batch.push(i.as.admin1.call("POST", "/v1/keys", { name: `${prefix}${k}`, type: k % 50 === 0 ? "ec-p256" : "aes-256" }));
    for (const r of await Promise.all(batch)) assert.equal(r.status, 201);
  }
}

async function kekCounts(i: Instance): Promise<Record<string, number>> {
  const rows = await i.server.app.store.all<{ kek_id: number; n: number }>(
    "SELECT kek_id, COUNT(*) AS n FROM objects WHERE material IS NOT NULL GROUP BY kek_id",
  );
  return Object.fromEntries(rows.map((r) => [String(r.kek_id), Number(r.n)]));
}

async function caKek(i: Instance): Promise<number> {
  const row = await i.server.app.store.get<{ value: string }>("SELECT value FROM settings WHERE name = 'ca_key'");
  return JSON.parse(row?.value ?? "{}").kekId;
}

async function waitFor(i: Instance, pred: (p: any) => boolean, seen: any[] = []): Promise<any> {
  for (let n = 0; n < 400; n++) {
    const r = await i.as.admin1.call("GET", "/v1/sys/rotate-kek");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    seen.push(r.body);
    if (pred(r.body)) return r.body;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`rotation did not get there: ${JSON.stringify(seen.at(-1))}`);
}

describe("rotate-kek", () => {
  test("~200 keys: new writes use the new KEK at once, the background re-wrap reports progress and completes, the old KEK is dropped", async () => {
    const i = await newInstance();
    try {
      await createKeys(i, 200, "k");
      const ct = await keyWithCiphertext(i, "probe", "kek rotation");
      assert.deepEqual(await kekCounts(i), { "1": 201 });
      assert.equal((await i.as.app.call("POST", "/v1/sys/rotate-kek")).body.error.code, "forbidden");
      assert.equal((await i.as.admin1.call("GET", "/v1/sys/rotate-kek")).body.state, "idle");

      const job = i.server.app.operator.kek;
      job.dropGraceMs = 0;
      job.batchSize = 40;
      const r = await i.as.admin1.call("POST", "/v1/sys/rotate-kek");
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal(r.body.currentKek, 2);
      assert.equal(r.body.total, 202, "201 objects and the CA key");
      // A key created now is wrapped under KEK 2 straight away.
      assert.equal((await i.as.admin1.call("POST", "/v1/keys", { name: "after", type: "aes-256" })).status, 201);
      const after = await i.server.app.store.get<{ kek_id: number }>("SELECT kek_id FROM objects WHERE name = 'after'");
      assert.equal(after?.kek_id, 2);

      const seen: any[] = [];
      const end = await waitFor(i, (p) => p.state === "idle", seen);
      assert.deepEqual(end.keks, [2]);
      assert.equal(end.currentKek, 2);
      for (const p of seen) {
        assert.ok(p.done >= 0 && p.done <= p.total, JSON.stringify(p));
        if (p.state !== "idle") assert.equal(p.remaining, p.total - p.done);
      }
      assert.deepEqual({ total: end.total, done: end.done, remaining: end.remaining }, { total: 202, done: 202, remaining: 0 });
      assert.deepEqual(await kekCounts(i), { "2": 202 });
      assert.equal(await caKek(i), 2);
      await decrypts(i, "probe", ct, "kek rotation");
      assert.equal((await i.as.admin1.call("POST", "/v1/keys/k0/rotate")).status, 200);
      assert.match(await auditText(i), /sys\.rotate-kek\.finish/);

      // The CA key was re-wrapped too: after a restart (no cached CA key) certificates are still issued.
      await i.restart();
      assert.equal((await i.as.admin1.call("POST", "/v1/certs", { cn: "after-rotation", role: "client" })).status, 201);
      await decrypts(i, "probe", ct, "kek rotation");
      assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).body.ok, true);
    } finally {
      await i.cleanup();
    }
  });

  test("a crash in the middle: progress is what is left on the old KEK; the job resumes at the next unseal", async () => {
    const i = await newInstance({ seal: "shamir", shares: 3, threshold: 2 });
    try {
      const shares = i.init.unsealShares as string[];
      await unseal(i, shares.slice(0, 2));
      await createKeys(i, 150, "c");
      const ct = await keyWithCiphertext(i, "probe", "resumable");
      const job = i.server.app.operator.kek;
      job.batchSize = 25;
      job.stopAfterBatches = 2; // the process "dies" after two committed batches
      const r = await i.as.admin1.call("POST", "/v1/sys/rotate-kek");
      assert.equal(r.status, 202);
      const paused = await waitFor(i, (p) => p.state === "paused");
      assert.deepEqual({ total: paused.total, done: paused.done, remaining: paused.remaining }, { total: 152, done: 50, remaining: 102 });
      assert.deepEqual(await kekCounts(i), { "1": 101, "2": 50 });
      assert.deepEqual(paused.keks, [1, 2]);
      await decrypts(i, "probe", ct, "resumable"); // both KEKs are still in the keyring

      await i.restart();
      // Sealed: nothing moves (the KEKs are not readable).
      assert.deepEqual(await kekCounts(i), { "1": 101, "2": 50 });
      await unseal(i, [shares[2], shares[0]]);
      const end = await waitFor(i, (p) => p.state === "idle");
      assert.deepEqual(end.keks, [2]);
      assert.deepEqual(await kekCounts(i), { "2": 151 });
      assert.equal(await caKek(i), 2);
      await decrypts(i, "probe", ct, "resumable");
    } finally {
      await i.cleanup();
    }
  });
});

describe("seal", () => {
  test("an admin seals: key operations answer 503, cached material is dropped, and unseal works again", async () => {
    const i = await newInstance({ seal: "shamir", shares: 3, threshold: 2 });
    try {
      const shares = i.init.unsealShares as string[];
      await unseal(i, shares.slice(1));
      const ct = await keyWithCiphertext(i, "s", "sealed data");
      await decrypts(i, "s", ct, "sealed data");
      assert.ok(i.server.app.keys.cache.size > 0);
      for (const who of ["app", "auditor"] as const) assert.equal((await i.as[who].call("POST", "/v1/sys/seal")).status, 403);
      const r = await i.as.admin2.call("POST", "/v1/sys/seal");
      assert.deepEqual([r.status, r.body], [200, { sealed: true }]);
      assert.equal(i.server.app.barrier.sealed, true);
      assert.equal(i.server.app.keys.cache.size, 0);
      assert.equal((await i.as.app.call("GET", "/v1/sys/health")).body.sealed, true);
      for (const [m, p, b] of [
        ["POST", `/v1/keys/s/decrypt`, { ciphertext: ct }],
        ["GET", "/v1/keys", undefined],
        ["POST", "/v1/sys/seal", undefined],
        ["POST", "/v1/sys/rotate-kek", undefined],
      ] as const) {
        const x = await i.as.admin1.call(m, p, b);
        assert.equal(x.status, 503, `${m} ${p}`);
        assert.equal(x.body.error.code, "sealed");
      }
      await unseal(i, [shares[0], shares[2]]);
      await decrypts(i, "s", ct, "sealed data");
      const events = await auditText(i);
      assert.match(events, /sys\.seal/);
      assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).body.ok, true);
    } finally {
      await i.cleanup();
    }
  });
});

/** Runs the CLI against the instance with the admin1 bundle. */
function cli(i: Instance, args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const b = i.init.bundles.admin1;
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
    child.stdin.end(input);
  });
}

describe("strongroom operator (CLI)", () => {
  test("rekey, rotate-kek with progress, seal", async () => {
    const i = await newInstance({ seal: "shamir", shares: 3, threshold: 2 });
    try {
      const shares = i.init.unsealShares as string[];
      await unseal(i, shares.slice(0, 2));
      await createKeys(i, 40, "cli");
      i.server.app.operator.kek.dropGraceMs = 0;
      i.server.app.operator.kek.batchSize = 10;

      const init = await cli(i, ["operator", "rekey", "--init", "--shares", "2", "--threshold", "2", "--json"]);
      assert.equal(init.code, 0, init.stderr);
      assert.equal(JSON.parse(init.stdout).required, 2);
      const first = await cli(i, ["operator", "rekey"], `${shares[1]}\n`);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /rekey progress 1\/2/);
      const last = await cli(i, ["operator", "rekey"], `${shares[2]}\n`);
      assert.equal(last.code, 0, last.stderr);
      assert.match(last.stdout, /NEW UNSEAL SHARES/);
      const fresh = [...last.stdout.matchAll(/share \d: (srs1-\S+)/g)].map((m) => m[1]);
      assert.equal(fresh.length, 2);

      const rot = await cli(i, ["operator", "rotate-kek"]);
      assert.equal(rot.code, 0, rot.stderr);
      assert.match(rot.stdout, /current KEK:\s+2/);
      assert.match(rot.stdout, /100% (\d+)\/\1/);
      const st = await cli(i, ["operator", "rotate-kek", "--status", "--json"]);
      assert.equal(JSON.parse(st.stdout).currentKek, 2);

      const sealed = await cli(i, ["operator", "seal"]);
      assert.equal(sealed.code, 0, sealed.stderr);
      assert.equal(i.server.app.barrier.sealed, true);
      await unseal(i, fresh);
    } finally {
      await i.cleanup();
    }
  });
});
