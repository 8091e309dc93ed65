// The CLI for scripts: with --json every failure is exactly one {"error":{code,message,requestId?}} object on stdout and a non-zero exit status; approvals and key grants through the CLI.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CLI_ERROR_CODES } from "../src/cli/http-client.js";
import { type Instance, newInstance } from "./helpers.js";

/** Tests run from dist/test: the repository root is two directories up. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "strongroom.js");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `strongroom …` with only the given STRONGROOM_* settings (none of the developer's). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) clean[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...clean, ...env } });
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
    child.stdin.end();
  });
}

interface JsonError {
  code: string;
  message: string;
  requestId?: string;
  approval?: { id: string; action: string };
}

/** A failed --json run: stdout is exactly one JSON object {"error":{…}} and nothing else; the exit status is non-zero. */
function jsonError(r: Result, code: string, exitCode = 1): JsonError {
  assert.equal(r.code, exitCode, `exit status (stderr: ${r.stderr})`);
  let doc: { error?: JsonError };
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    assert.fail(`stdout is not one JSON document:\n${r.stdout}\n(stderr: ${r.stderr})`);
  }
  assert.deepEqual(Object.keys(doc), ["error"], r.stdout);
  const e = doc.error as JsonError;
  assert.equal(e.code, code, r.stdout);
  assert.equal(typeof e.message, "string");
  assert.ok(e.message.length > 0);
  assert.doesNotMatch(e.message, /^strongroom: /);
  // Only the documented fields.
  for (const k of Object.keys(e)) assert.ok(["code", "message", "requestId", "approval"].includes(k), `unexpected field ${k}`);
  // People still get their one line on stderr.
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  return e;
}

/** A port with nothing listening on it a moment ago. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("--json errors (development instance: dual control off, any-authenticated)", () => {
  let i: Instance;
  let env: Record<string, string>;
  before(async () => {
    i = await newInstance();
    // The profiles carry the init port (0 here): the address comes from the environment, the files from the profile.
    env = { STRONGROOM_DIR: i.dir, STRONGROOM_ADDR: i.url };
  });
  after(() => i.cleanup());

  test("a server error: the server's code, message and request id", async () => {
    const e = jsonError(await cli(["keys", "show", "no-such-key", "--json"], env), "key_not_found");
    assert.equal(e.message, "key 'no-such-key' not found");
    assert.match(e.requestId ?? "", UUID);
    // --json before the command words works the same.
    jsonError(await cli(["--json", "keys", "show", "no-such-key"], env), "key_not_found");
  });

  test("usage errors: unknown option, unknown command, missing argument, bad value", async () => {
    jsonError(await cli(["keys", "list", "--bogus", "--json"], env), "usage");
    jsonError(await cli(["--json", "frobnicate"], env), "usage");
    jsonError(await cli(["keys", "show", "--json"], env), "usage");
    jsonError(await cli(["keys", "list", "--limit", "0", "--json"], env), "usage");
    jsonError(await cli(["keys", "nope", "--json"], env), "usage");
  });

  test("connection refused, TLS failure, unusable profile and files", async () => {
    const port = await closedPort();
    const refused = jsonError(await cli(["status", "--json", "--addr", `https://127.0.0.1:${port}`], env), "connection_failed");
    assert.match(refused.message, /connection refused/);
    assert.equal(refused.requestId, undefined);

    // A CA that did not sign the server certificate (the client's own certificate).
    const b = i.init.bundles.app;
    jsonError(await cli(["status", "--json", "--ca", b.cert, "--profile", "app"], env), "tls_failed");
    // A client key that is not a key.
    const junk = join(i.dir, "junk.pem");
    writeFileSync(junk, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    jsonError(await cli(["status", "--json", "--cert", b.cert, "--key", junk, "--ca", b.ca], { STRONGROOM_ADDR: i.url }), "tls_failed");

    jsonError(await cli(["status", "--json", "--profile", "nobody"], env), "profile_invalid");
    const profiles = join(i.dir, "profiles.json");
    const original = readFileSync(profiles, "utf8");
    try {
      writeFileSync(profiles, "{ not json");
      jsonError(await cli(["status", "--json"], env), "profile_invalid");
    } finally {
      writeFileSync(profiles, original);
    }
    jsonError(
      await cli(["status", "--json", "--cert", join(i.dir, "missing.pem"), "--key", b.key, "--ca", b.ca], { STRONGROOM_ADDR: i.url }),
      "connection_settings",
    );
    jsonError(await cli(["status", "--json"], { STRONGROOM_DIR: join(i.dir, "no-such-dir") }), "profile_invalid");
    jsonError(await cli(["keys", "encrypt", "demo", "--in", join(i.dir, "missing.bin"), "--profile", "app", "--json"], env), "file_error");
  });

  test("plain-language errors: mistyped command, key of another certificate, certificate of another CA, --key in audit query", async () => {
    const typo = jsonError(await cli(["key", "list", "--json"], env), "usage");
    assert.match(typo.message, /unknown command 'key' \(did you mean `keys`\?\)/);
    assert.match(jsonError(await cli(["keys", "lsit", "--json"], env), "usage").message, /did you mean `keys list`\?/);
    // key.pem of the app bundle with cert.pem of admin1: refused before connecting, naming both files.
    const a = i.init.bundles.admin1;
    const mismatch = jsonError(
      await cli(["status", "--json", "--cert", a.cert, "--key", i.init.bundles.app.key, "--ca", a.ca], { STRONGROOM_ADDR: i.url }),
      "key_mismatch",
    );
    assert.ok(mismatch.message.includes(i.init.bundles.app.key) && mismatch.message.includes(a.cert), mismatch.message);
    // A bundle of another instance (another CA): the server hangs up; the CLI says why.
    const other = await newInstance();
    try {
      const o = other.init.bundles.admin1;
      const foreign = jsonError(
        await cli(["status", "--json", "--cert", o.cert, "--key", o.key, "--ca", a.ca], { STRONGROOM_ADDR: i.url }),
        "client_cert_rejected",
      );
      assert.match(foreign.message, /client certificate \(CN admin1\) is from another CA/);
    } finally {
      await other.cleanup();
    }
    // --key is the client key file for audit query too; a key name there points at --key-name.
    const key = jsonError(await cli(["audit", "query", "--key", "payroll", "--profile", "auditor", "--json"], env), "usage");
    assert.match(key.message, /--key-name NAME/);
  });

  test("success is unchanged: one JSON document, exit status 0", async () => {
    const r = await cli(["status", "--json"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).identity.cn, "admin1");
  });

  test("every CLI error code is documented in docs/operations.md", () => {
    const doc = readFileSync(join(ROOT, "docs", "operations.md"), "utf8");
    for (const code of [...Object.keys(CLI_ERROR_CODES), "approval_required"])
      assert.ok(doc.includes(`\`${code}\``), `CLI error code ${code} missing from docs/operations.md`);
  });
});

describe("approvals and grants through the CLI (production defaults: dual control on, owner-only)", () => {
  let i: Instance;
  let env: Record<string, string>;
  before(async () => {
    i = await newInstance({ profile: "production" });
    env = { STRONGROOM_DIR: i.dir, STRONGROOM_ADDR: i.url };
  });
  after(() => i.cleanup());

  test("owner-only hides a key; keys update --users asks for approval; approvals list/approve (CLI) grant it", async () => {
    const as = (profile: string, args: string[]) => cli(["--profile", profile, ...args, "--json"], env);
    const created = await as("admin1", ["keys", "create", "granted", "--type", "aes-256"]);
    assert.equal(created.code, 0, created.stderr);
    // owner-only: the app may not use (or even see) a key an admin created.
    jsonError(await as("app", ["keys", "encrypt", "granted", "--plaintext", "x"]), "key_not_found");

    // A policy change is protected: exit status 3 and the approval to hand to the second admin.
    const pending = jsonError(await as("admin1", ["keys", "update", "granted", "--users", "app"]), "approval_required", 3);
    assert.match(pending.requestId ?? "", UUID);
    assert.equal(pending.approval?.action, "key.policy-change");
    const id = pending.approval?.id ?? "";

    // Defect 4: the approvals group is reachable (it was "unknown command").
    const help = await cli(["approvals", "--help"], env);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /approve/);
    const listed = await as("admin2", ["approvals", "list"]);
    assert.equal(listed.code, 0, listed.stderr);
    const a = (JSON.parse(listed.stdout).approvals as { id: string; digest: string; summary: unknown }[]).find((x) => x.id === id);
    assert.ok(a, listed.stdout);
    // Approving without the digest, or with the wrong one, is refused (in JSON).
    jsonError(await as("admin2", ["approvals", "approve", id]), "usage");
    jsonError(await as("admin2", ["approvals", "approve", id, "--digest", `sha256:${"0".repeat(64)}`]), "approval_digest_mismatch");
    const approved = await as("admin2", ["approvals", "approve", id, "--digest", a.digest]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(JSON.parse(approved.stdout).status, "executed");

    const enc = await as("app", ["keys", "encrypt", "granted", "--plaintext", "x"]);
    assert.equal(enc.code, 0, enc.stderr);
    assert.equal(JSON.parse(enc.stdout).version, 1);
  });
});

test("npm start: the development instance says at start that it is permissive", { timeout: 60_000 }, async () => {
  const cwd = mkdtempSync(join(tmpdir(), "strongroom-devstart-"));
  const [api, kmip] = [await closedPort(), await closedPort()];
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) clean[k] = v;
  const child = spawn(process.execPath, [join(ROOT, "dist", "src", "cli", "dev-start.js")], {
    cwd,
    env: { ...clean, STRONGROOM_API_PORT: String(api), STRONGROOM_KMIP_PORT: String(kmip) },
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not finish starting:\n${stdout}\n${stderr}`)), 45_000);
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
        if (stdout.includes("Or with the CLI:")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited with ${code}:\n${stderr}`));
      });
    });
    const line = stdout.split("\n").find((l) => l.startsWith("security:")) ?? "";
    assert.match(line, /PERMISSIVE DEVELOPMENT INSTANCE: dual control off .*any-authenticated.* not for production/);
    // Also in the log, for whoever reads only the logs.
    assert.match(stderr, /PERMISSIVE DEVELOPMENT INSTANCE/);
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    if (child.exitCode === null) child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(cwd, { recursive: true, force: true });
  }
});
