// CLI smoke test: every command that `strongroom --help` (and each group's help) lists runs at least once against a real server, with a zero exit or a documented error code.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CLI_ERROR_CODES } from "../src/cli/http-client.js";
import { ERRORS } from "../src/errors/registry.js";
import { type Instance, newInstance } from "./helpers.js";

/** Tests run from dist/test: the repository root is two directories up. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "strongroom.js");
const GROUP_WORDS = new Set(["keys", "certs", "approvals", "governance", "audit", "report", "operator"]);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The command words a run exercised (`keys create`, `status`), from arguments that start with them. */
const exercised = new Set<string>();

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) env[k] = v;
  return { ...env, ...extra };
}

let baseEnv: Record<string, string> = {};

/** Runs `strongroom ARGS` (command words first) to completion and records the command as exercised. */
function cli(args: string[], o: { input?: string; env?: Record<string, string> } = {}): Promise<Result> {
  exercised.add(GROUP_WORDS.has(args[0]) ? `${args[0]} ${args[1]}` : args[0]);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv({ ...baseEnv, ...o.env }) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(o.input ?? "");
  });
}

/** A command that must succeed; returns its parsed --json output (or stdout when `raw`). */
async function ok(args: string[], o: { input?: string; env?: Record<string, string>; raw?: boolean } = {}): Promise<any> {
  const r = await cli(o.raw ? args : [...args, "--json"], o);
  assert.equal(r.code, 0, `strongroom ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return o.raw ? r.stdout : JSON.parse(r.stdout);
}

const DOCUMENTED = new Set([...Object.keys(CLI_ERROR_CODES), ...Object.keys(ERRORS), "approval_required"]);

/** A command that must fail with `code` (a documented one) and exit status `exit`; returns the error object. */
async function fails(
  args: string[],
  code: string,
  o: { input?: string; env?: Record<string, string>; exit?: number } = {},
): Promise<{ code: string; message: string; approval?: { id: string } }> {
  assert.ok(DOCUMENTED.has(code), `${code} is not a documented error code`);
  const r = await cli([...args, "--json"], o);
  assert.equal(r.code, o.exit ?? 1, `strongroom ${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
  const e = JSON.parse(r.stdout).error;
  assert.equal(e.code, code, `strongroom ${args.join(" ")}: ${r.stdout}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  return e;
}

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

/** Command paths from a help text's "Commands:" section (`keys create NAME  Create…` → `keys create`). */
function listed(help: string, prefix = ""): string[] {
  const start = help.indexOf("\nCommands:\n");
  assert.ok(start >= 0, help);
  const out: string[] = [];
  for (const line of help.slice(start + 11).split("\n")) {
    if (!line.startsWith("  ")) break;
    const words = line
      .trim()
      .split(/\s{2,}/)[0]
      .split(" ")
      .filter((w) => /^[a-z][a-z-]*$/.test(w));
    out.push(`${prefix}${words.join(" ")}`);
  }
  return out;
}

describe("strongroom CLI smoke test: every listed command", { timeout: 120_000 }, () => {
  let i: Instance;
  let shares: string[] = [];
  const work = mkdtempSync(join(tmpdir(), "strongroom-smoke-"));
  let server: ChildProcess | null = null;

  before(async () => {
    // Shamir seal so that unseal, rekey and seal really run; the development defaults (dual control off at first).
    i = await newInstance({ seal: "shamir", shares: 3, threshold: 2 });
    shares = i.init.unsealShares ?? [];
    baseEnv = { STRONGROOM_DIR: i.dir, STRONGROOM_ADDR: i.url };
  });
  after(async () => {
    if (server && server.exitCode === null) server.kill("SIGKILL");
    await i.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test("seal state, unseal, keys, certs, governance and approvals, audit, report, operator", async () => {
    assert.equal((await ok(["status"])).sealed, true);
    assert.equal((await ok(["unseal", shares[0]])).progress, 1);
    assert.equal((await ok(["unseal"], { input: `${shares[1]}\n` })).sealed, false);
    assert.equal((await ok(["status"])).identity.cn, "admin1");

    // keys
    // Independent commands run side by side (each run is a Node process start): the file stays well under a minute.
    await ok(["keys", "create", "smoke", "--type", "aes-256"]);
    const [list] = await Promise.all([ok(["keys", "list"]), ok(["keys", "update", "smoke", "--description", "smoke test"])]);
    assert.ok(list.keys.some((k: { name: string }) => k.name === "smoke"));
    assert.equal((await ok(["keys", "rotate", "smoke"])).currentVersion, 2);
    const app = { env: { STRONGROOM_PROFILE: "app" } };
    const ct = (await ok(["keys", "encrypt", "smoke", "--plaintext", "hello"], app)).ciphertext;
    const pt = await cli(["keys", "decrypt", "smoke", "--ciphertext", ct], app);
    assert.equal(pt.code, 0, pt.stderr);
    assert.equal(pt.stdout, "hello");
    const wk = join(work, "wrapping.pem");
    const [material, shown] = await Promise.all([
      ok(["keys", "material", "smoke"], app),
      ok(["keys", "show", "smoke"]),
      ok(["keys", "wrapping-key", "--out", wk]),
      ok(["keys", "usage", "smoke"]),
      ok(["report", "keys"]),
      // Destructive commands on a missing key: refused with key_not_found.
      fails(["keys", "revoke", "no-such-key", "--reason", "superseded"], "key_not_found"),
      fails(["keys", "delete", "no-such-key"], "key_not_found"),
      fails(["keys", "cancel-deletion", "no-such-key"], "key_not_found"),
    ]);
    assert.equal(material.version, 2);
    assert.equal(shown.description, "smoke test");

    // certs: issue with --save-profile, then the new profile connects as the new certificate
    const out = join(work, "svc");
    const issued = await ok(["certs", "issue", "--cn", "svc", "--ou", "apps", "--role", "client", "--out", out, "--save-profile", "svc"]);
    assert.equal(issued.profile, "svc");
    assert.equal(statSync(join(i.dir, "profiles.json")).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(join(i.dir, "profiles.json"), "utf8")).profiles.svc;
    assert.deepEqual(saved, { addr: i.url, cert: join(out, "cert.pem"), key: join(out, "key.pem"), ca: join(out, "ca.pem") });
    const [svc, certs] = await Promise.all([
      ok(["status", "--profile", "svc"], { env: { STRONGROOM_ADDR: "" } }),
      ok(["certs", "list"]),
      fails(
        ["certs", "issue", "--cn", "svc2", "--role", "client", "--out", join(work, "svc2"), "--save-profile", "svc"],
        "profile_invalid",
      ),
      fails(["certs", "revoke", "00ff00ff"], "cert_not_found"),
    ]);
    assert.deepEqual(svc.identity, { cn: "svc", ou: "apps", role: "client" });
    assert.ok(certs.certificates.some((c: { cn: string }) => c.cn === "svc"));
    await ok(["certs", "revoke", issued.serial]);

    // governance and approvals
    assert.equal((await ok(["governance", "show"])).dualControl, false);
    assert.equal((await ok(["governance", "set", "--dual-control", "on"])).dualControl, true);
    const pending = await fails(["governance", "set", "--approval-window-minutes", "30"], "approval_required", { exit: 3 });
    const admin2 = { env: { STRONGROOM_PROFILE: "admin2" } };
    const listed2 = (await ok(["approvals", "list"], admin2)).approvals as { id: string; digest: string }[];
    const a = listed2.find((x) => x.id === pending.approval?.id);
    assert.ok(a);
    assert.equal((await ok(["approvals", "approve", a.id, "--digest", a.digest], admin2)).status, "executed");
    assert.equal((await ok(["governance", "show"])).approvalWindowMinutes, 30);
    const del = await fails(["keys", "delete", "smoke"], "approval_required", { exit: 3 });
    assert.equal((await ok(["approvals", "deny", del.approval?.id ?? ""], admin2)).status, "denied");
    await ok(["approvals", "window", "--minutes", "5"], admin2);
    // In admin2's window admin1's protected operations execute directly: a wrapped export (only under dual control) and its import.
    const blob = join(work, "smoke.wrapped");
    await ok(["keys", "export", "smoke", "--public-key", wk, "--out", blob]);
    assert.equal((await ok(["keys", "import", "smoke-copy", "--type", "aes-256", "--wrapped", blob])).name, "smoke-copy");
    assert.equal((await ok(["governance", "set", "--dual-control", "off"])).dualControl, false);
    await ok(["keys", "delete", "smoke-copy"]);
    await Promise.all([
      ok(["keys", "cancel-deletion", "smoke-copy"]),
      ok(["keys", "revoke", "smoke", "--reason", "superseded", "--version", "1"]),
    ]);

    // audit (auditor)
    const auditor = { env: { STRONGROOM_PROFILE: "auditor" } };
    const [q, verified] = await Promise.all([
      ok(["audit", "query", "--key-name", "smoke", "--action", "key.create"], auditor),
      ok(["audit", "verify"], auditor),
    ]);
    assert.equal(q.events.length, 1);
    assert.equal(verified.ok, true);

    // operator: rotate-kek, rekey, seal; an old share afterwards is named as superseded
    const [kek] = await Promise.all([ok(["operator", "rotate-kek"]), fails(["operator", "rotate-master"], "usage")]); // shamir: rekey instead
    assert.equal(kek.remaining, 0);
    const nonce = (await ok(["operator", "rekey", "--init", "--shares", "2", "--threshold", "2"])).nonce;
    assert.match(nonce, /^[0-9a-f]{32}$/);
    await ok(["operator", "rekey", shares[0]]);
    const fresh = (await ok(["operator", "rekey", shares[2]])).newShares as string[];
    assert.equal(fresh.length, 2);
    assert.equal((await ok(["operator", "seal"])).sealed, true);
    const old = await fails(["unseal", shares[1]], "superseded_share");
    assert.match(old.message, /earlier share set/);
    await ok(["unseal", fresh[0]]);
    assert.equal((await ok(["unseal", fresh[1]])).sealed, false);
  });

  test("init (prints the KMIP address) and server, with rotate-master on its file seal; the KMIP port named as such", async () => {
    const dir = join(work, "inst");
    const port = await freePort();
    const kmipPort = await freePort();
    const text = await ok(
      [
        "init",
        "--dir",
        dir,
        "--seal",
        "file",
        "--api-port",
        String(port),
        "--kmip-port",
        String(kmipPort),
        "--listen",
        "127.0.0.1",
        "--no-dual-control",
      ],
      { raw: true },
    );
    assert.match(text, new RegExp(`^api: +https://localhost:${port} `, "m"));
    assert.match(text, new RegExp(`^kmip: +localhost:${kmipPort} +\\(KMIP over TLS`, "m"));

    exercised.add("server");
    server = spawn(process.execPath, [BIN, "server", "--dir", dir], { cwd: ROOT, env: cleanEnv({}) });
    const child = server;
    const line = await new Promise<{ event: string; kmipPort: number }>((resolve, reject) => {
      let buf = "";
      let err = "";
      const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 20_000);
      child.stderr?.on("data", (c: Buffer) => {
        err += c.toString();
      });
      child.stdout?.on("data", (c: Buffer) => {
        buf += c.toString();
        if (!buf.includes("\n")) return;
        clearTimeout(timer);
        resolve(JSON.parse(buf.slice(0, buf.indexOf("\n"))));
      });
      child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${err}`)));
    });
    assert.equal(line.event, "listening");
    const env = { STRONGROOM_DIR: dir, STRONGROOM_ADDR: "" };
    assert.equal((await ok(["operator", "rotate-master"], { env })).rotated, true);
    const e = await fails(["status", "--addr", `https://localhost:${line.kmipPort}`], "wrong_port", { env });
    assert.match(e.message, /KMIP port \(5696 by default\).*REST API is on 8443 by default/);
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  });

  test("every command in strongroom --help and in each group's help was exercised", async () => {
    const top = await cli(["--help"]);
    assert.equal(top.code, 0);
    const commands = new Set(listed(top.stdout));
    const groups = new Set([...commands].filter((c) => c.includes(" ")).map((c) => c.split(" ")[0]));
    assert.deepEqual([...groups].sort(), [...GROUP_WORDS].sort(), "a new command group: add it to GROUP_WORDS");
    const helps = await Promise.all([...groups].map(async (g) => ({ g, h: await cli([g, "--help"]) })));
    for (const { g, h } of helps) {
      assert.equal(h.code, 0, h.stderr);
      for (const c of listed(h.stdout, `${g} `)) commands.add(c);
    }
    assert.ok(commands.size >= 30, [...commands].join(", "));
    const missing = [...commands].filter((c) => !exercised.has(c));
    assert.deepEqual(missing, [], `commands listed in --help but not exercised by this smoke test: ${missing.join(", ")}`);
  });
});
