// The strongroom CLI end to end: init, server, unseal, keys, certs and audit as child processes against a real server.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";

/** Tests run from dist/test: the repository root is two directories up. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "strongroom.js");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  raw: Buffer;
}

/** The environment without any STRONGROOM_* settings of the developer running the tests. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) env[k] = v;
  return { ...env, ...extra };
}

let dir = "";

/** Runs `strongroom …` to completion. */
function cli(args: string[], o: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv({ STRONGROOM_DIR: dir, ...o.env }) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      const raw = Buffer.concat(out);
      resolve({ code, stdout: raw.toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), raw });
    });
    child.stdin.end(o.input ?? "");
  });
}

/** Runs a command that must succeed; returns stdout. */
async function ok(args: string[], o?: { input?: string | Buffer; env?: Record<string, string> }): Promise<string> {
  const r = await cli(args, o);
  assert.equal(r.code, 0, `strongroom ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** A failing command prints exactly one line on stderr, `strongroom: …`, and no stack trace. */
function assertOneLineError(r: Result, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], /^strongroom: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

/** A port that was free a moment ago (port 0 cannot be printed in profiles). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts `strongroom server` and waits for its listening line. */
function startServer(): Promise<{ child: ChildProcess; line: { event: string; api: string; sealed: boolean }; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "server", "--dir", dir], { cwd: ROOT, env: cleanEnv({}) });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not start:\n${stderr}`));
    }, 15_000);
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString();
      const nl = stdout.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve({ child, line: JSON.parse(stdout.slice(0, nl)), stderr: () => stderr });
      } catch (e) {
        reject(e);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
}

describe("strongroom CLI", () => {
  let server: ChildProcess | null = null;
  let serverStderr = () => "";
  let serverLine: Record<string, unknown> = {};
  let port = 0;
  let shares: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "strongroom-cli-"));
    port = await freePort();
    const init = JSON.parse(
      await ok([
        "init",
        "--dir",
        dir,
        "--seal",
        "shamir",
        "--shares",
        "3",
        "--threshold",
        "2",
        "--api-port",
        String(port),
        "--kmip-port",
        "0",
        "--listen",
        "127.0.0.1",
        // This suite is about the CLI, not dual control (test/governance.test.ts): opt out of the production defaults.
        "--no-dual-control",
        "--default-policy",
        "any-authenticated",
        "--json",
      ]),
    );
    assert.deepEqual(init.governance, { profile: "production", dualControl: false, defaultPolicy: "any-authenticated" });
    assert.equal(init.api, `https://localhost:${port}`);
    assert.deepEqual(Object.keys(init.bundles).sort(), ["admin1", "admin2", "app", "auditor"]);
    shares = init.unsealShares;
    assert.equal(shares.length, 3);
    const s = await startServer();
    server = s.child;
    serverStderr = s.stderr;
    serverLine = s.line;
    assert.equal(s.line.event, "listening");
    assert.equal(s.line.sealed, true);
    assert.match(s.line.api, new RegExp(`^https://127\\.0\\.0\\.1:${port}$`));
  });

  after(async () => {
    try {
      if (server && server.exitCode === null) {
        const exited = new Promise<number | null>((r) => server?.once("exit", (code) => r(code)));
        server.kill("SIGTERM");
        const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 5000).unref())]);
        if (code === "timeout") server.kill("SIGKILL");
        assert.equal(code, 0, `server did not stop cleanly:\n${serverStderr()}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("help and usage errors", async () => {
    assert.match(await ok(["--help"]), /Usage: strongroom <command>/);
    assert.match(await ok(["keys", "create", "--help"]), /--type T/);
    assertOneLineError(await cli(["keys", "list", "--bogus"]), /unknown option --bogus/);
    assertOneLineError(await cli(["frobnicate"]), /unknown command 'frobnicate'/);
    assertOneLineError(await cli(["keys", "show"]), /needs NAME/);
  });

  test("the listening line reports the KMIP port, and nothing secret is logged", () => {
    assert.equal(typeof serverLine.kmipPort, "number");
    assert.ok((serverLine.kmipPort as number) > 0);
    assert.doesNotMatch(serverStderr(), /srs1-/);
  });

  test("unseal with two of three shares: one as an argument, one on standard input", async () => {
    assert.equal((await ok(["unseal", shares[0]])).trim(), "unseal progress 1/2");
    assertOneLineError(
      await cli(["unseal"], { input: `${shares[0]}\n` }),
      /already submitted \(code duplicate_share, request [0-9a-f-]+\)/,
    );
    assert.equal((await ok(["unseal"], { input: `${shares[2]}\n` })).trim(), "unsealed");
    const status = JSON.parse(await ok(["status", "--json"]));
    assert.equal(status.seal.sealed, false);
    assert.equal(status.identity.cn, "admin1");
  });

  test("keys: create, list, encrypt/decrypt round trip, rotate", async () => {
    const created = JSON.parse(
      await ok(["keys", "create", "orders", "--type", "aes-256", "--period-days", "90", "--description", "order db", "--json"]),
    );
    assert.equal(created.name, "orders");
    assert.equal(created.currentVersion, 1);
    assert.deepEqual(created.rotation, { mode: "auto", periodDays: 90 });

    const human = await ok(["keys", "show", "orders"]);
    assert.match(human, /^name: +orders$/m);
    assert.match(human, /^VERSION +ID +STATE/m);

    const list = JSON.parse(await ok(["keys", "list", "--json"]));
    assert.deepEqual(
      list.keys.map((k: { name: string }) => k.name),
      ["orders"],
    );
    assert.equal(list.next, null);
    assert.match(await ok(["keys", "list"]), /^NAME +TYPE +STATE +VERSION/);

    // Admins never use keys: the app profile encrypts.
    const ct = (await ok(["--profile", "app", "keys", "encrypt", "orders", "--plaintext", "card 4111", "--context", "order-1"])).trim();
    assert.match(ct, /^[A-Za-z0-9+/]+=*$/);
    const pt = await cli(["keys", "decrypt", "orders", "--profile", "app", "--context", "order-1"], { input: `${ct}\n` });
    assert.equal(pt.code, 0, pt.stderr);
    assert.equal(pt.raw.toString("utf8"), "card 4111");
    assertOneLineError(await cli(["keys", "decrypt", "orders", "--profile", "app", "--ciphertext", ct]), /code decrypt_failed/);

    // Binary data through standard input and --out.
    const bin = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);
    const ct2 = (await ok(["keys", "encrypt", "orders", "--profile", "app"], { input: bin })).trim();
    const out = join(dir, "plain.bin");
    await ok(["keys", "decrypt", "orders", "--profile", "app", "--ciphertext", ct2, "--out", out]);
    assert.deepEqual(readFileSync(out), bin);
    assert.equal(statSync(out).mode & 0o777, 0o600);

    const rotated = JSON.parse(await ok(["keys", "rotate", "orders", "--json"]));
    assert.equal(rotated.currentVersion, 2);
    const enc2 = JSON.parse(await ok(["keys", "encrypt", "orders", "--profile", "app", "--plaintext", "v2", "--json"]));
    assert.equal(enc2.version, 2);
    // The old ciphertext still decrypts after rotation.
    const again = await cli(["keys", "decrypt", "orders", "--profile", "app", "--context", "order-1", "--ciphertext", ct]);
    assert.equal(again.raw.toString("utf8"), "card 4111");
  });

  test("certs issue --out writes a working bundle with private files at mode 0600", async () => {
    const out = join(dir, "alice");
    const r = JSON.parse(await ok(["certs", "issue", "--cn", "alice", "--ou", "apps", "--role", "client", "--out", out, "--json"]));
    assert.equal(r.role, "client");
    assert.doesNotMatch(JSON.stringify(r), /PRIVATE KEY/);
    for (const [f, mode] of [
      ["cert.pem", 0o644],
      ["ca.pem", 0o644],
      ["key.pem", 0o600],
      ["bundle.p12", 0o600],
      ["bundle.p12.password", 0o600],
    ] as const) {
      assert.equal(statSync(join(out, f)).mode & 0o777, mode, f);
    }
    const status = JSON.parse(
      await ok(["status", "--json"], {
        env: {
          STRONGROOM_CERT: join(out, "cert.pem"),
          STRONGROOM_KEY: join(out, "key.pem"),
          STRONGROOM_CA: join(out, "ca.pem"),
          STRONGROOM_ADDR: `https://localhost:${port}`,
        },
      }),
    );
    assert.deepEqual(status.identity, { cn: "alice", ou: "apps", role: "client" });
    const certs = JSON.parse(await ok(["certs", "list", "--json"]));
    assert.ok(certs.certificates.some((c: { cn: string; status: string }) => c.cn === "alice" && c.status === "valid"));
  });

  test("audit: the auditor verifies the chain and queries events", async () => {
    assert.match((await ok(["audit", "verify", "--profile", "auditor"])).trim(), /^audit chain intact: \d+ events$/);
    const q = JSON.parse(await ok(["--profile", "auditor", "audit", "query", "--key-name", "orders", "--action", "key.create", "--json"]));
    assert.equal(q.events.length, 1);
    assert.equal(q.events[0].actor.cn, "admin1");
    assert.match(
      await ok(["audit", "query", "--profile", "auditor", "--limit", "3"]),
      /^SEQ +TIME +ACTOR +ROLE +ACTION +KEY\/VERSION +OUTCOME +REASON/,
    );
    assertOneLineError(await cli(["audit", "verify"]), /role admin may not verify the audit log \(code forbidden, request /);

    // An edited event breaks the chain: verify says where and exits 1.
    const db = new Database(join(dir, "data", "strongroom.db"));
    try {
      db.pragma("busy_timeout = 5000");
      const row = db.prepare("SELECT actor_cn FROM events WHERE seq = 3").get() as { actor_cn: string | null };
      db.prepare("UPDATE events SET actor_cn = 'someone-else' WHERE seq = 3").run();
      const broken = await cli(["audit", "verify", "--profile", "auditor"]);
      assert.equal(broken.code, 1);
      assert.match(
        broken.stdout,
        /^audit chain BROKEN at seq 3: 1 broken range in \d+ events\nSEQ +PROBLEM\n3 +altered \(does not match its MAC\)\n$/,
      );
      const json = JSON.parse((await cli(["audit", "verify", "--profile", "auditor", "--json"])).stdout);
      assert.deepEqual(
        { ok: json.ok, firstBroken: json.firstBroken, broken: json.broken },
        { ok: false, firstBroken: 3, broken: [{ from: 3, to: 3, kind: "altered" }] },
      );
      db.prepare("UPDATE events SET actor_cn = ? WHERE seq = 3").run(row.actor_cn);
    } finally {
      db.close();
    }
    assert.match((await ok(["audit", "verify", "--profile", "auditor"])).trim(), /^audit chain intact/);
  });

  test("errors: one stderr line with code and request id, exit status 1, no stack trace", async () => {
    assertOneLineError(
      await cli(["keys", "show", "no-such-key"]),
      /^strongroom: key 'no-such-key' not found \(code key_not_found, request [0-9a-f-]{36}\)$/,
    );
    assertOneLineError(await cli(["keys", "show", "x", "--profile", "nobody"]), /no profile 'nobody'/);
    assertOneLineError(await cli(["status", "--addr", "https://127.0.0.1:1"]), /cannot reach https:\/\/127\.0\.0\.1:1: connection refused/);
    const noDir = await cli(["status"], { env: { STRONGROOM_DIR: join(dir, "missing") } });
    assertOneLineError(noDir, /no profiles file/);
  });
});
