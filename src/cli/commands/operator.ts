// `strongroom operator …`: rekey (new Shamir shares), rotate-master, rotate-kek (with a progress bar), seal.
import { type CommandSpec, optInt, optStr } from "../command.js";
import { CliError, type HttpClient } from "../http-client.js";
import { kv, note, Progress, print, printJson } from "../output.js";
import { promptHidden, readSecretLine } from "../prompt.js";

interface RekeyStatus {
  started: boolean;
  nonce: string | null;
  shares: number | null;
  threshold: number | null;
  progress: number;
  required: number;
  startedAt: string | null;
  startedBy: string | null;
}

interface RekeyResult extends RekeyStatus {
  complete: boolean;
  newShares?: string[];
}

interface RotationProgress {
  state: "idle" | "running" | "paused";
  currentKek: number;
  keks: number[];
  total: number;
  done: number;
  remaining: number;
  startedAt: string | null;
  lastError: string | null;
  finishedAt: string | null;
}

interface SysStatus {
  seal: { type: string };
}

function sharesBanner(r: RekeyResult): string {
  const bar = "!".repeat(78);
  const out = [
    bar,
    "!!  NEW UNSEAL SHARES: SHOWN THIS ONCE AND NEVER STORED. DISTRIBUTE THEM NOW.",
    `!!  Any ${r.threshold} of these ${r.shares} shares unseal the server from now on; the old shares no longer work.`,
    bar,
    ...(r.newShares ?? []).map((s, i) => `  share ${i + 1}: ${s}`),
    bar,
  ];
  return `${out.join("\n")}\n`;
}

export const rekeyCommand: CommandSpec = {
  path: ["operator", "rekey"],
  summary: "Replace the Shamir unseal shares (optionally with a new count and threshold); needs M current shares.",
  args: "[SHARE]",
  positionals: [0, 1],
  details:
    "An admin starts a rekey with --init --shares N --threshold M. Then each custodian submits one CURRENT\n" +
    "share (SHARE, standard input, or a prompt without echo); the nonce is read from the server unless\n" +
    "--nonce is given. The call that reaches the current threshold prints the NEW shares, once: the master\n" +
    "key is replaced and the old shares stop working. --status shows progress, --cancel abandons the rekey.",
  options: {
    init: { type: "boolean", help: "start a rekey (with --shares and --threshold)" },
    shares: { type: "string", arg: "N", help: "with --init: number of new shares (1-255)" },
    threshold: { type: "string", arg: "M", help: "with --init: new shares needed to unseal (1-N)" },
    status: { type: "boolean", help: "show the rekey in progress" },
    cancel: { type: "boolean", help: "cancel the rekey in progress (the current shares stay valid)" },
    nonce: { type: "string", arg: "NONCE", help: "the rekey's nonce (default: the one in progress)" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const api = inv.api();
    const modes = ["init", "status", "cancel"].filter((m) => v[m] === true);
    if (modes.length > 1) throw new CliError("give at most one of --init, --status, --cancel");
    if (modes.length && inv.positionals.length) throw new CliError(`a share is not taken with --${modes[0]}`);
    if (v.init) {
      const shares = optInt(v, "shares", 1, 255);
      const threshold = optInt(v, "threshold", 1, 255);
      if (shares === undefined || threshold === undefined) throw new CliError("--init needs --shares and --threshold");
      if (threshold > shares) throw new CliError(`--threshold (${threshold}) cannot be larger than --shares (${shares})`);
      const s = await api.call<RekeyStatus>("POST", "/v1/sys/rekey/init", { body: { shares, threshold } });
      if (inv.json) printJson(s);
      else
        print(
          `${kv({ nonce: s.nonce, "new shares": `${s.threshold} of ${s.shares}`, "current shares needed": s.required })}` +
            "Each custodian now runs: strongroom operator rekey   (one current share each)",
        );
      return 0;
    }
    if (v.status) {
      const s = await api.call<RekeyStatus>("GET", "/v1/sys/rekey");
      if (inv.json) printJson(s);
      else if (!s.started) print("no rekey in progress");
      else
        print(
          kv({
            nonce: s.nonce,
            "new shares": `${s.threshold} of ${s.shares}`,
            progress: `${s.progress}/${s.required} current shares`,
            "started by": s.startedBy,
            "started at": s.startedAt,
          }),
        );
      return 0;
    }
    if (v.cancel) {
      const r = await api.call<{ cancelled: boolean }>("DELETE", "/v1/sys/rekey");
      if (inv.json) printJson(r);
      else print(r.cancelled ? "rekey cancelled; the current shares stay valid" : "no rekey was in progress");
      return 0;
    }
    if (optStr(v, "shares") !== undefined || optStr(v, "threshold") !== undefined)
      throw new CliError("--shares and --threshold go with --init");
    let nonce = optStr(v, "nonce");
    if (!nonce) {
      const s = await api.call<RekeyStatus>("GET", "/v1/sys/rekey");
      if (!s.started || !s.nonce) throw new CliError("no rekey in progress: an admin starts one with strongroom operator rekey --init");
      nonce = s.nonce;
    }
    const share = inv.positionals[0]?.trim() || (await readSecretLine("Current unseal share: "));
    const r = await api.call<RekeyResult>("POST", "/v1/sys/rekey/update", { body: { nonce, share } });
    if (inv.json) printJson(r);
    else if (r.complete) print(`rekey complete: the master key was replaced\n${sharesBanner(r)}`);
    else print(`rekey progress ${r.progress}/${r.required}`);
    return 0;
  },
};

/** A passphrase from an environment variable or the terminal (never from the command line). */
async function secretFrom(env: string, prompt: string, confirm: boolean): Promise<string> {
  const fromEnv = process.env[env];
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) throw new CliError(`set ${env} or run on a terminal to be asked`);
  const first = await promptHidden(prompt);
  if (!first) throw new CliError("empty input");
  if (confirm && (await promptHidden(`Repeat ${prompt.charAt(0).toLowerCase()}${prompt.slice(1)}`)) !== first)
    throw new CliError("the entries do not match");
  return first;
}

export const rotateMasterCommand: CommandSpec = {
  path: ["operator", "rotate-master"],
  summary: "Replace the master key and re-wrap the keyring under it (no data key is re-encrypted).",
  details:
    "passphrase seal: the current passphrase (STRONGROOM_PASSPHRASE or a prompt) and the new one\n" +
    "(STRONGROOM_NEW_PASSPHRASE or two prompts). file seal: a new key file is written atomically (0600).\n" +
    "pkcs11 seal: a new non-extractable key --new-key-label is created in the token (the old one stays\n" +
    "there until you delete it); the PIN is the server's STRONGROOM_PKCS11_PIN, or this shell's.\n" +
    "shamir seal: a new master key means new shares: use strongroom operator rekey.",
  options: {
    "new-key-label": { type: "string", arg: "LABEL", help: "pkcs11: label of the new HSM key" },
  },
  client: true,
  async run(inv) {
    const api = inv.api();
    const type = (await api.call<SysStatus>("GET", "/v1/sys/status")).seal.type;
    let body: Record<string, string> = {};
    if (type === "shamir") throw new CliError("this instance uses the shamir seal: use strongroom operator rekey for a new master key");
    if (type !== "pkcs11" && optStr(inv.values, "new-key-label") !== undefined)
      throw new CliError("--new-key-label applies to the pkcs11 seal");
    if (type === "passphrase") {
      const passphrase = await secretFrom("STRONGROOM_PASSPHRASE", "Current passphrase: ", false);
      const newPassphrase = await secretFrom("STRONGROOM_NEW_PASSPHRASE", "New passphrase: ", true);
      if (newPassphrase.length < 12) throw new CliError("the new passphrase must be at least 12 characters");
      body = { passphrase, newPassphrase };
    } else if (type === "pkcs11") {
      const label = optStr(inv.values, "new-key-label");
      if (!label) throw new CliError("--new-key-label is required for the pkcs11 seal");
      body = { newKeyLabel: label, ...(process.env.STRONGROOM_PKCS11_PIN ? { pin: process.env.STRONGROOM_PKCS11_PIN } : {}) };
    }
    const r = await api.call<{ type: string; rotated: boolean }>("POST", "/v1/sys/rotate-master", { body });
    if (inv.json) printJson(r);
    else print(`master key replaced (${r.type} seal); the keyring is wrapped under the new key`);
    return 0;
  },
};

/** `[██████░░░░] 60% 120/200` */
export function progressBar(done: number, total: number, width = 30): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const full = Math.round(frac * width);
  return `[${"#".repeat(full)}${"-".repeat(width - full)}] ${Math.floor(frac * 100)}% ${done}/${total}`;
}

async function follow(api: HttpClient, first: RotationProgress, json: boolean): Promise<RotationProgress> {
  const bar = new Progress();
  const tty = Boolean(process.stderr.isTTY);
  let p = first;
  let shown = -1;
  try {
    while (p.state === "running" && p.remaining > 0) {
      if (tty) bar.spin(`re-wrapping onto KEK ${p.currentKek} ${progressBar(p.done, p.total)}`);
      else if (!json && p.done !== shown) note(`re-wrapping onto KEK ${p.currentKek}: ${p.done}/${p.total}`);
      shown = p.done;
      await new Promise((r) => setTimeout(r, 500));
      p = await api.call<RotationProgress>("GET", "/v1/sys/rotate-kek");
    }
  } finally {
    bar.done();
  }
  return p;
}

function rotationText(p: RotationProgress): string {
  const where =
    p.state === "idle"
      ? "complete: every key is wrapped under the current KEK"
      : p.state === "running"
        ? p.remaining === 0
          ? "everything re-wrapped; the old KEKs are dropped shortly"
          : "running"
        : `paused with ${p.remaining} left${p.lastError ? ` (${p.lastError})` : ""}; it resumes at unseal or with strongroom operator rotate-kek`;
  return kv({
    "current KEK": p.currentKek,
    KEKs: p.keks.join(", "),
    progress: progressBar(p.done, p.total),
    state: where,
  });
}

export const rotateKekCommand: CommandSpec = {
  path: ["operator", "rotate-kek"],
  summary: "Make a new KEK current and re-wrap every key onto it in the background, showing progress.",
  details:
    "New keys use the new KEK at once. The re-wrap runs in batches on the server and survives restarts;\n" +
    "old KEKs are dropped once nothing is wrapped under them. Without --no-wait the command follows the\n" +
    "progress until everything is re-wrapped. --status only shows the progress.",
  options: {
    status: { type: "boolean", help: "show the progress of the current or last rotation; rotate nothing" },
    "no-wait": { type: "boolean", help: "start the rotation and return at once" },
  },
  client: true,
  async run(inv) {
    const api = inv.api();
    let p = inv.values.status
      ? await api.call<RotationProgress>("GET", "/v1/sys/rotate-kek")
      : await api.call<RotationProgress>("POST", "/v1/sys/rotate-kek");
    if (!inv.values.status && !inv.values["no-wait"]) p = await follow(api, p, inv.json);
    if (inv.json) printJson(p);
    else print(rotationText(p));
    return 0;
  },
};

export const sealCommand: CommandSpec = {
  path: ["operator", "seal"],
  summary: "Seal the server now: master key, KEKs and cached key material are zeroed; only health and unseal are served.",
  details:
    "Unseal again with strongroom unseal (shamir shares, passphrase, or the pkcs11 PIN with --passphrase).\n" +
    "A file-sealed server unseals only when it is restarted.",
  options: {},
  client: true,
  async run(inv) {
    const r = await inv.api().call<{ sealed: boolean }>("POST", "/v1/sys/seal");
    if (inv.json) printJson(r);
    else print("sealed");
    return 0;
  },
};

export const operatorCommands: CommandSpec[] = [rekeyCommand, rotateMasterCommand, rotateKekCommand, sealCommand];
