// `npm start`: creates (once) and runs a development instance in ./.strongroom, then prints where everything is and a working curl example.
import { existsSync, readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { DefaultPolicy } from "../auth/policy.js";
import { CONFIG_FILE } from "../config/config.js";
import { initInstance } from "../init.js";
import { createLogger, isLogLevel, LOG_LEVELS, type LogLevel } from "../logger.js";
import { startServer } from "../server.js";
import { PROFILES_FILE, resolveConnection } from "./connection.js";
import { ApiError, CliError, createHttpClient, errorLine } from "./http-client.js";
import { kv, Progress } from "./output.js";

const DEMO_KEY = "demo";
const DEMO_TEXT = "hello from strongroom";

/** A path as typed from the working directory (the repository root under npm start). */
const rel = (p: string): string => relative(process.cwd(), p) || ".";

/** Quotes a word for bash only when it needs it. */
const sh = (s: string): string => (/^[A-Za-z0-9_./:@=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function portFromEnv(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535)
    throw new CliError(`${name} must be a port number from 1 to 65535, not '${v}'`);
  return Number(v);
}

/** One shell line: encrypt with the app bundle, pass the ciphertext on, decrypt, print the text. */
function curlExample(addr: string, bundle: string): string {
  const tls = `--cacert ${sh(rel(join(bundle, "ca.pem")))} --cert ${sh(rel(join(bundle, "cert.pem")))} --key ${sh(rel(join(bundle, "key.pem")))}`;
  const curl = `curl -sS ${tls} -H 'content-type: application/json'`;
  const plaintext = Buffer.from(DEMO_TEXT).toString("base64");
  const toDecryptBody = `sed -E 's/.*"ciphertext":"([^"]+)".*/{"ciphertext":"\\1"}/'`;
  const show = `node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(r.plaintext?Buffer.from(r.plaintext,"base64").toString():s)})'`;
  return [
    `${curl} -d '{"plaintext":"${plaintext}"}' ${addr}/v1/keys/${DEMO_KEY}/encrypt`,
    toDecryptBody,
    `${curl} -d @- ${addr}/v1/keys/${DEMO_KEY}/decrypt`,
    show,
  ].join(" | ");
}

/** What the instance lets one person do, said at every start: this instance is permissive on purpose. */
function securityLine(dualControl: boolean, policy: DefaultPolicy): string {
  const open = policy === "any-authenticated";
  if (dualControl && !open) return "dual control on, default key policy owner-only";
  const loose = [
    ...(dualControl ? [] : ["dual control off (one admin acts alone)"]),
    ...(open ? ["keys without a policy usable by any client (policy.default: any-authenticated)"] : []),
  ];
  return `PERMISSIVE DEVELOPMENT INSTANCE: ${loose.join(", ")} — not for production: strongroom init sets dual control on and owner-only`;
}

/** `npm start -- --log-level L` (npm keeps `--log-level` before `--` for itself); anything else is refused, not ignored. */
function logLevelArg(): LogLevel | undefined {
  let values: { "log-level"?: string };
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: { "log-level": { type: "string" } }, strict: true }));
  } catch (e) {
    throw new CliError(`${(e as Error).message} (npm start takes only -- --log-level ${LOG_LEVELS.join("|")})`);
  }
  const level = values["log-level"];
  if (level !== undefined && !isLogLevel(level)) throw new CliError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  return level;
}

async function main(): Promise<void> {
  const logLevel = logLevelArg();
  const dir = resolve(".strongroom");
  const envPort = portFromEnv("STRONGROOM_API_PORT");
  const envKmipPort = portFromEnv("STRONGROOM_KMIP_PORT");
  let created = false;
  if (!existsSync(join(dir, CONFIG_FILE))) {
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      throw new CliError(`${rel(dir)} exists but holds no ${CONFIG_FILE} (an interrupted init?): remove it and run npm start again`);
    }
    const progress = new Progress().spin(`creating a development instance in ${rel(dir)}…`);
    try {
      await initInstance({
        dir,
        seal: "file",
        hosts: ["localhost", "127.0.0.1"],
        apiPort: envPort ?? 8443,
        kmipPort: envKmipPort ?? 5696,
        listenAddress: "127.0.0.1",
        // Permissive on purpose (one admin acts alone, any client may use keys without a policy): said below.
        profile: "development",
      });
    } finally {
      progress.done();
    }
    created = true;
  }

  const log = createLogger(process.stderr, { level: logLevel });
  const running = await startServer({ dir, log });
  if (!created && envPort !== undefined && envPort !== running.apiPort) {
    log.warn("STRONGROOM_API_PORT is ignored: the existing instance keeps its port (remove .strongroom to recreate it)", {
      apiPort: running.apiPort,
    });
  }
  const stop = async () => {
    process.once("SIGINT", () => process.exit(1));
    log.info("stopping");
    await running.close();
    log.info("stopped");
    process.exit(0);
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
  if (running.app.barrier.sealed) throw new CliError("the development instance did not unseal (is .strongroom/seal/master.key missing?)");

  // The demo key is created like any other: over the REST API as admin1, audited.
  const admin = createHttpClient(resolveConnection({ dir, profile: "admin1" }));
  const addr = admin.addr;
  const roles = new Map<string, string>();
  try {
    await admin.call("GET", `/v1/keys/${DEMO_KEY}`).catch(async (e) => {
      if (!(e instanceof ApiError) || e.code !== "key_not_found") throw e;
      await admin.call("POST", "/v1/keys", {
        body: { name: DEMO_KEY, type: "aes-256", description: "development demo key (created by npm start)" },
      });
    });
    const certs = await admin.call<{ certificates: { cn: string; role: string }[] }>("GET", "/v1/certs", { query: { status: "valid" } });
    for (const c of certs.certificates) roles.set(c.cn, c.role);
  } finally {
    admin.close();
  }

  const security = securityLine(running.app.governance.current().dualControl, running.app.config.policy.default);
  if (security.startsWith("PERMISSIVE")) log.warn(security);
  const bundlesDir = join(dir, "bundles");
  const bundles = readdirSync(bundlesDir).sort();
  const out: string[] = [];
  out.push("", `Strongroom development server ${created ? "created and " : ""}running (Ctrl-C stops it)`, "");
  out.push(
    kv({
      api: addr,
      kmip: `localhost:${running.kmipPort} (KMIP over TLS; same bundles)`,
      "instance dir": rel(dir),
      profiles: `${rel(join(dir, PROFILES_FILE))} (default profile admin1; select with --profile NAME)`,
      seal: `file (development only): ${rel(join(dir, "seal", "master.key"))}`,
      "demo key": `${DEMO_KEY} (aes-256)`,
      security,
    }).trimEnd(),
  );
  for (const b of bundles) {
    const p = join(bundlesDir, b);
    out.push("", `Bundle ${b} (role ${roles.get(b) ?? "-"}):`);
    out.push(
      kv({
        cert: rel(join(p, "cert.pem")),
        key: rel(join(p, "key.pem")),
        ca: rel(join(p, "ca.pem")),
        pkcs12: rel(join(p, "bundle.p12")),
        "pkcs12 password file": rel(join(p, "bundle.p12.password")),
      })
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
  }
  out.push(
    "",
    "Try it: encrypt and decrypt with the app bundle (run from this directory):",
    "",
    curlExample(addr, join(bundlesDir, "app")),
    "",
  );
  out.push(
    "Or with the CLI:",
    "  node bin/strongroom.js keys list",
    `  node bin/strongroom.js --profile app keys encrypt ${DEMO_KEY} --plaintext hello`,
    "",
  );
  process.stdout.write(`${out.join("\n")}\n`);
}

main().catch((e) => {
  process.stderr.write(`${errorLine(e)}\n`);
  process.exit(1);
});
