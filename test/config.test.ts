// strongroom.yaml is strict: unknown keys, wrong types, out-of-range values and missing files stop the server at start with the file and the key; docs/operations.md lists every key as the code validates it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { CONFIG_FIELDS, ConfigError, configReference, loadConfig } from "../src/config/config.js";
import { createLogger } from "../src/logger.js";
import { startServer } from "../src/server.js";
import { type Instance, newInstance } from "./helpers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("strongroom.yaml validation", () => {
  let i: Instance;
  let file = "";
  let original = "";
  before(async () => {
    i = await newInstance();
    await i.stop();
    file = join(i.dir, "strongroom.yaml");
    original = readFileSync(file, "utf8");
  });
  after(() => i.cleanup());

  /** Writes the original configuration changed by `edit`, then starts the server as `strongroom server` would. */
  async function refused(edit: (doc: Record<string, any>) => void, message: RegExp, key: string): Promise<void> {
    const doc = YAML.parse(original);
    edit(doc);
    writeFileSync(file, YAML.stringify(doc), { mode: 0o600 });
    await assert.rejects(
      startServer({ dir: i.dir, address: "127.0.0.1", apiPort: 0, kmipPort: 0, log: createLogger(null) }),
      (e: Error) => {
        assert.ok(e instanceof ConfigError, `${e.name}: ${e.message}`);
        // The file by its path, then the message naming the key.
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        assert.match(e.message, message);
        assert.equal(e.key, key);
        return true;
      },
    );
  }

  test("the configuration init writes loads, with every default", () => {
    writeFileSync(file, original);
    const cfg = loadConfig(i.dir);
    assert.equal(cfg.limits.maxBodyBytes, 1048576);
    assert.equal(cfg.limits.maxConnections, 4096);
    assert.equal(cfg.limits.kmipLocateMaxItems, 1000);
    assert.equal(cfg.governance.quorum, 2);
    assert.deepEqual(cfg.allowlists, {});
    assert.equal(cfg.storage.syncReads, false);
    // Sections left out take their defaults.
    const doc = YAML.parse(original);
    delete doc.limits;
    delete doc.governance;
    delete doc.allowlists;
    writeFileSync(file, YAML.stringify(doc));
    const bare = loadConfig(i.dir);
    assert.deepEqual(bare.limits, cfg.limits);
    assert.deepEqual(bare.governance, { dualControl: false, approvalWindowMinutes: 60, quorum: 2, pciMode: false });
  });

  test("an unknown top-level key is an error naming it (and the likely key)", async () => {
    await refused(
      (d) => {
        d.limit = { maxBodyBytes: 2048 };
      },
      /unknown key 'limit' \(did you mean 'limits'\?\)$/,
      "limit",
    );
  });

  test("an unknown nested key is an error with its full path", async () => {
    await refused(
      (d) => {
        d.limits.maxBodyByte = 2048;
      },
      /unknown key 'limits\.maxBodyByte' \(did you mean 'limits\.maxBodyBytes'\?\)$/,
      "limits.maxBodyByte",
    );
    await refused(
      (d) => {
        d.governance.dualcontrol = true;
      },
      /unknown key 'governance\.dualcontrol' \(did you mean 'governance\.dualControl'\?\)/,
      "governance.dualcontrol",
    );
    await refused(
      (d) => {
        d.tls.chain = "pki/chain.pem";
      },
      /unknown key 'tls\.chain'/,
      "tls.chain",
    );
    // A key of another seal type is not silently ignored either.
    await refused(
      (d) => {
        d.seal.shares = 5;
      },
      /unknown key 'seal\.shares' for seal\.type file/,
      "seal.shares",
    );
  });

  test("a wrong type is an error naming the key and the expected type", async () => {
    await refused(
      (d) => {
        d.limits.maxConnections = "4096";
      },
      /limits\.maxConnections must be an integer from 1 to 1000000, not a string/,
      "limits.maxConnections",
    );
    await refused(
      (d) => {
        d.governance.dualControl = "yes";
      },
      /governance\.dualControl must be true or false/,
      "governance.dualControl",
    );
    await refused(
      (d) => {
        d.listen = 8443;
      },
      /listen must be a mapping, not 8443/,
      "listen",
    );
    await refused(
      (d) => {
        d.policy.default = "everyone";
      },
      /policy\.default must be any-authenticated, owner-only or \{users/,
      "policy.default",
    );
  });

  test("an out-of-range value is an error with the range", async () => {
    await refused(
      (d) => {
        d.limits.kmipMaxBatchItems = 0;
      },
      /limits\.kmipMaxBatchItems must be an integer from 1 to 100000, not 0/,
      "limits.kmipMaxBatchItems",
    );
    await refused(
      (d) => {
        d.listen.apiPort = 70000;
      },
      /listen\.apiPort must be an integer from 0 to 65535, not 70000/,
      "listen.apiPort",
    );
    // Bounds that depend on another key say which, and its value.
    await refused(
      (d) => {
        d.limits.maxConnections = 100;
        d.limits.maxConnectionsPerAddress = 200;
      },
      /limits\.maxConnectionsPerAddress must be an integer from 1 to limits\.maxConnections \(100\), not 200/,
      "limits.maxConnectionsPerAddress",
    );
    await refused(
      (d) => {
        d.limits.responseMemoryBytes = 65536;
      },
      /limits\.responseMemoryBytes must be an integer from limits\.maxResponseBytes \(8388608\) to 17179869184, not 65536/,
      "limits.responseMemoryBytes",
    );
    await refused(
      (d) => {
        d.timeZone = "Mars/Olympus_Mons";
      },
      /timeZone must be an IANA time zone/,
      "timeZone",
    );
  });

  test("a missing TLS file, seal key file or database directory stops the start with the path", async () => {
    await refused(
      (d) => {
        d.tls.cert = "pki/missing.pem";
      },
      new RegExp(`tls\\.cert: no such file ${join(i.dir, "pki", "missing.pem").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`),
      "tls.cert",
    );
    await refused(
      (d) => {
        d.tls.ca = "/nonexistent/ca.pem";
      },
      /tls\.ca: no such file \/nonexistent\/ca\.pem$/,
      "tls.ca",
    );
    await refused(
      (d) => {
        d.seal.keyFile = "seal/gone.key";
      },
      /seal\.keyFile: no such file .*seal\/gone\.key$/,
      "seal.keyFile",
    );
    await refused(
      (d) => {
        d.storage.path = "nodir/strongroom.db";
      },
      /storage\.path: no such directory .*\/nodir$/,
      "storage.path",
    );
    await refused(
      (d) => {
        d.tls.key = "pki";
      },
      /tls\.key: .*\/pki is not a file$/,
      "tls.key",
    );
  });

  test("a required key left out is named", async () => {
    await refused(
      (d) => {
        delete d.tls.key;
      },
      /missing key 'tls\.key'/,
      "tls.key",
    );
  });

  test("strongroom server --json refuses to start: config_invalid with the file and key", async () => {
    const doc = YAML.parse(original);
    doc.limits.maxBodyByte = 2048;
    writeFileSync(file, YAML.stringify(doc), { mode: 0o600 });
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) env[k] = v;
      const child = spawn(process.execPath, [join(ROOT, "bin", "strongroom.js"), "server", "--dir", i.dir, "--json"], { env });
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
    assert.equal(r.code, 1, r.stderr);
    const e = JSON.parse(r.stdout).error;
    assert.equal(e.code, "config_invalid");
    assert.equal(e.message, `${file}: unknown key 'limits.maxBodyByte' (did you mean 'limits.maxBodyBytes'?)`);
    // People get the one line last on stderr; before it, the server log (JSON lines) records the fatal start-up error.
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines[lines.length - 1], `strongroom: ${e.message}`);
    const fatal = lines.slice(0, -1).map((l) => JSON.parse(l));
    assert.deepEqual(
      fatal.map((l) => [l.level, l.msg, l.code, l.reason]),
      [["fatal", "server did not start", "config_invalid", e.message]],
    );
  });

  test("the init configuration still starts", async () => {
    writeFileSync(file, original);
    const s = await startServer({ dir: i.dir, address: "127.0.0.1", apiPort: 0, kmipPort: 0, log: createLogger(null) });
    await s.close();
  });
});

test("docs/operations.md lists every strongroom.yaml key with the type, default and range the code validates", () => {
  const doc = readFileSync(join(ROOT, "docs", "operations.md"), "utf8");
  const start = doc.indexOf("## Configuration (`strongroom.yaml`)");
  assert.ok(start >= 0);
  const end = doc.indexOf("\n## ", start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, string[]>();
  for (const line of section.split("\n")) {
    const m = /^\| `([^`]+)` \|(.*)\|$/.exec(line);
    if (m)
      rows.set(
        m[1],
        m[2].split(" | ").map((c) => c.trim()),
      );
  }
  for (const r of configReference()) {
    const row = rows.get(r.key);
    assert.ok(row, `${r.key} missing from the configuration table in docs/operations.md`);
    assert.deepEqual(row.slice(0, 3), [r.type, r.default, r.range], `docs row for ${r.key}`);
  }
  for (const key of rows.keys()) assert.ok(key in CONFIG_FIELDS, `docs/operations.md documents '${key}', which the code does not know`);
});
