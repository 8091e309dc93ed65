// `strongroom keys …`: key lifecycle (create, list, show, update, rotate, revoke, delete) and on-board cryptography.
import { readFileSync, writeFileSync } from "node:fs";
import { USE_OPERATIONS } from "../../auth/policy.js";
import { CIPHER_MODES } from "../../crypto/ciphertext.js";
import { KEY_TYPES } from "../../crypto/keygen.js";
import { type KeyView, REVOCATION_REASONS } from "../../keys/key-model.js";
import { type CommandSpec, type Invocation, type OptSpec, optEnum, optInt, optList, optStr, reqStr, seg, type Values } from "../command.js";
import { CliError } from "../http-client.js";
import { kv, note, Progress, print, printJson, table } from "../output.js";
import { readStdin } from "../prompt.js";

const STATES = ["Pre-Active", "Active", "Deactivated", "Compromised", "Destroyed", "Destroyed Compromised"] as const;
const ROTATIONS = ["auto", "manual", "none"] as const;

interface KeySummary {
  name: string;
  type: string;
  state: string;
  currentVersion: number;
  owner: string;
  createdAt: string;
  deletionScheduledAt: string | null;
}

const path = (name: string, rest = "") => `/v1/keys/${seg(name)}${rest}`;

/** Human form of a key: metadata lines, then a table of its versions. */
function showKey(k: KeyView): string {
  const rotation =
    k.rotation.mode === "auto"
      ? `auto, every ${k.rotation.periodDays} days`
      : k.rotation.periodDays
        ? `${k.rotation.mode}, cryptoperiod ${k.rotation.periodDays} days`
        : k.rotation.mode;
  const head = kv({
    name: k.name,
    type: k.type,
    state: k.state,
    "current version": k.currentVersion,
    owner: k.owner,
    description: k.description,
    exportable: k.exportable ? "yes" : "no",
    rotation,
    "next rotation": k.nextRotationAt,
    "policy users": k.policy.users.length ? k.policy.users : "(system default)",
    "policy groups": k.policy.groups,
    "policy operations": k.policy.operations.length ? k.policy.operations : "(all)",
    created: k.createdAt,
    updated: k.updatedAt,
    ...(k.deletionScheduledAt ? { "destruction scheduled": k.deletionScheduledAt } : {}),
    ...(k.destroyedAt ? { destroyed: k.destroyedAt } : {}),
  });
  const versions = table(
    ["version", "id", "state", "created", "deactivated", "revocation"],
    k.versions.map((x) => [x.version, x.id, x.state, x.createdAt, x.deactivatedAt ?? x.compromisedAt, x.revocationReason]),
  );
  return `${head}\n${versions}`;
}

function printKey(inv: Invocation, k: KeyView): void {
  if (inv.json) printJson(k);
  else print(showKey(k));
}

const POLICY_OPTIONS: Record<string, OptSpec> = {
  rotation: { type: "string", arg: "MODE", help: "auto (every --period-days, at local midnight), manual, or none" },
  "period-days": {
    type: "string",
    arg: "N",
    help: "cryptoperiod in days: auto rotation period (implies --rotation auto); with --rotation manual, reported when exceeded",
  },
  users: { type: "string", arg: "A,B", help: "CNs allowed to use the key (comma-separated; '' clears)" },
  groups: { type: "string", arg: "G,H", help: "OUs allowed to use the key (comma-separated; '' clears)" },
  operations: { type: "string", arg: "OPS", help: `allowed use operations (${USE_OPERATIONS.join(",")}; '' = all)` },
  "no-export": { type: "boolean", help: "forbid retrieving or exporting the key material (cannot be undone)" },
  description: { type: "string", arg: "TEXT", help: "free-text description" },
};

/** The rotation, policy, exportable and description fields of create/update bodies. */
function keySettings(v: Values): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const mode = optEnum(v, "rotation", ROTATIONS);
  const period = optInt(v, "period-days", 1, 3650);
  if (mode !== undefined || period !== undefined)
    body.rotation = { mode: mode ?? "auto", ...(period !== undefined ? { periodDays: period } : {}) };
  const policy: Record<string, string[]> = {};
  const users = optList(v, "users");
  const groups = optList(v, "groups");
  const ops = optList(v, "operations");
  if (users) policy.users = users;
  if (groups) policy.groups = groups;
  if (ops) {
    for (const o of ops)
      if (!(USE_OPERATIONS as readonly string[]).includes(o))
        throw new CliError(`--operations: '${o}' is not one of ${USE_OPERATIONS.join(", ")}`);
    policy.operations = ops;
  }
  if (Object.keys(policy).length) body.policy = policy;
  // One-way, like KMIP Extractable: there is no flag to make a key exportable again.
  if (v["no-export"] === true) body.exportable = false;
  const description = optStr(v, "description");
  if (description !== undefined) body.description = description;
  return body;
}

const b64utf8 = (s: string) => Buffer.from(s, "utf8").toString("base64");

const create: CommandSpec = {
  path: ["keys", "create"],
  summary: "Create a key (version 1, Active). You become its owner.",
  args: "NAME",
  positionals: [1, 1],
  options: { type: { type: "string", arg: "T", help: `key type: ${KEY_TYPES.join(", ")}` }, ...POLICY_OPTIONS },
  client: true,
  async run(inv) {
    const type = reqStr(inv.values, "type");
    optEnum(inv.values, "type", KEY_TYPES);
    const body = { name: inv.positionals[0], type, ...keySettings(inv.values) };
    printKey(inv, await inv.api().call<KeyView>("POST", "/v1/keys", { body }));
    return 0;
  },
};

const list: CommandSpec = {
  path: ["keys", "list"],
  summary: "List keys sorted by name, with filters; --all follows the pages to the end.",
  options: {
    prefix: { type: "string", arg: "P", help: "only names starting with P" },
    state: { type: "string", arg: "S", help: `only keys whose current version is in state S (${STATES.join(", ")})` },
    type: { type: "string", arg: "T", help: "only keys of type T" },
    limit: { type: "string", arg: "N", help: "page size (1-1000, default 100)" },
    cursor: { type: "string", arg: "C", help: "continue after this name (the `next` of the previous page)" },
    all: { type: "boolean", help: "fetch every page" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const query = {
      prefix: optStr(v, "prefix"),
      state: optEnum(v, "state", STATES),
      type: optEnum(v, "type", KEY_TYPES),
      limit: optInt(v, "limit", 1, 1000),
      cursor: optStr(v, "cursor"),
    };
    type Page = { keys: KeySummary[]; next: string | null };
    let page = await inv.api().call<Page>("GET", "/v1/keys", { query });
    const keys = [...page.keys];
    if (v.all) {
      const progress = new Progress().spin(`listing keys… ${keys.length}`);
      try {
        while (page.next) {
          page = await inv.api().call<Page>("GET", "/v1/keys", { query: { ...query, cursor: page.next } });
          keys.push(...page.keys);
          progress.update(`listing keys… ${keys.length}`);
        }
      } finally {
        progress.done();
      }
    }
    if (inv.json) {
      printJson({ keys, next: page.next });
      return 0;
    }
    if (keys.length === 0) print("no keys");
    else
      print(
        table(
          ["name", "type", "state", "version", "owner", "created", "deletion"],
          keys.map((k) => [k.name, k.type, k.state, k.currentVersion, k.owner, k.createdAt, k.deletionScheduledAt]),
        ),
      );
    if (page.next) note(`more keys: --cursor ${page.next} (or --all)`);
    return 0;
  },
};

const show: CommandSpec = {
  path: ["keys", "show"],
  summary: "Show a key: metadata, policy and every version.",
  args: "NAME",
  positionals: [1, 1],
  options: {},
  client: true,
  async run(inv) {
    printKey(inv, await inv.api().call<KeyView>("GET", path(inv.positionals[0])));
    return 0;
  },
};

const update: CommandSpec = {
  path: ["keys", "update"],
  summary:
    "Change a key's rotation, policy or description, or make it non-exportable for good (policy lists given replace those lists only).",
  args: "NAME",
  positionals: [1, 1],
  options: POLICY_OPTIONS,
  client: true,
  async run(inv) {
    const body = keySettings(inv.values);
    if (Object.keys(body).length === 0)
      throw new CliError(
        "nothing to change: give --rotation, --period-days, --users, --groups, --operations, --description or --no-export",
      );
    printKey(inv, await inv.api().call<KeyView>("PATCH", path(inv.positionals[0]), { body }));
    return 0;
  },
};

const rotate: CommandSpec = {
  path: ["keys", "rotate"],
  summary: "Create a new version and make it current; older versions stay usable for decryption.",
  args: "NAME",
  positionals: [1, 1],
  options: {},
  client: true,
  async run(inv) {
    printKey(inv, await inv.api().call<KeyView>("POST", path(inv.positionals[0], "/rotate")));
    return 0;
  },
};

const revoke: CommandSpec = {
  path: ["keys", "revoke"],
  summary: "Revoke a key (all versions) or one version: compromise reasons move it to Compromised, others to Deactivated.",
  args: "NAME",
  positionals: [1, 1],
  options: {
    reason: { type: "string", arg: "R", help: `required: ${REVOCATION_REASONS.join(", ")}` },
    version: { type: "string", arg: "N", help: "revoke only this version" },
    message: { type: "string", arg: "TEXT", help: "free-text note for the audit log" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    reqStr(v, "reason");
    const body = {
      reason: optEnum(v, "reason", REVOCATION_REASONS),
      version: optInt(v, "version", 1, 2 ** 31 - 1),
      message: optStr(v, "message"),
    };
    printKey(inv, await inv.api().call<KeyView>("POST", path(inv.positionals[0], "/revoke"), { body }));
    return 0;
  },
};

const del: CommandSpec = {
  path: ["keys", "delete"],
  summary: "Schedule destruction of a key after a waiting period (default 30 days); cancellable until then.",
  args: "NAME",
  positionals: [1, 1],
  options: { "pending-days": { type: "string", arg: "N", help: "waiting period in days (1-365, default 30)" } },
  client: true,
  async run(inv) {
    const pendingDays = optInt(inv.values, "pending-days", 1, 365);
    const k = await inv.api().call<KeyView>("DELETE", path(inv.positionals[0]), pendingDays !== undefined ? { body: { pendingDays } } : {});
    if (!inv.json)
      note(`key '${k.name}' will be destroyed at ${k.deletionScheduledAt ?? "-"} (cancel with: strongroom keys cancel-deletion ${k.name})`);
    printKey(inv, k);
    return 0;
  },
};

const cancelDeletion: CommandSpec = {
  path: ["keys", "cancel-deletion"],
  summary: "Cancel a scheduled destruction.",
  args: "NAME",
  positionals: [1, 1],
  options: {},
  client: true,
  async run(inv) {
    printKey(inv, await inv.api().call<KeyView>("POST", path(inv.positionals[0], "/cancel-deletion")));
    return 0;
  },
};

const material: CommandSpec = {
  path: ["keys", "material"],
  summary: "Retrieve key material (base64): raw bytes for AES/HMAC, PKCS#8 DER for RSA/EC. Prints the secret.",
  args: "NAME",
  positionals: [1, 1],
  options: { version: { type: "string", arg: "N", help: "version (default: the current one)" } },
  client: true,
  async run(inv) {
    const m = await inv
      .api()
      .call<{ material: string; version: number; format: string; publicKey: string | null }>("GET", path(inv.positionals[0], "/material"), {
        query: { version: optInt(inv.values, "version", 1, 2 ** 31 - 1) },
      });
    if (inv.json) printJson(m);
    else print(kv({ name: inv.positionals[0], version: m.version, format: m.format, material: m.material, "public key": m.publicKey }));
    return 0;
  },
};

const encrypt: CommandSpec = {
  path: ["keys", "encrypt"],
  summary: "Encrypt on the server with the key's current version; prints the self-describing ciphertext (base64).",
  args: "NAME",
  positionals: [1, 1],
  details: "The plaintext comes from --plaintext TEXT, --in FILE, or standard input (bytes, as they are).",
  options: {
    plaintext: { type: "string", arg: "TEXT", help: "text to encrypt (UTF-8)" },
    in: { type: "string", arg: "FILE", help: "file to encrypt" },
    context: { type: "string", arg: "TEXT", help: "additional authenticated data (AES-GCM); give the same to decrypt" },
    algorithm: { type: "string", arg: "A", help: `cipher mode: ${CIPHER_MODES.join(", ")} (default aes-gcm)` },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const text = optStr(v, "plaintext");
    const file = optStr(v, "in");
    if (text !== undefined && file !== undefined) throw new CliError("give only one of --plaintext, --in");
    const algorithm = optEnum(v, "algorithm", CIPHER_MODES);
    let data: Buffer;
    if (text !== undefined) data = Buffer.from(text, "utf8");
    else if (file !== undefined) data = readInput(file);
    else {
      if (process.stdin.isTTY) throw new CliError("no plaintext: give --plaintext TEXT, --in FILE, or pipe the data to standard input");
      data = await readStdin();
    }
    const context = optStr(v, "context");
    const body = {
      plaintext: data.toString("base64"),
      ...(context !== undefined ? { context: b64utf8(context) } : {}),
      ...(algorithm ? { algorithm } : {}),
    };
    data.fill(0);
    const r = await inv.api().call<{ ciphertext: string; version: number }>("POST", path(inv.positionals[0], "/encrypt"), { body });
    if (inv.json) printJson(r);
    else print(r.ciphertext);
    return 0;
  },
};

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

const decrypt: CommandSpec = {
  path: ["keys", "decrypt"],
  summary: "Decrypt ciphertext from `keys encrypt`; writes the raw plaintext bytes to stdout or --out FILE.",
  args: "NAME",
  positionals: [1, 1],
  details: "The ciphertext (base64) comes from --ciphertext or standard input. With --json the response is printed\n(plaintext in base64).",
  options: {
    ciphertext: { type: "string", arg: "B64", help: "ciphertext (base64) as printed by keys encrypt" },
    context: { type: "string", arg: "TEXT", help: "the additional authenticated data given to encrypt" },
    out: { type: "string", arg: "FILE", help: "write the plaintext to FILE (mode 0600) instead of stdout" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    let ct = optStr(v, "ciphertext");
    if (ct === undefined) {
      if (process.stdin.isTTY) throw new CliError("no ciphertext: give --ciphertext B64 or pipe it to standard input");
      ct = (await readStdin()).toString("utf8");
    }
    ct = ct.replace(/\s+/g, "");
    if (!ct || !B64.test(ct)) throw new CliError("the ciphertext must be standard base64 (as printed by keys encrypt)");
    const context = optStr(v, "context");
    const body = { ciphertext: ct, ...(context !== undefined ? { context: b64utf8(context) } : {}) };
    const r = await inv.api().call<{ plaintext: string; version: number }>("POST", path(inv.positionals[0], "/decrypt"), { body });
    const out = optStr(v, "out");
    if (out !== undefined) {
      const data = Buffer.from(r.plaintext, "base64");
      writeFileSync(out, data, { mode: 0o600 });
      data.fill(0);
      if (inv.json) printJson({ version: r.version, out });
      return 0;
    }
    if (inv.json) printJson(r);
    else process.stdout.write(Buffer.from(r.plaintext, "base64"));
    return 0;
  },
};

function readInput(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CliError(`cannot read ${file}: ${err.code === "ENOENT" ? "no such file" : err.message}`, { code: "file_error" });
  }
}

interface ExportReply {
  name: string;
  version: number;
  type: string;
  format: string;
  scheme: string;
  wrappingKey: { name: string; version: number; id: string } | { fingerprint: string; bits: number };
  wrapped: string;
}

const exportKey: CommandSpec = {
  path: ["keys", "export"],
  summary: "Export a key wrapped under a named RSA/AES key on this server or an RSA public key from a file (never in clear).",
  args: "NAME",
  positionals: [1, 1],
  details:
    "RSA wrapping keys use rsa-aes-kwp (RSA-OAEP-SHA-256 of a fresh AES-256 key, then AES-KWP: PKCS#11 CKM_RSA_AES_KEY_WRAP);\n" +
    "AES wrapping keys use aes-kwp (RFC 5649). To move a key to another Strongroom, give its `keys wrapping-key` PEM\n" +
    "as --public-key and import the file there with `keys import NAME --type T --wrapped FILE`.",
  options: {
    "wrapping-key": { type: "string", arg: "NAME", help: "wrap under this RSA or AES key held by the server" },
    "public-key": { type: "string", arg: "FILE", help: "wrap under the RSA public key (PEM, >= 2048 bits) in FILE" },
    version: { type: "string", arg: "N", help: "version to export (default: the current one)" },
    out: { type: "string", arg: "FILE", help: "write the wrapped bytes (binary) to FILE instead of printing base64" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const named = optStr(v, "wrapping-key");
    const pemFile = optStr(v, "public-key");
    if ((named === undefined) === (pemFile === undefined)) throw new CliError("give exactly one of --wrapping-key NAME, --public-key FILE");
    const wrappingKey = named !== undefined ? { name: named } : { publicKey: readInput(pemFile as string).toString("utf8") };
    const body = { wrappingKey, version: optInt(v, "version", 1, 2 ** 31 - 1) };
    const r = await inv.api().call<ExportReply>("POST", path(inv.positionals[0], "/export"), { body });
    const out = optStr(v, "out");
    if (out !== undefined) writeFileSync(out, Buffer.from(r.wrapped, "base64"), { mode: 0o600 });
    const wk =
      "name" in r.wrappingKey ? `${r.wrappingKey.name} v${r.wrappingKey.version}` : `public key sha256:${r.wrappingKey.fingerprint}`;
    if (inv.json) printJson(out !== undefined ? { ...r, wrapped: undefined, out } : r);
    else
      print(
        kv({
          name: r.name,
          version: r.version,
          type: r.type,
          format: r.format,
          scheme: r.scheme,
          "wrapping key": wk,
          ...(out !== undefined ? { out } : { wrapped: r.wrapped }),
        }),
      );
    return 0;
  },
};

const importKey: CommandSpec = {
  path: ["keys", "import"],
  summary: "Import a key wrapped under this server's import key (`keys wrapping-key`), as a new key or a new version.",
  args: "NAME",
  positionals: [1, 1],
  details: "FILE holds the rsa-aes-kwp blob as written by `keys export --out` (binary) or as base64 text.",
  options: {
    type: { type: "string", arg: "T", help: `key type: ${KEY_TYPES.join(", ")}` },
    wrapped: { type: "string", arg: "FILE", help: "the wrapped key (binary or base64)" },
    "new-version": { type: "boolean", help: "add the material as a new version of the existing key NAME (needs the rotate right)" },
    "wrapping-key-id": { type: "string", arg: "ID", help: "the import key version it is wrapped under (default: current)" },
    ...POLICY_OPTIONS,
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const type = reqStr(v, "type");
    optEnum(v, "type", KEY_TYPES);
    const raw = readInput(reqStr(v, "wrapped"));
    const text = raw.toString("latin1").replace(/\s+/g, "");
    const wrapped = text.length >= 32 && B64.test(text) ? text : raw.toString("base64");
    const settings = keySettings(v);
    if (v["new-version"] === true && Object.keys(settings).length)
      throw new CliError("--new-version takes no rotation, policy, description or export settings");
    const body = {
      name: inv.positionals[0],
      type,
      wrapped,
      scheme: "rsa-aes-kwp",
      ...(v["new-version"] === true ? { version: "new-version" } : {}),
      ...(optStr(v, "wrapping-key-id") !== undefined ? { wrappingKeyId: optStr(v, "wrapping-key-id") } : {}),
      ...settings,
    };
    printKey(inv, await inv.api().call<KeyView>("POST", "/v1/keys/import", { body }));
    return 0;
  },
};

const wrappingKey: CommandSpec = {
  path: ["keys", "wrapping-key"],
  summary: "Print this server's BYOK import key (PEM public key and key id); others wrap keys for `keys import` under it.",
  options: { out: { type: "string", arg: "FILE", help: "also write the PEM to FILE" } },
  client: true,
  async run(inv) {
    const r = await inv.api().call<{ keyId: string; fingerprint: string; publicKey: string }>("GET", "/v1/sys/wrapping-key");
    const out = optStr(inv.values, "out");
    if (out !== undefined) writeFileSync(out, r.publicKey);
    if (inv.json) printJson(r);
    else {
      note(`key id ${r.keyId}, sha256:${r.fingerprint}`);
      process.stdout.write(r.publicKey);
    }
    return 0;
  },
};

export const keyCommands: CommandSpec[] = [
  create,
  list,
  show,
  update,
  rotate,
  revoke,
  del,
  cancelDeletion,
  material,
  encrypt,
  decrypt,
  exportKey,
  importKey,
  wrappingKey,
];
