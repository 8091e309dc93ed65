// The server log (pino): the lifecycle lines a sysadmin looks for, redaction of secrets, the instance lock, clear start-up failures.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { ConfigError } from "../src/config/config.js";
import { StrongroomError } from "../src/errors/registry.js";
import { type InitResult, initInstance } from "../src/init.js";
import { LOCK_FILE } from "../src/instance-lock.js";
import { createLogger, type Logger, type LoggerOptions, REDACTED } from "../src/logger.js";
import { type RunningServer, startServer } from "../src/server.js";
import { SqliteStore } from "../src/store/sqlite.js";
import { type Client, client } from "./helpers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "strongroom.js");

type Line = Record<string, any>;

/** A logger writing into memory, and its lines parsed (every line must be one JSON object). */
function capture(o: LoggerOptions = {}): { log: Logger; text: () => string; lines: () => Line[]; find: (msg: string) => Line[] } {
  let text = "";
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const log = createLogger(sink, o);
  const lines = () =>
    text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);
  return { log, text: () => text, lines, find: (msg) => lines().filter((l) => l.msg === msg) };
}

/** The environment without any STRONGROOM_* settings of the developer running the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) env[k] = v;
  return env;
}

function run(args: string[], cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: cleanEnv() });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A pid that belonged to a process a moment ago and no longer does. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid as number;
  await new Promise((r) => child.once("exit", r));
  return pid;
}

function occupy(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

const start = (dir: string, log: Logger, ports: { apiPort?: number; kmipPort?: number } = {}) =>
  startServer({ dir, address: "127.0.0.1", apiPort: 0, kmipPort: 0, ...ports, env: {}, log });

describe("server log", () => {
  let dir = "";
  let init: InitResult;
  let shares: string[] = [];
  const bundle = (name: string) => {
    const b = init.bundles[name];
    return { cert: readFileSync(b.cert, "utf8"), key: readFileSync(b.key, "utf8"), ca: readFileSync(b.ca, "utf8") };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "strongroom-log-"));
    init = await initInstance({
      dir,
      seal: "shamir",
      shares: 3,
      threshold: 2,
      hosts: ["localhost", "127.0.0.1"],
      apiPort: 0,
      kmipPort: 0,
      timeZone: "UTC",
      profile: "development",
    });
    shares = init.unsealShares as string[];
    assert.equal(shares.length, 3);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("lifecycle: lock, config, schema, listeners, waiting for unseal, share progress, unseal, seal, close — never a share", async () => {
    const c = capture();
    const server = await start(dir, c.log);
    let admin: Client | undefined;
    try {
      const lock = c.find("instance locked")[0];
      assert.equal(lock.lock, join(dir, LOCK_FILE));
      assert.equal(lock.pid, process.pid);
      assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid, process.pid);
      assert.equal(c.find("config loaded")[0].path, join(dir, "strongroom.yaml"));
      const schema = c.find("database schema current")[0];
      assert.ok(schema.schemaVersion >= 1, JSON.stringify(schema));
      assert.deepEqual(schema.applied, []);
      const listening = c.find("listening");
      assert.deepEqual(
        listening.map((l) => [l.listener, l.address, l.port]),
        [
          ["https", "127.0.0.1", server.apiPort],
          ["kmip", "127.0.0.1", server.kmipPort],
        ],
      );
      const waiting = c.find("sealed: waiting for unseal")[0];
      assert.equal(waiting.seal, "shamir");
      assert.equal(waiting.sharesNeeded, 2);
      assert.equal(waiting.sharesSubmitted, 0);
      // Lines are JSON with a level word and an ISO time; the order is the order things happened.
      const msgs = c.lines().map((l) => l.msg);
      const at = (m: string) => msgs.indexOf(m);
      assert.ok(at("config loaded") < at("database schema current"), msgs.join(" | "));
      assert.ok(at("database schema current") < at("instance locked") && at("instance locked") < at("listening"), msgs.join(" | "));
      assert.ok(at("listening") < at("sealed: waiting for unseal"), msgs.join(" | "));
      // One field of each name per line (a field named like pino's own would be written twice).
      for (const raw of c.text().split("\n").filter(Boolean)) assert.equal(raw.match(/"pid":/g)?.length, 1, raw);
      for (const l of c.lines()) {
        assert.match(l.level, /^(info|warn)$/);
        assert.match(l.time, /^\d{4}-\d\d-\d\dT/);
      }

      admin = client(`https://localhost:${server.apiPort}`, bundle("admin1"));
      assert.equal((await admin.call("POST", "/v1/sys/unseal", { share: shares[0] })).status, 200);
      const progress = c.find("unseal share accepted: waiting for more")[0];
      assert.deepEqual([progress.seal, progress.sharesSubmitted, progress.sharesNeeded], ["shamir", 1, 2]);
      assert.ok(progress.cn, "who submitted");
      assert.equal((await admin.call("POST", "/v1/sys/unseal", { share: shares[0] })).status, 409);
      assert.equal(c.find("unseal attempt refused")[0].code, "duplicate_share");
      const done = await admin.call("POST", "/v1/sys/unseal", { share: shares[2] });
      assert.equal(done.body.sealed, false);
      const unsealed = c.find("unsealed")[0];
      assert.deepEqual(
        [unsealed.seal, unsealed.sharesSubmitted, unsealed.sharesNeeded, unsealed.sharesIssued],
        ["shamir", 2, 2, 3],
        JSON.stringify(unsealed),
      );
      assert.equal((await admin.call("POST", "/v1/sys/seal")).status, 200);
      const sealed = c.find("sealed by an operator")[0];
      assert.equal(sealed.seal, "shamir");
      assert.ok(sealed.cn);
    } finally {
      admin?.close();
      await server.close();
    }
    assert.equal(c.find("server closed").length, 1);
    assert.equal(existsSync(join(dir, LOCK_FILE)), false, "the lock is released at shutdown");
    // No share, nor any recognisable part of one, ever reaches the log.
    for (const s of shares) {
      assert.ok(!c.text().includes(s));
      assert.ok(!c.text().includes(s.slice(-16)));
    }
  });

  test("a new database gets its migrations applied and says which (the server logs the same result at start)", async () => {
    const d = mkdtempSync(join(tmpdir(), "strongroom-migrate-"));
    const store = new SqliteStore(join(d, "x.db"));
    try {
      const first = await store.migrate();
      assert.ok(first.applied.length >= 1);
      assert.deepEqual(
        first.applied,
        Array.from({ length: first.version }, (_, n) => n + 1),
      );
      assert.deepEqual((await store.migrate()).applied, []);
    } finally {
      await store.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  test("secret-shaped fields are redacted at any depth the server logs, also inside requests and headers", async () => {
    const c = capture({ level: "debug" });
    const secrets = {
      material: "S-material-1",
      plaintext: "S-plaintext-2",
      share: "S-share-3",
      passphrase: "S-passphrase-4",
      key: "S-key-5",
      privateKey: "S-private-6",
      pin: "S-pin-7",
      password: "S-password-8",
    };
    c.log.error("forced", {
      ...secrets,
      shares: ["S-shares-9", "S-shares-10"],
      request: {
        headers: { authorization: "Bearer S-auth-11", cookie: "sid=S-cookie-12", "set-cookie": "S-setcookie-13", host: "h" },
        body: { material: "S-deep-14", items: [{ plaintext: "S-item-15" }] },
      },
      name: "payroll",
    });
    c.log.debug("forced deeper", { a: { b: { c: { passphrase: "S-deep-16" } } } });
    const text = c.text();
    assert.doesNotMatch(text, /S-[a-z]+-\d+/, text);
    const [l, deep] = c.lines();
    for (const k of Object.keys(secrets)) assert.equal(l[k], REDACTED, k);
    assert.equal(l.shares, REDACTED);
    assert.equal(l.request.headers.authorization, REDACTED);
    assert.equal(l.request.headers.cookie, REDACTED);
    assert.equal(l.request.headers["set-cookie"], REDACTED);
    assert.equal(l.request.headers.host, "h", "other fields stay");
    assert.equal(l.request.body.material, REDACTED);
    assert.equal(l.request.body.items[0].plaintext, REDACTED);
    assert.equal(l.name, "payroll");
    assert.equal(deep.a.b.c.passphrase, REDACTED);

    // Through the server: a wrong passphrase on a Shamir instance is refused and logged without the passphrase.
    const s = capture();
    const server = await start(dir, s.log);
    const admin = client(`https://localhost:${server.apiPort}`, bundle("admin1"));
    try {
      const r = await admin.call("POST", "/v1/sys/unseal", { passphrase: "S-request-passphrase-17" });
      assert.equal(r.status, 400);
      assert.equal(s.find("unseal attempt refused")[0].code, "bad_request");
    } finally {
      admin.close();
      await server.close();
    }
    assert.doesNotMatch(s.text(), /S-request-passphrase/);
  });

  test("a second server on the same instance directory is refused at once with the lock file, before anything else", async () => {
    const first = capture();
    const server = await start(dir, first.log);
    try {
      const second = capture();
      const t0 = Date.now();
      await assert.rejects(start(dir, second.log), (e: Error) => {
        assert.ok(e instanceof StrongroomError && e.code === "instance_locked", `${e.name}: ${e.message}`);
        assert.ok(e.message.includes(join(dir, LOCK_FILE)), e.message);
        assert.ok(e.message.includes(`pid ${process.pid}`), e.message);
        return true;
      });
      assert.ok(Date.now() - t0 < 2000, "refused at once");
      const fatal = second.find("server did not start")[0];
      assert.equal(fatal.level, "fatal");
      assert.equal(fatal.code, "instance_locked");
      assert.match(fatal.reason, /in use by another Strongroom server/);
      // Nothing was opened: no config, no listener, no "waiting for unseal".
      assert.deepEqual(
        second.lines().map((l) => l.msg),
        ["server did not start"],
      );

      // The CLI says the same, in words and (with --json) by code, with the fatal line in its log on stderr.
      const cli = await run([BIN, "server", "--dir", dir, "--json", "--log-level", "debug"]);
      assert.equal(cli.code, 1, cli.stderr);
      assert.equal(JSON.parse(cli.stdout).error.code, "instance_locked");
      const stderr = cli.stderr.trim().split("\n");
      assert.match(stderr[stderr.length - 1], /^strongroom: the instance directory .* is in use by another Strongroom server/);
      const logged = stderr.slice(0, -1).map((l) => JSON.parse(l));
      assert.deepEqual(
        logged.map((l) => [l.level, l.msg, l.code]),
        [["fatal", "server did not start", "instance_locked"]],
      );
      assert.doesNotMatch(cli.stderr, /waiting for unseal/);
      // The first server is untouched and still holds the lock.
      assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid, process.pid);
    } finally {
      await server.close();
    }
  });

  test("a stale lock (its process is gone, or it names this pid without this process holding it) is replaced", async () => {
    for (const pid of [await deadPid(), process.pid]) {
      writeFileSync(join(dir, LOCK_FILE), `${JSON.stringify({ pid, hostname: hostname(), startedAt: "x" })}\n`);
      const c = capture();
      const server = await start(dir, c.log);
      try {
        const replaced = c.find("stale lock file replaced: its server is gone")[0];
        assert.equal(replaced.stalePid, pid);
        assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid, process.pid);
      } finally {
        await server.close();
      }
      assert.equal(existsSync(join(dir, LOCK_FILE)), false);
    }
  });

  test("a port in use stops the start with a message naming the address, port and setting; nothing is left held", async () => {
    const busy = await occupy();
    try {
      for (const which of ["apiPort", "kmipPort"] as const) {
        const c = capture();
        await assert.rejects(start(dir, c.log, { [which]: busy.port }), (e: Error) => {
          assert.ok(e instanceof StrongroomError && e.code === "port_in_use", `${e.name}: ${e.message}`);
          assert.ok(e.message.includes(`127.0.0.1:${busy.port}`), e.message);
          assert.match(
            e.message,
            which === "apiPort" ? /HTTPS API listener.*listen\.apiPort or --api-port/ : /KMIP listener.*listen\.kmipPort/,
          );
          return true;
        });
        const fatal = c.find("server did not start")[0];
        assert.deepEqual([fatal.level, fatal.code], ["fatal", "port_in_use"]);
        assert.match(fatal.reason, new RegExp(`127\\.0\\.0\\.1:${busy.port}.*in use`));
        assert.equal(c.find("sealed: waiting for unseal").length, 0);
        assert.equal(existsSync(join(dir, LOCK_FILE)), false, "the lock is released after a failed start");
      }
    } finally {
      busy.server.close();
    }
    // Everything was undone: the next start on free ports works.
    const ok: RunningServer = await start(dir, createLogger(null));
    await ok.close();
  });

  test("log.level in strongroom.yaml sets the level, --log-level wins; an unknown level is refused", async () => {
    const file = join(dir, "strongroom.yaml");
    const original = readFileSync(file, "utf8");
    try {
      const doc = YAML.parse(original);
      doc.log = { level: "warn" };
      writeFileSync(file, YAML.stringify(doc));
      const quiet = capture();
      const s1 = await start(dir, quiet.log);
      await s1.close();
      assert.equal(quiet.log.level, "warn");
      assert.deepEqual(
        quiet.lines().filter((l) => l.level === "info"),
        [],
      );
      // A level given when the logger is made (the command line) wins over the file.
      const loud = capture({ level: "debug" });
      const s2 = await start(dir, loud.log);
      await s2.close();
      assert.equal(loud.log.level, "debug");
      assert.equal(loud.find("config loaded").length, 1);

      doc.log = { level: "loud" };
      writeFileSync(file, YAML.stringify(doc));
      await assert.rejects(start(dir, createLogger(null)), (e: Error) => {
        assert.ok(e instanceof ConfigError, e.message);
        assert.match(e.message, /log\.level must be one of fatal, error, warn, info, debug, trace, silent, not 'loud'/);
        return true;
      });
    } finally {
      writeFileSync(file, original);
    }
    const bad = await run([BIN, "server", "--dir", dir, "--log-level", "loud"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--log-level must be one of fatal, error, warn, info, debug, trace, silent/);
    const devStart = join(ROOT, "dist", "src", "cli", "dev-start.js");
    const cwd = mkdtempSync(join(tmpdir(), "strongroom-devargs-"));
    try {
      const unknown = await run([devStart, "--bogus"], cwd);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /--bogus.*npm start takes only -- --log-level/);
      const wrong = await run([devStart, "--log-level", "loud"], cwd);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /--log-level must be one of/);
      assert.equal(existsSync(join(cwd, ".strongroom")), false, "refused before creating anything");
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
