// The instance configuration (DIR/strongroom.yaml): load, validate, resolve paths relative to the instance directory.
import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { isAbsolute, join } from "node:path";
import YAML from "yaml";
import type { DefaultPolicy } from "../auth/policy.js";
import { isValidTimeZone } from "../keys/rollover.js";
import type { SealConfig } from "../seal/barrier.js";
import { validateAllowlists } from "../transport/allowlist.js";

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

function checkResponseLimits(l: ResponseLimits): void {
  const int = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  check(int(l.maxResponseBytes, 65536, 1024 ** 3), "limits.maxResponseBytes must be an integer from 65536 to 1073741824");
  check(
    int(l.responseMemoryBytes, l.maxResponseBytes, 16 * 1024 ** 3),
    "limits.responseMemoryBytes must be an integer from limits.maxResponseBytes to 17179869184",
  );
  check(int(l.kmipLocateMaxItems, 1, 100_000), "limits.kmipLocateMaxItems must be an integer from 1 to 100000");
  check(int(l.kmipLocateScanMax, 100, 1_000_000), "limits.kmipLocateScanMax must be an integer from 100 to 1000000");
}

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
  };
}

/** Resolves a configured path against the instance directory. */
export const resolvePath = (cfg: Config, p: string): string => (isAbsolute(p) ? p : join(cfg.dir, p));

export function writeConfig(cfg: Config): void {
  const { dir: _dir, ...rest } = cfg;
  const text = `# Strongroom instance configuration. Relative paths are relative to this directory.\n${YAML.stringify(rest)}`;
  writeFileSync(join(cfg.dir, CONFIG_FILE), text, { mode: 0o600 });
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new Error(`${CONFIG_FILE}: ${msg}`);
}

const isPort = (p: unknown): boolean => Number.isInteger(p) && (p as number) >= 0 && (p as number) < 65536;

const isIntIn = (v: unknown, min: number, max: number): boolean => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** Connection limits and deadlines; deadlines from 100 ms (tests) to 10 minutes. */
function checkConnectionLimits(l: Config["limits"]): void {
  check(isIntIn(l.maxConnections, 1, 1_000_000), "limits.maxConnections must be an integer from 1 to 1000000");
  check(
    isIntIn(l.maxConnectionsPerAddress, 1, l.maxConnections),
    "limits.maxConnectionsPerAddress must be an integer from 1 to limits.maxConnections",
  );
  for (const k of ["handshakeTimeoutMs", "firstRequestTimeoutMs", "frameTimeoutMs"] as const)
    check(isIntIn(l[k], 100, 600_000), `limits.${k} must be an integer from 100 to 600000 (milliseconds)`);
  // Below one whole frame, a client could never send a maximum-size request.
  check(
    isIntIn(l.maxBufferedInputBytes, l.kmipMaxFrameBytes, 16 * 1024 * 1024 * 1024),
    "limits.maxBufferedInputBytes must be an integer from limits.kmipMaxFrameBytes to 17179869184",
  );
}

export function loadConfig(dir: string): Config {
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(join(dir, CONFIG_FILE), "utf8"));
  } catch (e) {
    throw new Error(`cannot read ${join(dir, CONFIG_FILE)}: ${(e as Error).message}`);
  }
  check(typeof raw === "object" && raw !== null, "not a mapping");
  const cfg = { ...(raw as Omit<Config, "dir">), dir } as Config;
  check(typeof cfg.node === "string" && cfg.node.length > 0 && cfg.node.length <= 128, "node must be a non-empty string");
  check(typeof cfg.timeZone === "string" && isValidTimeZone(cfg.timeZone), "timeZone must be an IANA time zone");
  check(isPort(cfg.listen?.apiPort) && isPort(cfg.listen?.kmipPort), "listen.apiPort and listen.kmipPort must be ports");
  check(typeof cfg.listen.address === "string", "listen.address must be a string");
  check(cfg.storage?.type === "sqlite" && typeof cfg.storage.path === "string", "storage.type must be sqlite with a path");
  check(cfg.storage.syncReads === undefined || typeof cfg.storage.syncReads === "boolean", "storage.syncReads must be true or false");
  check(["shamir", "passphrase", "file", "pkcs11"].includes(cfg.seal?.type), "seal.type must be shamir, passphrase, file or pkcs11");
  const d = cfg.policy?.default;
  check(
    d === "any-authenticated" || d === "owner-only" || (typeof d === "object" && Array.isArray(d?.users) && Array.isArray(d?.groups)),
    "policy.default must be any-authenticated, owner-only or {users, groups}",
  );
  cfg.limits = {
    maxBodyBytes: 1024 * 1024,
    keyCacheSize: 10000,
    kmipMaxFrameBytes: 1024 * 1024,
    kmipMaxBatchItems: 1000,
    ...DEFAULT_CONNECTION_LIMITS,
    ...RESPONSE_LIMIT_DEFAULTS,
    ...((cfg.limits ?? {}) as Partial<Config["limits"]>),
  };
  checkResponseLimits(cfg.limits);
  check(Number.isInteger(cfg.limits.maxBodyBytes) && cfg.limits.maxBodyBytes >= 1024, "limits.maxBodyBytes must be an integer >= 1024");
  // A tiny cache would evict (and zero) material still in use by the request that loaded it.
  check(
    Number.isInteger(cfg.limits.keyCacheSize) && cfg.limits.keyCacheSize >= 16 && cfg.limits.keyCacheSize <= 10_000_000,
    "limits.keyCacheSize must be an integer from 16 to 10000000",
  );
  check(
    Number.isInteger(cfg.limits.kmipMaxFrameBytes) &&
      cfg.limits.kmipMaxFrameBytes >= 1024 &&
      cfg.limits.kmipMaxFrameBytes <= 64 * 1024 * 1024,
    "limits.kmipMaxFrameBytes must be an integer from 1024 to 67108864",
  );
  check(
    Number.isInteger(cfg.limits.kmipMaxBatchItems) && cfg.limits.kmipMaxBatchItems >= 1 && cfg.limits.kmipMaxBatchItems <= 100_000,
    "limits.kmipMaxBatchItems must be an integer from 1 to 100000",
  );
  checkConnectionLimits(cfg.limits);
  cfg.governance = {
    dualControl: false,
    approvalWindowMinutes: 60,
    quorum: 2,
    pciMode: false,
    ...((cfg.governance ?? {}) as Partial<GovernanceConfig>),
  };
  const g = cfg.governance;
  check(
    typeof g.dualControl === "boolean" && typeof g.pciMode === "boolean",
    "governance.dualControl and governance.pciMode must be true or false",
  );
  check(
    Number.isInteger(g.approvalWindowMinutes) && g.approvalWindowMinutes >= 1 && g.approvalWindowMinutes <= 10080,
    "governance.approvalWindowMinutes must be 1..10080",
  );
  check(Number.isInteger(g.quorum) && g.quorum >= 2 && g.quorum <= 16, "governance.quorum must be 2..16");
  try {
    cfg.allowlists = validateAllowlists(cfg.allowlists);
  } catch (e) {
    check(false, (e as Error).message);
  }
  return cfg;
}
