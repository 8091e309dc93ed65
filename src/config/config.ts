// The instance configuration (DIR/strongroom.yaml): load, validate, resolve paths relative to the instance directory.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import YAML from "yaml";
import type { DefaultPolicy } from "../auth/policy.js";
import { isValidTimeZone } from "../keys/rollover.js";
import { LOG_LEVELS, type LogLevel } from "../logger.js";
import { SEAL_TYPES, type SealConfig } from "../seal/barrier.js";
import { validateAllowlists } from "./allowlists.js";
import { ConfigError } from "./config-error.js";
import { configValidator } from "./config-schema.js";

export { ConfigError } from "./config-error.js";

export interface Config {
  /** Absolute path of the instance directory. */
  dir: string;
  node: string;
  timeZone: string;
  listen: { address: string; apiPort: number; kmipPort: number };
  /**
   * `syncReads`: also fsync the audit events of reads and refusals before their reply (default false: they are
   * committed before the reply and on disk within ~50 ms; every change is always on disk before its reply).
   */
  storage: { type: "sqlite"; path: string; syncReads?: boolean };
  tls: { ca: string; cert: string; key: string };
  seal: SealConfig;
  policy: { default: DefaultPolicy };
  limits: { maxBodyBytes: number; keyCacheSize: number; kmipMaxFrameBytes: number; kmipMaxBatchItems: number } & ConnectionLimits &
    ResponseLimits;
  /** Initial governance settings; once the server runs, the stored settings (changed under dual control) win. */
  governance: GovernanceConfig;
  /** Optional CIDR allowlists per listener ("api", "kmip") and role; empty or absent = any address (src/transport/allowlist.ts). */
  allowlists: { api?: Allowlist; kmip?: Allowlist };
  /** The server log (src/logger.ts): its level; `--log-level` on the command line wins. */
  log: { level: LogLevel };
}

/** Response sizes (finding: response amplification); see docs/security.md "Cryptography and response limits". */
export interface ResponseLimits {
  /** Largest response (KMIP message in its encoding, REST batch results): items past it fail with Response Too Large. */
  maxResponseBytes: number;
  /** Bytes of KMIP responses being built or written at once, across all connections. */
  responseMemoryBytes: number;
  /** Object identifiers one KMIP Locate returns at most (with or without Maximum Items; page with Offset Items). */
  kmipLocateMaxItems: number;
  /** Candidates one KMIP Locate may check one by one for attributes SQL cannot read (more: refused, never cut). */
  kmipLocateScanMax: number;
}

export const RESPONSE_LIMIT_DEFAULTS: ResponseLimits = {
  maxResponseBytes: 8 * 1024 * 1024,
  responseMemoryBytes: 64 * 1024 * 1024,
  kmipLocateMaxItems: 1000,
  kmipLocateScanMax: 10_000,
};

export interface GovernanceConfig {
  dualControl: boolean;
  approvalWindowMinutes: number;
  /** Distinct people needed for a protected operation: the requester plus quorum-1 other admins. */
  quorum: number;
  pciMode: boolean;
}

/**
 * CIDRs (IPv4 or IPv6; a bare address is a /32 or /128) admitted for every connection (`all`, checked when the TCP
 * connection arrives) and per role (checked on each request). An address must match every list that applies: `all`
 * when given and its role's list when given.
 */
export interface Allowlist {
  all?: string[];
  admin?: string[];
  auditor?: string[];
  client?: string[];
  peer?: string[];
}

/**
 * Connection limits and deadlines of both listeners (src/transport/connection-guard.ts): counts are checked when the
 * TCP connection arrives, before any TLS byte; the deadlines close connections that do not progress.
 */
export interface ConnectionLimits {
  /** Open connections across both listeners; more are closed on arrival. */
  maxConnections: number;
  /** Open connections from one source address across both listeners. */
  maxConnectionsPerAddress: number;
  /** From TCP accept to a completed TLS handshake. */
  handshakeTimeoutMs: number;
  /** From the handshake to the first complete request (HTTP request headers; KMIP frame). */
  firstRequestTimeoutMs: number;
  /** From the first byte of a KMIP frame to its last. */
  frameTimeoutMs: number;
  /** Bytes of partial KMIP frames held across all connections; the connection that would exceed it is closed. */
  maxBufferedInputBytes: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 4096,
  maxConnectionsPerAddress: 256,
  handshakeTimeoutMs: 10_000,
  firstRequestTimeoutMs: 10_000,
  frameTimeoutMs: 30_000,
  maxBufferedInputBytes: 64 * 1024 * 1024,
};

export const CONFIG_FILE = "strongroom.yaml";

export function defaultConfig(dir: string, seal: SealConfig): Config {
  return {
    dir,
    node: hostname(),
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
    listen: { address: "0.0.0.0", apiPort: 8443, kmipPort: 5696 },
    storage: { type: "sqlite", path: "data/strongroom.db" },
    tls: { ca: "pki/ca.pem", cert: "pki/server.pem", key: "pki/server.key" },
    seal,
    policy: { default: "any-authenticated" },
    limits: {
      maxBodyBytes: 1024 * 1024,
      keyCacheSize: 10000,
      kmipMaxFrameBytes: 1024 * 1024,
      kmipMaxBatchItems: 1000,
      ...DEFAULT_CONNECTION_LIMITS,
      ...RESPONSE_LIMIT_DEFAULTS,
    },
    governance: { dualControl: false, approvalWindowMinutes: 60, quorum: 2, pciMode: false },
    allowlists: {},
    log: { level: "info" },
  };
}

// ---- validation: one declarative table of every key ----

/** A bound: a number, or the key path of another (earlier) integer field whose value bounds this one. */
type Bound = number | string;

/**
 * One configuration key. The table below is the whole schema: the loader walks it, the unknown-key check is derived
 * from it, and docs/operations.md's reference table is checked against it (test/config.test.ts). It maps one to one
 * onto the JSON Schema Ajv validates (src/config/config-schema.ts: integer → Type.Integer with minimum/maximum, a
 * bound naming a key → Ajv $data, `when` → if/then on seal.type, `test` → an Ajv format, `custom` → an Ajv keyword).
 */
export type ConfigField = (
  | { type: "integer"; min: Bound; max: Bound; default?: number; powerOfTwo?: true }
  | { type: "boolean"; default?: boolean }
  | {
      type: "string";
      maxLength: number;
      enum?: readonly string[];
      /** A format, with what it is in words for errors and docs. */
      pattern?: { re: RegExp; what: string };
      /** A further check, with what the value must be in the error message (e.g. "an IANA time zone"). */
      test?: { ok(v: string): boolean; what: string };
      default?: string;
    }
  /** A path, relative to the instance directory or absolute; `file`: must be an existing file; `parent`: its directory must exist. */
  | { type: "path"; exists: "file" | "parent"; default?: string }
  /** A structured value with its own validator, which returns the value or throws an Error naming the bad entry. */
  | { type: "custom"; describe: string; validate(v: unknown): unknown; default?: unknown }
) & {
  /** Only for this seal type (the key is unknown for the others). */
  when?: { key: "seal.type"; is: string };
};

const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;

/** `policy.default`: any-authenticated, owner-only, or {users: [CN…], groups: [OU…]}. */
function validateDefaultPolicy(v: unknown): DefaultPolicy {
  if (v === "any-authenticated" || v === "owner-only") return v;
  const bad = () => new Error("policy.default must be any-authenticated, owner-only or {users: [...], groups: [...]}");
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad();
  for (const k of Object.keys(v))
    if (k !== "users" && k !== "groups") throw new Error(`unknown key 'policy.default.${k}' (use users, groups)`);
  const o = v as { users?: unknown; groups?: unknown };
  for (const k of ["users", "groups"] as const) {
    const list = o[k];
    if (!Array.isArray(list) || list.length > 10_000 || !list.every((x) => typeof x === "string" && x.length > 0 && x.length <= 256))
      throw new Error(`policy.default.${k} must be a list of names (1 to 256 characters each)`);
  }
  return { users: o.users as string[], groups: o.groups as string[] };
}

/** Every key of strongroom.yaml, in validation order (a bound names an earlier key). */
export const CONFIG_FIELDS: Record<string, ConfigField> = {
  node: { type: "string", maxLength: 128 },
  timeZone: { type: "string", maxLength: 64, test: { ok: isValidTimeZone, what: "an IANA time zone" } },
  "listen.address": {
    type: "string",
    maxLength: 253,
    test: { ok: (v) => isIP(v) !== 0 || HOST.test(v), what: "an IP address or host name" },
  },
  "listen.apiPort": { type: "integer", min: 0, max: 65535 },
  "listen.kmipPort": { type: "integer", min: 0, max: 65535 },
  "storage.type": { type: "string", maxLength: 16, enum: ["sqlite"] },
  "storage.path": { type: "path", exists: "parent" },
  "storage.syncReads": { type: "boolean", default: false },
  "tls.ca": { type: "path", exists: "file" },
  "tls.cert": { type: "path", exists: "file" },
  "tls.key": { type: "path", exists: "file" },
  "seal.type": { type: "string", maxLength: 16, enum: SEAL_TYPES },
  "seal.shares": { type: "integer", min: 1, max: 255, when: { key: "seal.type", is: "shamir" } },
  "seal.threshold": { type: "integer", min: 1, max: "seal.shares", when: { key: "seal.type", is: "shamir" } },
  "seal.setId": {
    type: "string",
    maxLength: 8,
    pattern: { re: /^[0-9a-f]{8}$/, what: "8 hex digits" },
    when: { key: "seal.type", is: "shamir" },
  },
  "seal.salt": {
    type: "string",
    maxLength: 256,
    pattern: { re: /^[A-Za-z0-9+/]{16,}={0,2}$/, what: "base64, at least 16 characters" },
    when: { key: "seal.type", is: "passphrase" },
  },
  "seal.cost": { type: "integer", min: 1024, max: 4194304, powerOfTwo: true, when: { key: "seal.type", is: "passphrase" } },
  "seal.keyFile": { type: "path", exists: "file", when: { key: "seal.type", is: "file" } },
  "seal.module": { type: "path", exists: "file", when: { key: "seal.type", is: "pkcs11" } },
  "seal.tokenLabel": { type: "string", maxLength: 256, when: { key: "seal.type", is: "pkcs11" } },
  "seal.keyLabel": { type: "string", maxLength: 256, when: { key: "seal.type", is: "pkcs11" } },
  "policy.default": {
    type: "custom",
    describe: "any-authenticated, owner-only or {users: [...], groups: [...]}",
    validate: validateDefaultPolicy,
  },
  "limits.maxBodyBytes": { type: "integer", min: 1024, max: 1024 ** 3, default: 1024 * 1024 },
  // A tiny cache would evict (and zero) material still in use by the request that loaded it.
  "limits.keyCacheSize": { type: "integer", min: 16, max: 10_000_000, default: 10000 },
  "limits.kmipMaxFrameBytes": { type: "integer", min: 1024, max: 64 * 1024 * 1024, default: 1024 * 1024 },
  "limits.kmipMaxBatchItems": { type: "integer", min: 1, max: 100_000, default: 1000 },
  // Connection limits and deadlines (docs/security.md "Connection limits and deadlines"); deadlines from 100 ms (tests) to 10 minutes.
  "limits.maxConnections": { type: "integer", min: 1, max: 1_000_000, default: DEFAULT_CONNECTION_LIMITS.maxConnections },
  "limits.maxConnectionsPerAddress": {
    type: "integer",
    min: 1,
    max: "limits.maxConnections",
    default: DEFAULT_CONNECTION_LIMITS.maxConnectionsPerAddress,
  },
  "limits.handshakeTimeoutMs": { type: "integer", min: 100, max: 600_000, default: DEFAULT_CONNECTION_LIMITS.handshakeTimeoutMs },
  "limits.firstRequestTimeoutMs": { type: "integer", min: 100, max: 600_000, default: DEFAULT_CONNECTION_LIMITS.firstRequestTimeoutMs },
  "limits.frameTimeoutMs": { type: "integer", min: 100, max: 600_000, default: DEFAULT_CONNECTION_LIMITS.frameTimeoutMs },
  // Below one whole frame, a client could never send a maximum-size request.
  "limits.maxBufferedInputBytes": {
    type: "integer",
    min: "limits.kmipMaxFrameBytes",
    max: 16 * 1024 ** 3,
    default: DEFAULT_CONNECTION_LIMITS.maxBufferedInputBytes,
  },
  // Response sizes (docs/security.md "Cryptography and response limits").
  "limits.maxResponseBytes": { type: "integer", min: 65536, max: 1024 ** 3, default: RESPONSE_LIMIT_DEFAULTS.maxResponseBytes },
  "limits.responseMemoryBytes": {
    type: "integer",
    min: "limits.maxResponseBytes",
    max: 16 * 1024 ** 3,
    default: RESPONSE_LIMIT_DEFAULTS.responseMemoryBytes,
  },
  "limits.kmipLocateMaxItems": { type: "integer", min: 1, max: 100_000, default: RESPONSE_LIMIT_DEFAULTS.kmipLocateMaxItems },
  "limits.kmipLocateScanMax": { type: "integer", min: 100, max: 1_000_000, default: RESPONSE_LIMIT_DEFAULTS.kmipLocateScanMax },
  "governance.dualControl": { type: "boolean", default: false },
  "governance.approvalWindowMinutes": { type: "integer", min: 1, max: 10080, default: 60 },
  "governance.quorum": { type: "integer", min: 2, max: 16, default: 2 },
  "governance.pciMode": { type: "boolean", default: false },
  allowlists: {
    type: "custom",
    describe: "{api?, kmip?} each {all?, admin?, auditor?, client?, peer?}: lists of CIDRs",
    validate: validateAllowlists,
    default: {},
  },
  // The server log (docs/operations.md "Server log"); `strongroom server --log-level` and `npm start -- --log-level` win.
  "log.level": { type: "string", maxLength: 8, enum: LOG_LEVELS, default: "info" },
};

/** Resolves a configured path against the instance directory. */
export const resolvePath = (cfg: Config, p: string): string => (isAbsolute(p) ? p : join(cfg.dir, p));

export function writeConfig(cfg: Config): void {
  const { dir: _dir, ...rest } = cfg;
  const text = `# Strongroom instance configuration. Relative paths are relative to this directory.\n${YAML.stringify(rest)}`;
  writeFileSync(join(cfg.dir, CONFIG_FILE), text, { mode: 0o600 });
}

type Mapping = Record<string, unknown>;
const isMapping = (v: unknown): v is Mapping => typeof v === "object" && v !== null && !Array.isArray(v);

function getPath(root: Mapping, key: string): unknown {
  let v: unknown = root;
  for (const part of key.split(".")) v = isMapping(v) ? v[part] : undefined;
  return v;
}

/** Human range of a field for the docs. */
const boundText = (b: Bound): string => String(b);

/** Type, default and range of every key, as docs/operations.md shows them (test/config.test.ts compares). */
export function configReference(): { key: string; type: string; default: string; range: string }[] {
  return Object.entries(CONFIG_FIELDS).map(([key, f]) => {
    const when = f.when ? ` (seal.type ${f.when.is})` : "";
    let type: string = f.type;
    let range = "";
    if (f.type === "integer") range = `${boundText(f.min)} to ${boundText(f.max)}${f.powerOfTwo ? ", a power of 2" : ""}`;
    if (f.type === "string") {
      type = f.enum ? "enum" : "string";
      range = f.enum ? f.enum.join(", ") : f.test ? f.test.what : f.pattern ? f.pattern.what : `1 to ${f.maxLength} characters`;
    }
    if (f.type === "path") range = f.exists === "file" ? "an existing file" : "in an existing directory";
    if (f.type === "boolean") range = "true, false";
    if (f.type === "custom") {
      type = "mapping";
      range = f.describe;
      if (key === "policy.default") type = "enum or mapping";
    }
    const d = f.default;
    const dflt = d === undefined ? "required" : typeof d === "object" ? "none" : String(d);
    return { key, type: `${type}${when}`, default: dflt, range };
  });
}

/** The table compiled by Ajv (src/config/config-schema.ts), once, on the first load. */
let validateConfig: ReturnType<typeof configValidator> | null = null;

/** An empty value (`key:` with nothing after it) means "not set": the key takes its default or is reported missing. */
function dropEmpty(raw: Mapping): void {
  const paths = new Set<string>();
  for (const key of Object.keys(CONFIG_FIELDS)) {
    const parts = key.split(".");
    for (let n = 1; n <= parts.length; n++) paths.add(parts.slice(0, n).join("."));
  }
  for (const p of [...paths].sort((x, y) => y.length - x.length)) {
    const parts = p.split(".");
    const parent = parts.length === 1 ? raw : getPath(raw, parts.slice(0, -1).join("."));
    if (isMapping(parent) && parent[parts[parts.length - 1]] === null) delete parent[parts[parts.length - 1]];
  }
}

/**
 * Loads and validates DIR/strongroom.yaml: unknown keys, types and ranges (the table above), then that the files it
 * names exist. Throws a ConfigError naming the file and the key.
 */
export function loadConfig(dir: string): Config {
  const file = join(dir, CONFIG_FILE);
  const fail = (key: string, msg: string): never => {
    throw new ConfigError(`${file}: ${msg}`, file, key);
  };
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`, file, "");
  }
  if (!isMapping(raw)) return fail("", "not a mapping of settings");
  dropEmpty(raw);
  validateConfig ??= configValidator(CONFIG_FIELDS);
  // Unknown keys, types, ranges and defaults (filled into `raw`): the first problem, by key.
  const problem = validateConfig(raw);
  if (problem) fail(problem.key, problem.message);
  const values = raw;
  // Files last: a wrong type is reported as such, not as a missing file.
  for (const [key, f] of Object.entries(CONFIG_FIELDS)) {
    if (f.type !== "path" || (f.when && getPath(values, f.when.key) !== f.when.is)) continue;
    const p = getPath(values, key) as string | undefined;
    if (p === undefined) continue;
    const abs = isAbsolute(p) ? p : join(dir, p);
    const target = f.exists === "file" ? abs : dirname(abs);
    let kind: "file" | "directory" | null = null;
    try {
      const st = statSync(target);
      kind = st.isFile() ? "file" : st.isDirectory() ? "directory" : null;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      fail(
        key,
        `${key}: ${code === "ENOENT" ? "no such" : "cannot use the"} ${f.exists === "file" ? "file" : "directory"} ${target}${code === "ENOENT" ? "" : ` (${code})`}`,
      );
    }
    if (f.exists === "file" && kind !== "file") fail(key, `${key}: ${target} is not a file`);
    if (f.exists === "parent" && kind !== "directory") fail(key, `${key}: ${target} is not a directory`);
  }
  return { ...(values as unknown as Omit<Config, "dir">), dir };
}
