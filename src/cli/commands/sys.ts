// `strongroom unseal` and `strongroom status`: the /v1/sys resource.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { CONFIG_FILE } from "../../config/config.js";
import { type CommandSpec, optStr } from "../command.js";
import { instanceDir } from "../connection.js";
import { ApiError, CliError } from "../http-client.js";
import { kv, print, printJson } from "../output.js";
import { readPassphrase, readSecretLine } from "../prompt.js";

interface UnsealStatus {
  sealed: boolean;
  type: "shamir" | "passphrase" | "file";
  threshold: number;
  progress: number;
}

interface Health {
  status: string;
  sealed: boolean;
  version: string;
  node: string;
}

interface SysStatus {
  node: string;
  version: string;
  identity: { cn: string; ou: string; role: string };
  uptimeSeconds: number;
  seal: UnsealStatus;
}

/** The seal type from DIR/strongroom.yaml, or null when there is no readable local configuration. */
function localSealType(dir: string | null): string | null {
  if (!dir) return null;
  try {
    const cfg = YAML.parse(readFileSync(join(dir, CONFIG_FILE), "utf8")) as { seal?: { type?: string } } | null;
    return typeof cfg?.seal?.type === "string" ? cfg.seal.type : null;
  } catch {
    return null;
  }
}

const sealText = (s: UnsealStatus): string =>
  s.sealed ? `sealed (${s.type}${s.type === "shamir" ? `, ${s.progress}/${s.threshold} shares submitted` : ""})` : `unsealed (${s.type})`;

function duration(sec: number): string {
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = sec % 60;
  return [d ? `${d}d` : "", d || h ? `${h}h` : "", d || h || m ? `${m}m` : "", `${s}s`].filter(Boolean).join(" ");
}

export const unsealCommand: CommandSpec = {
  path: ["unseal"],
  summary: "Submit one unseal share (shamir seal) or the passphrase (passphrase seal).",
  args: "[SHARE]",
  positionals: [0, 1],
  details:
    "Without SHARE the share is read from standard input (first line), or asked for without echo on a terminal.\n" +
    "For the passphrase seal (named in DIR/strongroom.yaml, or --passphrase) the passphrase comes from\n" +
    "STRONGROOM_PASSPHRASE or a prompt without echo. Prints `unseal progress N/M` or `unsealed`.",
  options: {
    passphrase: { type: "boolean", help: "submit the passphrase (the default when DIR/strongroom.yaml has the passphrase seal)" },
  },
  client: true,
  async run(inv) {
    const api = inv.api();
    let body: { share: string } | { passphrase: string };
    const given = inv.positionals[0];
    if (given !== undefined) body = { share: given.trim() };
    else {
      // The sealed server does not say which seal it has, so the local configuration decides; without
      // one, a passphrase in the environment (or --passphrase) means the passphrase seal.
      const local = localSealType(instanceDir({ dir: optStr(inv.values, "dir") }));
      const type = inv.values.passphrase ? "passphrase" : (local ?? (process.env.STRONGROOM_PASSPHRASE ? "passphrase" : "shamir"));
      if (type === "file") throw new CliError("this instance uses the file seal: the server unseals itself when it starts");
      body =
        type === "passphrase"
          ? { passphrase: await readPassphrase({ confirm: false }) }
          : { share: await readSecretLine("Unseal share: ") };
    }
    const s = await api.call<UnsealStatus>("POST", "/v1/sys/unseal", { body });
    if (inv.json) printJson(s);
    else print(s.sealed ? `unseal progress ${s.progress}/${s.threshold}` : "unsealed");
    return 0;
  },
};

export const statusCommand: CommandSpec = {
  path: ["status"],
  summary: "Show the server's node, version, seal state and who you are connected as (an authenticated no-op).",
  options: {},
  client: true,
  async run(inv) {
    let s: SysStatus;
    try {
      s = await inv.api().call<SysStatus>("GET", "/v1/sys/status");
    } catch (e) {
      // A sealed server answers only health and unseal.
      if (!(e instanceof ApiError) || e.code !== "sealed") throw e;
      const h = await inv.api().call<Health>("GET", "/v1/sys/health");
      if (inv.json) printJson(h);
      else
        print(
          kv({ server: inv.api().addr, node: h.node, version: h.version, seal: "sealed (submit unseal shares with strongroom unseal)" }),
        );
      return 0;
    }
    if (inv.json) printJson(s);
    else
      print(
        kv({
          server: inv.api().addr,
          node: s.node,
          version: s.version,
          identity: `${s.identity.cn} (OU ${s.identity.ou || "-"}, role ${s.identity.role})`,
          uptime: duration(s.uptimeSeconds),
          seal: sealText(s.seal),
        }),
      );
    return 0;
  },
};
