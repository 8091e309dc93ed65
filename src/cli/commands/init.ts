// `strongroom init`: creates an instance directory (seal, CA, server certificate, client bundles, profiles).
import { resolve } from "node:path";
import type { InitOptions, InitResult } from "../../init.js";
import { isValidTimeZone } from "../../keys/rollover.js";
import { type CommandSpec, optEnum, optInt, optList, optStr, reqStr } from "../command.js";
import { CliError } from "../http-client.js";
import { kv, Progress, print, printJson } from "../output.js";
import { promptHidden, readPassphrase } from "../prompt.js";

const SEALS = ["shamir", "passphrase", "file", "pkcs11"] as const;
const CA_KEYS = ["ec-p256", "rsa-3072"] as const;
const HOST = /^[A-Za-z0-9*]([A-Za-z0-9.:*-]{0,252})$/;
const POLICIES = ["owner-only", "any-authenticated"] as const;

function summary(r: InitResult): string {
  const out: string[] = [];
  out.push(`Strongroom instance created in ${r.dir}`, "");
  const seal =
    r.seal.type === "shamir"
      ? `shamir (${r.seal.threshold} of ${r.seal.shares} shares unseal)`
      : r.seal.type === "file"
        ? `file (development only; master key in ${r.seal.keyFile})`
        : r.seal.type === "pkcs11"
          ? `pkcs11 (key '${r.seal.pkcs11?.keyLabel}' on token '${r.seal.pkcs11?.tokenLabel}'${r.seal.pkcs11?.keyCreated ? ", created now" : ", existing"}; set STRONGROOM_PKCS11_PIN for the server)`
          : "passphrase (set STRONGROOM_PASSPHRASE for the server, or use strongroom unseal)";
  const g = r.governance;
  const dual = g.dualControl
    ? "on (destroy, revoke, policy changes, export, import, certificates and governance need a second admin)"
    : "OFF (--no-dual-control: one admin alone may issue a client certificate for any CN and use that key holder's keys)";
  out.push(
    kv({
      config: r.config,
      api: `${r.api}  (REST API and the strongroom CLI)`,
      kmip: `${r.kmip}  (KMIP over TLS, for KMIP clients such as vSphere or MongoDB)`,
      seal,
      ca: r.ca,
      "server certificate": r.serverCert,
      profiles: r.profiles,
      "dual control": dual,
      "default key policy": g.defaultPolicy,
    }).trimEnd(),
  );
  for (const [name, b] of Object.entries(r.bundles)) {
    out.push("", `Bundle ${name} (role ${b.role}, CN ${b.cn}, OU ${b.ou}):`);
    out.push(
      kv({ cert: b.cert, key: b.key, ca: b.ca, pkcs12: b.p12, "pkcs12 password file": b.p12Password })
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
  }
  if (r.unsealShares?.length) {
    const bar = "!".repeat(78);
    out.push(
      "",
      bar,
      "!!  UNSEAL SHARES: SHOWN THIS ONCE AND NEVER STORED. DISTRIBUTE THEM NOW.",
      `!!  Give each share to a different custodian. Any ${r.seal.threshold} of these ${r.seal.shares} shares unseal`,
      "!!  the server after every restart; with fewer, every key is lost for good.",
      bar,
    );
    for (const [i, s] of r.unsealShares.entries()) out.push(`  share ${i + 1}: ${s}`);
    out.push(bar);
  }
  out.push("", "Next:", `  strongroom server --dir ${r.dir}`);
  if (r.seal.type === "shamir") out.push(`  strongroom unseal --dir ${r.dir}      (${r.seal.threshold} times, one share each)`);
  if (r.seal.type === "passphrase") out.push(`  strongroom unseal --dir ${r.dir}      (asks for the passphrase)`);
  out.push(`  strongroom status --dir ${r.dir}`);
  return `${out.join("\n")}\n`;
}

export const initCommand: CommandSpec = {
  path: ["init"],
  summary:
    "Create a new production instance: master key seal, CA, server certificate, admin/auditor/app client bundles and profiles; dual control on, default key policy owner-only.",
  details:
    "The passphrase seal reads STRONGROOM_PASSPHRASE or asks twice on the terminal (at least 12 characters).\n" +
    "The pkcs11 seal keeps the master key in an HSM as a non-extractable AES-256 key (created if missing);\n" +
    "the token PIN comes from STRONGROOM_PKCS11_PIN or a prompt.\n" +
    "Shamir shares are printed once: hand them to custodians, Strongroom does not keep them.",
  options: {
    dir: { type: "string", arg: "DIR", help: "instance directory to create (required)" },
    seal: { type: "string", arg: "TYPE", help: "shamir (default), passphrase, pkcs11, or file (development only)" },
    "pkcs11-module": { type: "string", arg: "PATH", help: "pkcs11: the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)" },
    "pkcs11-token": { type: "string", arg: "LABEL", help: "pkcs11: the token label" },
    "pkcs11-key-label": { type: "string", arg: "LABEL", help: "pkcs11: the master key's label (default strongroom-master)" },
    shares: { type: "string", arg: "N", help: "shamir: number of shares (default 5)" },
    threshold: { type: "string", arg: "M", help: "shamir: shares needed to unseal (default 3)" },
    host: { type: "string", arg: "NAMES", help: "comma-separated server names/IPs for its certificate (default localhost,127.0.0.1)" },
    "api-port": { type: "string", arg: "P", help: "HTTPS API port (default 8443)" },
    "kmip-port": { type: "string", arg: "P", help: "KMIP port (default 5696)" },
    listen: { type: "string", arg: "ADDR", help: "listen address (default 0.0.0.0)" },
    "ca-key": { type: "string", arg: "TYPE", help: "CA key type: ec-p256 (default) or rsa-3072" },
    "time-zone": { type: "string", arg: "TZ", help: "IANA time zone for rollover at local midnight (default: this machine's)" },
    node: { type: "string", arg: "NAME", help: "node name (default: host name)" },
    "no-dual-control": {
      type: "boolean",
      help: "start with dual control off (default on: protected operations need a second admin); see docs/security.md",
    },
    "default-policy": {
      type: "string",
      arg: "P",
      help: "policy of keys without their own users/groups: owner-only (default) or any-authenticated",
    },
  },
  async run(inv) {
    const v = inv.values;
    const dir = resolve(reqStr(v, "dir"));
    const seal = optEnum(v, "seal", SEALS) ?? "shamir";
    const shares = optInt(v, "shares", 1, 255);
    const threshold = optInt(v, "threshold", 1, 255);
    if (seal !== "shamir" && (shares !== undefined || threshold !== undefined))
      throw new CliError("--shares and --threshold apply only to --seal shamir");
    const n = shares ?? 5;
    const m = threshold ?? Math.min(3, n);
    if (m > n) throw new CliError(`--threshold (${m}) cannot be larger than --shares (${n})`);
    const hosts = optList(v, "host") ?? ["localhost", "127.0.0.1"];
    if (hosts.length === 0) throw new CliError("--host needs at least one name");
    for (const h of hosts) if (!HOST.test(h)) throw new CliError(`--host: '${h}' is not a host name or IP address`);
    const tz = optStr(v, "time-zone");
    if (tz !== undefined && !isValidTimeZone(tz)) throw new CliError(`--time-zone: '${tz}' is not an IANA time zone`);
    const opts: InitOptions = {
      dir,
      seal,
      ...(seal === "shamir" ? { shares: n, threshold: m } : {}),
      hosts,
      apiPort: optInt(v, "api-port", 0, 65535) ?? 8443,
      kmipPort: optInt(v, "kmip-port", 0, 65535) ?? 5696,
      listenAddress: optStr(v, "listen"),
      caKeyType: optEnum(v, "ca-key", CA_KEYS),
      timeZone: tz,
      node: optStr(v, "node"),
      profile: "production",
      dualControl: v["no-dual-control"] !== true,
      defaultPolicy: optEnum(v, "default-policy", POLICIES) ?? "owner-only",
    };
    const p11 = ["pkcs11-module", "pkcs11-token", "pkcs11-key-label"].filter((k) => optStr(v, k) !== undefined);
    if (seal !== "pkcs11" && p11.length) throw new CliError(`--${p11[0]} applies only to --seal pkcs11`);
    if (seal === "pkcs11") {
      const pin = process.env.STRONGROOM_PKCS11_PIN || (process.stdin.isTTY ? await promptHidden("Token PIN: ") : "");
      if (!pin) throw new CliError("no token PIN: set STRONGROOM_PKCS11_PIN or run on a terminal to be asked");
      opts.pkcs11 = {
        module: resolve(reqStr(v, "pkcs11-module")),
        tokenLabel: reqStr(v, "pkcs11-token"),
        keyLabel: optStr(v, "pkcs11-key-label") ?? "strongroom-master",
        pin,
      };
    }
    if (seal === "passphrase") {
      opts.passphrase = await readPassphrase({ confirm: true });
      if (opts.passphrase.length < 12) throw new CliError("the passphrase must be at least 12 characters");
    }
    const progress = new Progress().spin(`initializing instance in ${dir} (keys, CA, certificates)…`);
    let result: InitResult;
    try {
      // Loaded here: the instance machinery (store, PKI) is not needed to start every other command.
      const { initInstance } = await import("../../init.js");
      result = await initInstance(opts);
    } finally {
      progress.done();
    }
    if (inv.json) printJson(result);
    else print(summary(result));
    return 0;
  },
};
