// The pkcs11 seal against SoftHSM2: init creates a non-extractable master key in the token, the server auto-unseals with the PIN, the database never holds the master key.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { open } from "../src/crypto/aead.js";
import { Pkcs11Session, pkcs11Lib } from "../src/seal/pkcs11.js";
import { newInstance } from "./helpers.js";
import { requiredSuite } from "./required-suites.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MODULES = [
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/local/lib/softhsm/libsofthsm2.so",
];
const MODULE = MODULES.find((m) => existsSync(m));
const PIN = "1234";
const TOKEN = "strongroom";

function why(): string | null {
  if (!MODULE) return "SoftHSM2 is not installed (apt-get install softhsm2): the pkcs11 seal is NOT tested";
  try {
    execFileSync("softhsm2-util", ["--version"], { stdio: "ignore" });
  } catch {
    return "softhsm2-util is not on PATH (apt-get install softhsm2): the pkcs11 seal is NOT tested";
  }
  try {
    createRequire(import.meta.url)("pkcs11js");
  } catch (e) {
    return `the pkcs11js package does not load (${(e as Error).message.split("\n")[0]}): the pkcs11 seal is NOT tested`;
  }
  return null;
}

const skip = requiredSuite("PKCS#11 seal (SoftHSM2)", why());

let hsmDir = "";

/** Every 32-byte window of `bytes` tried as an AES-256-GCM key on `blob`: none may open it. */
function noKeyIn(bytes: Buffer, blob: Buffer, aad: string): boolean {
  for (let off = 0; off + 32 <= bytes.length; off++) {
    try {
      open(bytes.subarray(off, off + 32), blob, aad);
      return false;
    } catch {}
  }
  return true;
}

describe("pkcs11 seal (SoftHSM2)", { skip }, () => {
  before(() => {
    hsmDir = mkdtempSync(join(tmpdir(), "strongroom-softhsm-"));
    mkdirSync(join(hsmDir, "tokens"));
    writeFileSync(
      join(hsmDir, "softhsm2.conf"),
      `directories.tokendir = ${join(hsmDir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    process.env.SOFTHSM2_CONF = join(hsmDir, "softhsm2.conf");
    execFileSync("softhsm2-util", ["--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "5678"], {
      env: process.env,
      stdio: "ignore",
    });
  });
  after(() => {
    if (hsmDir) rmSync(hsmDir, { recursive: true, force: true });
  });

  test("init creates the HSM key; restart auto-unseals with the PIN; the key is non-extractable; the database holds no master key", async () => {
    const pkcs11 = { module: MODULE as string, tokenLabel: TOKEN, keyLabel: "strongroom-master", pin: PIN };
    const env: NodeJS.ProcessEnv = { STRONGROOM_PKCS11_PIN: PIN };
    const i = await newInstance({ seal: "pkcs11", pkcs11 }, env);
    try {
      assert.equal(i.init.seal.pkcs11?.keyCreated, true);
      const cfg = YAML.parse(readFileSync(join(i.dir, "strongroom.yaml"), "utf8")).seal;
      assert.deepEqual(cfg, { type: "pkcs11", module: MODULE, tokenLabel: TOKEN, keyLabel: "strongroom-master" }, "no PIN in the file");
      assert.equal(i.server.app.barrier.sealed, false, "auto-unsealed with STRONGROOM_PKCS11_PIN");
      assert.equal(i.server.app.barrier.masterKind, "hsm");
      assert.equal((await i.as.admin1.call("POST", "/v1/keys", { name: "hsm", type: "aes-256" })).status, 201);
      const ct = (await i.as.app.call("POST", "/v1/keys/hsm/encrypt", { plaintext: "aHNt" })).body.ciphertext;

      // The master key object: one AES key, sensitive, non-extractable, persistent; its value cannot be read.
      const L = pkcs11Lib();
      const s = Pkcs11Session.open(MODULE as string, TOKEN, PIN);
      try {
        const keys = s.findSecretKeys("strongroom-master");
        assert.equal(keys.length, 1);
        assert.deepEqual(s.flags(keys[0], [L.CKA_EXTRACTABLE, L.CKA_SENSITIVE, L.CKA_TOKEN]), [false, true, true]);
        assert.throws(
          () => s.p.C_GetAttributeValue(s.session, keys[0], [{ type: L.CKA_VALUE }]),
          (e: Error & { code?: number }) => e.code === L.CKR_ATTRIBUTE_SENSITIVE,
        );
      } finally {
        s.close();
      }

      // Restart: unseals again from the PIN; the data decrypts.
      await i.restart();
      assert.equal(i.server.app.barrier.sealed, false);
      const d = await i.as.app.call("POST", "/v1/keys/hsm/decrypt", { ciphertext: ct });
      assert.equal(d.body.plaintext, "aHNt");

      // Without the PIN in the environment the server starts sealed; the PIN submitted as the passphrase unseals it.
      delete env.STRONGROOM_PKCS11_PIN;
      await i.restart();
      assert.equal(i.server.app.barrier.sealed, true);
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/unseal", { passphrase: "0000" })).body.error.code, "unseal_failed");
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/unseal", { passphrase: PIN })).body.sealed, false);

      // Rotate-master: a new non-extractable key in the token; the keyring moves to it.
      assert.equal(
        (await i.as.admin1.call("POST", "/v1/sys/rotate-master", { newKeyLabel: "strongroom-master" })).body.error.code,
        "validation",
      );
      const rot = await i.as.admin1.call("POST", "/v1/sys/rotate-master", { newKeyLabel: "strongroom-master-2", pin: PIN });
      assert.equal(rot.status, 200, JSON.stringify(rot.body));
      assert.equal(YAML.parse(readFileSync(join(i.dir, "strongroom.yaml"), "utf8")).seal.keyLabel, "strongroom-master-2");
      assert.ok(!JSON.stringify((await i.as.auditor.call("GET", "/v1/audit?limit=1000")).body).includes(`"${PIN}"`));
      env.STRONGROOM_PKCS11_PIN = PIN;
      await i.restart();
      assert.equal(i.server.app.barrier.sealed, false);
      assert.equal((await i.as.app.call("POST", "/v1/keys/hsm/decrypt", { ciphertext: ct })).body.plaintext, "aHNt");

      // The database: no 32-byte window of it opens a KEK of the keyring.
      const kr = JSON.parse(
        ((await i.server.app.store.get<{ value: string }>("SELECT value FROM settings WHERE name = 'keyring'")) as { value: string }).value,
      );
      assert.deepEqual(Object.keys(kr).sort(), ["audit", "current", "keks", "seal"]);
      await i.stop();
      const dataDir = join(i.dir, "data");
      const db = Buffer.concat(readdirSync(dataDir).map((f) => readFileSync(join(dataDir, f))));
      assert.ok(noKeyIn(db, Buffer.from(kr.keks["1"], "base64"), "strongroom:kek:1"), "a master key is in the database");
    } finally {
      await i.cleanup();
    }
  });

  test("strongroom init --seal pkcs11 creates the key if missing and reuses it otherwise", async () => {
    const run = (dir: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const env: NodeJS.ProcessEnv = {};
        for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) env[k] = v;
        env.STRONGROOM_PKCS11_PIN = PIN;
        const args = ["init", "--dir", dir, "--seal", "pkcs11", "--pkcs11-module", MODULE as string, "--pkcs11-token", TOKEN];
        const child = spawn(process.execPath, [join(ROOT, "bin", "strongroom.js"), ...args, "--pkcs11-key-label", "cli-master", "--json"], {
          cwd: ROOT,
          env,
        });
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
    const base = mkdtempSync(join(tmpdir(), "strongroom-p11cli-"));
    try {
      const a = await run(join(base, "a"));
      assert.equal(a.code, 0, a.stderr);
      assert.equal(JSON.parse(a.stdout).seal.pkcs11.keyCreated, true);
      const b = await run(join(base, "b"));
      assert.equal(b.code, 0, b.stderr);
      assert.equal(JSON.parse(b.stdout).seal.pkcs11.keyCreated, false);
      const bad = await new Promise<number | null>((resolve) => {
        const c = spawn(process.execPath, [join(ROOT, "bin", "strongroom.js"), "init", "--dir", join(base, "c"), "--pkcs11-token", TOKEN], {
          cwd: ROOT,
          env: { ...process.env, STRONGROOM_PKCS11_PIN: PIN },
        });
        c.stdin.end();
        c.on("close", resolve);
      });
      assert.equal(bad, 1, "--pkcs11-* flags without --seal pkcs11 are refused");
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
