// Interoperability: the independent PyKMIP client (Debian python3-pykmip) against the KMIP TLS listener, KMIP 1.0, 1.2, 1.4 and 2.0.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type Instance, newInstance } from "./helpers.js";
import { requiredSuite } from "./required-suites.js";

const run = promisify(execFile);
const PYTHON = "/usr/bin/python3";
const script = fileURLToPath(new URL("../../test/interop/pykmip-flow.py", import.meta.url));

async function pykmipInstalled(): Promise<boolean> {
  if (!existsSync(PYTHON)) return false;
  try {
    await run(PYTHON, ["-c", "import kmip"]);
    return true;
  } catch {
    return false;
  }
}

const STEPS = [
  "create",
  "get_attributes",
  "get_attribute_list",
  "locate",
  "activate",
  "get",
  "encrypt",
  "decrypt",
  "register",
  "get_registered",
  "create_key_pair",
  "activate_pair",
  "sign",
  "signature_verify",
  "create_hmac",
  "activate_hmac",
  "mac",
  "rekey",
  "revoke",
  "destroy",
  "get_destroyed_state",
];

describe("PyKMIP ProxyKmipClient", async () => {
  const installed = await pykmipInstalled();
  const skip = requiredSuite(
    "PyKMIP interoperability",
    installed ? null : "PyKMIP is not installed (apt-get install python3-pykmip, Debian's package; PyPI is not needed)",
  );
  let i: Instance;
  before(async () => {
    if (installed) i = await newInstance();
  });
  after(async () => {
    if (installed) await i.cleanup();
  });

  for (const version of ["1.0", "1.2", "1.4", "2.0"]) {
    test(`KMIP ${version}: create, register, locate, get, attributes, activate, encrypt/decrypt, key pair, sign/verify, MAC, rekey, revoke, destroy`, {
      skip,
    }, async () => {
      const { stdout } = await run(PYTHON, [script, "127.0.0.1", String(i.server.kmipPort), `${i.dir}/bundles/app`, version], {
        timeout: 60_000,
      });
      const report = JSON.parse(stdout.trim().split("\n").pop() as string) as {
        steps: Record<string, { ok: boolean; value?: unknown; error?: string }>;
      };
      const failed = STEPS.filter((s) => !report.steps[s]?.ok).map((s) => `${s}: ${report.steps[s]?.error ?? "not run"}`);
      assert.deepEqual(failed, [], `PyKMIP ${version} steps failed:\n${failed.join("\n")}`);
      const s = report.steps;
      assert.equal(s.get.value, 32, "a 256-bit key comes back");
      assert.equal(s.decrypt.value, "strongroom pykmip interop");
      assert.equal(s.get_registered.value, "000102030405060708090a0b0c0d0e0f");
      assert.equal(s.signature_verify.value, "ValidityIndicator.VALID");
      assert.equal(s.get_destroyed_state.value, "State.DESTROYED");
      assert.ok((s.locate.value as string[]).includes(s.create.value as string));
      for (const name of ["Unique Identifier", "Object Type", "Cryptographic Algorithm", "Cryptographic Length", "State", "Name"]) {
        assert.ok((s.get_attributes.value as string[]).includes(name), `Get Attributes lacks ${name}`);
      }
      // Same object model: the key PyKMIP created is a REST key too, and every item was audited.
      const k = await i.as.admin1.call("GET", `/v1/keys/py-aes-${version.replace(".", "")}`);
      assert.equal(k.status, 200);
      assert.equal(k.body.versions[0].id, s.create.value);
      const ev = await i.as.auditor.call("GET", `/v1/audit?action=kmip.create&actor=app&limit=1000`);
      assert.ok(ev.body.events.some((e: { detail: { id?: string } | null }) => e.detail?.id === s.create.value));
    });
  }
});
