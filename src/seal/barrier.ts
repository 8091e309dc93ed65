// The barrier: holds the master key in memory once unsealed, the KEK keyring under it, and wraps/unwraps key material.
import { randomBytes, scryptSync } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { open, seal } from "../crypto/aead.js";
import { combine, split } from "../crypto/shamir.js";
import { fail, StrongroomError } from "../errors/registry.js";
import type { Queryable, Tx } from "../store/store.js";
import { decodeShare, encodeShare } from "./shares.js";

export type SealConfig =
  | { type: "shamir"; shares: number; threshold: number; setId: string }
  | { type: "passphrase"; salt: string; cost: number }
  | { type: "file"; keyFile: string };

interface KeyringDoc {
  current: number;
  keks: Record<string, string>;
  audit: string;
}

const KEYRING = "keyring";
const MASTER_LEN = 32;
const SCRYPT_COST = 1 << 15;

export interface UnsealStatus {
  sealed: boolean;
  type: SealConfig["type"];
  threshold: number;
  progress: number;
}

/** Derives the master key from a passphrase (scrypt; cost and salt from the seal config). */
export function passphraseKey(passphrase: string, salt: string, cost: number): Buffer {
  if (!passphrase) fail("unseal_failed", { detail: "empty passphrase" });
  return scryptSync(passphrase.normalize("NFKC"), Buffer.from(salt, "base64"), MASTER_LEN, {
    N: cost,
    r: 8,
    p: 1,
    maxmem: 256 * cost * 8 + 1024 * 1024,
  });
}

/** Creates a fresh seal: returns its config, the master key and (shamir) the share strings to hand out once. */
export function newSeal(
  type: SealConfig["type"],
  opts: { shares?: number; threshold?: number; passphrase?: string; keyFile: string },
): { config: SealConfig; master: Buffer; shares?: string[] } {
  if (type === "shamir") {
    const n = opts.shares ?? 5;
    const m = opts.threshold ?? 3;
    const master = randomBytes(MASTER_LEN);
    const setId = randomBytes(4).toString("hex");
    const parts = split(master, n, m);
    const shares = parts.map((s) => encodeShare(setId, s));
    for (const p of parts) p.value.fill(0);
    return { config: { type, shares: n, threshold: m, setId }, master, shares };
  }
  if (type === "passphrase") {
    if (!opts.passphrase || opts.passphrase.length < 12) fail("validation", { detail: "passphrase must be at least 12 characters" });
    const salt = randomBytes(16).toString("base64");
    return { config: { type, salt, cost: SCRYPT_COST }, master: passphraseKey(opts.passphrase as string, salt, SCRYPT_COST) };
  }
  const master = randomBytes(MASTER_LEN);
  mkdirSync(dirname(opts.keyFile), { recursive: true, mode: 0o700 });
  writeFileSync(opts.keyFile, master.toString("base64"), { mode: 0o600, flag: "wx" });
  chmodSync(opts.keyFile, 0o600);
  return { config: { type: "file", keyFile: opts.keyFile }, master };
}

export class Barrier {
  private master: Buffer | null = null;
  private keks = new Map<number, Buffer>();
  private currentKek = 0;
  private auditMacKey: Buffer | null = null;
  private pending: { index: number; value: Buffer }[] = [];
  private readonly listeners: (() => Promise<void>)[] = [];

  constructor(
    private readonly store: Queryable,
    readonly config: SealConfig,
  ) {}

  get sealed(): boolean {
    return this.master === null;
  }

  status(): UnsealStatus {
    return {
      sealed: this.sealed,
      type: this.config.type,
      threshold: this.config.type === "shamir" ? this.config.threshold : 1,
      progress: this.pending.length,
    };
  }

  /** Called after every successful unseal (e.g. to chain audit events written while sealed). */
  onUnseal(fn: () => Promise<void>): void {
    this.listeners.push(fn);
  }

  /** Writes a new keyring (KEK 1 and the audit MAC key) under `master`; used once by `init`. */
  async initialize(tx: Tx, master: Buffer): Promise<void> {
    const kek = randomBytes(32);
    const audit = randomBytes(32);
    const doc: KeyringDoc = {
      current: 1,
      keks: { "1": seal(master, kek, "strongroom:kek:1").toString("base64") },
      audit: seal(master, audit, "strongroom:audit-key").toString("base64"),
    };
    kek.fill(0);
    audit.fill(0);
    await tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", [KEYRING, JSON.stringify(doc)]);
  }

  /** Opens the keyring with `master`; on success keeps the master key (taking ownership of the buffer). */
  async unsealWithMaster(master: Buffer): Promise<void> {
    if (!this.sealed) {
      master.fill(0);
      fail("already_unsealed");
    }
    const row = await this.store.get<{ value: string }>("SELECT value FROM settings WHERE name = $1", [KEYRING]);
    if (!row) {
      master.fill(0);
      throw new Error("keyring missing: instance not initialized");
    }
    const doc = JSON.parse(row.value) as KeyringDoc;
    const keks = new Map<number, Buffer>();
    let audit: Buffer;
    try {
      for (const [id, wrapped] of Object.entries(doc.keks)) {
        keks.set(Number(id), open(master, Buffer.from(wrapped, "base64"), `strongroom:kek:${id}`));
      }
      audit = open(master, Buffer.from(doc.audit, "base64"), "strongroom:audit-key");
    } catch {
      for (const k of keks.values()) k.fill(0);
      master.fill(0);
      return fail("unseal_failed", { detail: "the key does not open this instance's keyring (wrong shares or passphrase)" });
    }
    this.master = master;
    this.keks = keks;
    this.currentKek = doc.current;
    this.auditMacKey = audit;
    // A share that arrived while this unseal was in flight is of no further use.
    this.clearPending();
    for (const fn of this.listeners) await fn();
  }

  /** Submits one Shamir share; unseals when the threshold is reached. */
  async submitShare(text: string): Promise<UnsealStatus> {
    if (this.config.type !== "shamir")
      fail("bad_request", { detail: `this instance uses the ${this.config.type} seal; submit a passphrase` });
    if (!this.sealed) fail("already_unsealed");
    const cfg = this.config as Extract<SealConfig, { type: "shamir" }>;
    const share = decodeShare(text, cfg.setId);
    if (this.pending.some((p) => p.index === share.index)) {
      share.value.fill(0);
      fail("duplicate_share");
    }
    this.pending.push(share);
    if (this.pending.length < cfg.threshold) return this.status();
    const master = combine(this.pending);
    this.clearPending();
    await this.unsealWithMaster(master);
    return this.status();
  }

  async submitPassphrase(passphrase: string): Promise<UnsealStatus> {
    if (this.config.type !== "passphrase") fail("bad_request", { detail: `this instance uses the ${this.config.type} seal` });
    if (!this.sealed) fail("already_unsealed");
    const cfg = this.config as Extract<SealConfig, { type: "passphrase" }>;
    await this.unsealWithMaster(passphraseKey(passphrase, cfg.salt, cfg.cost));
    return this.status();
  }

  /** Unseals without a person where the seal allows it: file seal, or passphrase from the environment. */
  async autoUnseal(env: NodeJS.ProcessEnv): Promise<boolean> {
    if (this.config.type === "file") {
      if (!existsSync(this.config.keyFile)) throw new Error(`master key file ${this.config.keyFile} not found`);
      const master = Buffer.from(readFileSync(this.config.keyFile, "utf8").trim(), "base64");
      if (master.length !== MASTER_LEN) throw new Error("master key file is malformed");
      await this.unsealWithMaster(master);
      return true;
    }
    if (this.config.type === "passphrase" && env.STRONGROOM_PASSPHRASE) {
      await this.submitPassphrase(env.STRONGROOM_PASSPHRASE);
      return true;
    }
    return false;
  }

  private clearPending(): void {
    for (const p of this.pending) p.value.fill(0);
    this.pending = [];
  }

  /** Zeroes every key held in memory; the server is sealed again. */
  seal(): void {
    this.clearPending();
    this.master?.fill(0);
    this.master = null;
    for (const k of this.keks.values()) k.fill(0);
    this.keks.clear();
    this.auditMacKey?.fill(0);
    this.auditMacKey = null;
  }

  private requireUnsealed(): void {
    if (this.sealed) throw new StrongroomError("sealed");
  }

  /** The key of the audit chain's HMAC; only while unsealed. */
  auditKey(): Buffer {
    this.requireUnsealed();
    return this.auditMacKey as Buffer;
  }

  /** Encrypts one version's key material under the current KEK, bound to the version id. */
  wrap(objectId: string, material: Buffer): { kekId: number; blob: Buffer } {
    this.requireUnsealed();
    const kek = this.keks.get(this.currentKek) as Buffer;
    return { kekId: this.currentKek, blob: seal(kek, material, `strongroom:object:${objectId}`) };
  }

  unwrap(objectId: string, kekId: number, blob: Buffer): Buffer {
    this.requireUnsealed();
    const kek = this.keks.get(kekId);
    if (!kek) throw new Error(`KEK ${kekId} not in keyring`);
    return open(kek, blob, `strongroom:object:${objectId}`);
  }
}
