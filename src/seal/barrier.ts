// The barrier: holds the master key once unsealed, the KEK keyring under it, and wraps/unwraps key material; changes the keyring for rekey and rotations.
import { randomBytes, scrypt, scryptSync } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { open, seal } from "../crypto/aead.js";
import { combine, split } from "../crypto/shamir.js";
import { fail, StrongroomError } from "../errors/registry.js";
import type { Queryable, Tx } from "../store/store.js";
import { renameDurably, writeFileAtomic } from "./atomic-file.js";
import { asMasterKey, MASTER_LEN, type MasterKey, SoftwareMasterKey } from "./master-key.js";
import { openHsmMasterKey, PIN_ENV, type Pkcs11Location } from "./pkcs11.js";
import { decodeShare, encodeShare } from "./shares.js";

export type SealConfig =
  | { type: "shamir"; shares: number; threshold: number; setId: string }
  | { type: "passphrase"; salt: string; cost: number }
  | { type: "file"; keyFile: string }
  | ({ type: "pkcs11" } & Pkcs11Location);

export const SEAL_TYPES = ["shamir", "passphrase", "file", "pkcs11"] as const;

/**
 * The parts of the seal configuration that rekey and rotate-master change. They are also kept in
 * the keyring row, written in the same transaction as the re-wrapped keyring: if the process dies
 * before strongroom.yaml is rewritten, the database wins and the file is repaired at the next start.
 */
export type SealRecord =
  | { type: "shamir"; shares: number; threshold: number; setId: string }
  | { type: "passphrase"; salt: string; cost: number }
  | { type: "pkcs11"; keyLabel: string };

/** A KEK rotation whose background re-wrap has not finished: objects still on older KEKs move to `to`. */
export interface RewrapRecord {
  to: number;
  /** Objects (and the CA key) that were on older KEKs when the rotation started. */
  total: number;
  startedAt: string;
}

interface KeyringDoc {
  current: number;
  keks: Record<string, string>;
  audit: string;
  seal?: SealRecord;
  rewrap?: RewrapRecord;
  /** Set ids of Shamir share sets replaced by rekeys, newest first (bounded): their shares get `superseded_share`. */
  retiredSetIds?: string[];
}

/** How many replaced share sets are remembered. */
const RETIRED_SET_IDS = 16;

/** Runs a function in one transaction (the store's atomic, or an audited operation's commit). */
export type Commit = <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;

const KEYRING = "keyring";
const SCRYPT_COST = 1 << 15;
const kekAad = (id: number | string) => `strongroom:kek:${id}`;
const AUDIT_AAD = "strongroom:audit-key";

export interface UnsealStatus {
  sealed: boolean;
  type: SealConfig["type"];
  threshold: number;
  progress: number;
}

export interface KeyringInfo {
  current: number;
  keks: number[];
  rewrap: RewrapRecord | null;
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

/** The same derivation off the event loop: an unseal attempt must not stall both listeners. */
export function passphraseKeyAsync(passphrase: string, salt: string, cost: number): Promise<Buffer> {
  if (!passphrase) fail("unseal_failed", { detail: "empty passphrase" });
  return new Promise((resolve, reject) =>
    scrypt(
      passphrase.normalize("NFKC"),
      Buffer.from(salt, "base64"),
      MASTER_LEN,
      { N: cost, r: 8, p: 1, maxmem: 256 * cost * 8 + 1024 * 1024 },
      (e, key) => (e ? reject(e) : resolve(key)),
    ),
  );
}

function checkPassphrase(p: string | undefined): string {
  if (!p || p.length < 12) fail("validation", { detail: "passphrase must be at least 12 characters" });
  return p as string;
}

/** The seal fields kept in the keyring row (none for the file seal: its path does not change). */
export function sealRecordOf(c: SealConfig): SealRecord | undefined {
  if (c.type === "shamir") return { type: c.type, shares: c.shares, threshold: c.threshold, setId: c.setId };
  if (c.type === "passphrase") return { type: c.type, salt: c.salt, cost: c.cost };
  if (c.type === "pkcs11") return { type: c.type, keyLabel: c.keyLabel };
  return undefined;
}

/** Splits a fresh master key into `n` shares with threshold `m` under a new set id. */
export function newShamir(n: number, m: number): { config: Extract<SealConfig, { type: "shamir" }>; master: Buffer; shares: string[] } {
  if (!Number.isInteger(n) || !Number.isInteger(m) || m < 1 || n < m || n > 255)
    fail("validation", { detail: "shares and threshold must satisfy 1 <= threshold <= shares <= 255" });
  const master = randomBytes(MASTER_LEN);
  const setId = randomBytes(4).toString("hex");
  const parts = split(master, n, m);
  const shares = parts.map((s) => encodeShare(setId, s));
  for (const p of parts) p.value.fill(0);
  return { config: { type: "shamir", shares: n, threshold: m, setId }, master, shares };
}

function writeKeyFile(path: string, master: Buffer, flag: "wx" | "atomic"): void {
  const text = Buffer.from(master.toString("base64"));
  try {
    if (flag === "wx") {
      writeFileSync(path, text, { mode: 0o600, flag: "wx" });
      chmodSync(path, 0o600);
    } else writeFileAtomic(path, text, 0o600);
  } finally {
    text.fill(0);
  }
}

function readKeyFile(path: string): Buffer {
  const master = Buffer.from(readFileSync(path, "utf8").trim(), "base64");
  if (master.length !== MASTER_LEN) throw new Error(`master key file ${path} is malformed`);
  return master;
}

/** Creates a fresh seal: returns its config, the master key and (shamir) the share strings to hand out once. */
export function newSeal(
  type: SealConfig["type"],
  opts: { shares?: number; threshold?: number; passphrase?: string; keyFile: string; pkcs11?: Pkcs11Location & { pin: string } },
): { config: SealConfig; master: MasterKey; shares?: string[]; created?: boolean } {
  if (type === "shamir") {
    const s = newShamir(opts.shares ?? 5, opts.threshold ?? 3);
    return { config: s.config, master: new SoftwareMasterKey(s.master), shares: s.shares };
  }
  if (type === "passphrase") {
    const passphrase = checkPassphrase(opts.passphrase);
    const salt = randomBytes(16).toString("base64");
    return { config: { type, salt, cost: SCRYPT_COST }, master: new SoftwareMasterKey(passphraseKey(passphrase, salt, SCRYPT_COST)) };
  }
  if (type === "pkcs11") {
    const p = opts.pkcs11;
    if (!p) return fail("validation", { detail: "the pkcs11 seal needs a module, token label, key label and PIN" });
    const { pin, ...loc } = p;
    const { key, created } = openHsmMasterKey(loc, pin, { create: true });
    return { config: { type, ...loc }, master: key, created };
  }
  const master = randomBytes(MASTER_LEN);
  mkdirSync(dirname(opts.keyFile), { recursive: true, mode: 0o700 });
  writeKeyFile(opts.keyFile, master, "wx");
  return { config: { type: "file", keyFile: opts.keyFile }, master: new SoftwareMasterKey(master) };
}

export class Barrier {
  private master: MasterKey | null = null;
  private keks = new Map<number, Buffer>();
  private currentKek = 0;
  private auditMacKey: Buffer | null = null;
  private pending: { index: number; value: Buffer }[] = [];
  private readonly listeners: (() => Promise<void>)[] = [];
  private readonly sealListeners: (() => void)[] = [];
  /** Incremented by every seal: a keyring change that committed after a seal must not bring keys back into memory. */
  private generation = 0;
  /** Serializes unseal and keyring changes (the in-memory keyring must follow the committed one). */
  private lock: Promise<unknown> = Promise.resolve();
  private cfg: SealConfig;

  constructor(
    private readonly store: Queryable,
    config: SealConfig,
  ) {
    this.cfg = config;
  }

  /** The seal configuration in force (after rekey or rotate-master, the new one). */
  get config(): SealConfig {
    return this.cfg;
  }

  get sealed(): boolean {
    return this.master === null;
  }

  /** Where the master key lives while unsealed: `software` (process memory) or `hsm`. */
  get masterKind(): MasterKey["kind"] | null {
    return this.master?.kind ?? null;
  }

  status(): UnsealStatus {
    return {
      sealed: this.sealed,
      type: this.cfg.type,
      threshold: this.cfg.type === "shamir" ? this.cfg.threshold : 1,
      progress: this.pending.length,
    };
  }

  /** Called after every successful unseal (e.g. to chain audit events written while sealed). */
  onUnseal(fn: () => Promise<void>): void {
    this.listeners.push(fn);
  }

  /** Called synchronously by `seal()` after the keys are zeroed (drop caches of unwrapped material, stop jobs). */
  onSeal(fn: () => void): void {
    this.sealListeners.push(fn);
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async readDoc(q: Queryable): Promise<KeyringDoc> {
    const row = await q.get<{ value: string }>("SELECT value FROM settings WHERE name = $1", [KEYRING]);
    if (!row) throw new Error("keyring missing: instance not initialized");
    return JSON.parse(row.value) as KeyringDoc;
  }

  /** Writes a new keyring (KEK 1 and the audit MAC key) under `master`; used once by `init`. */
  async initialize(tx: Tx, master: Buffer | MasterKey): Promise<void> {
    const m = Buffer.isBuffer(master) ? new SoftwareMasterKey(Buffer.from(master)) : master;
    const kek = randomBytes(32);
    const audit = randomBytes(32);
    const doc: KeyringDoc = {
      current: 1,
      keks: { "1": m.wrap(kek, kekAad(1)).toString("base64") },
      audit: m.wrap(audit, AUDIT_AAD).toString("base64"),
      seal: sealRecordOf(this.cfg),
    };
    if (Buffer.isBuffer(master)) m.destroy();
    kek.fill(0);
    audit.fill(0);
    await tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", [KEYRING, JSON.stringify(doc)]);
  }

  /**
   * Adopts the seal fields recorded with the keyring when they differ from strongroom.yaml (the
   * process died between committing a rekey or rotate-master and rewriting the file). Returns the
   * record to write back to the file, or null when the file is current.
   */
  async adoptSealRecord(): Promise<SealRecord | null> {
    const row = await this.store.get<{ value: string }>("SELECT value FROM settings WHERE name = $1", [KEYRING]);
    if (!row) return null;
    const rec = (JSON.parse(row.value) as KeyringDoc).seal;
    if (!rec || rec.type !== this.cfg.type) return null;
    const mine = sealRecordOf(this.cfg) as Record<string, unknown>;
    const differs = Object.entries(rec).some(([k, v]) => mine[k] !== v);
    if (!differs) return null;
    this.cfg = { ...this.cfg, ...rec } as SealConfig;
    return rec;
  }

  /** Opens the keyring with `master`; on success keeps the master key (taking ownership of it). */
  async unsealWithMaster(master: Buffer | MasterKey): Promise<void> {
    const m = asMasterKey(master);
    await this.serialize(async () => {
      if (!this.sealed) {
        m.destroy();
        fail("already_unsealed");
      }
      let doc: KeyringDoc;
      try {
        doc = await this.readDoc(this.store);
      } catch (e) {
        m.destroy();
        throw e;
      }
      const keks = new Map<number, Buffer>();
      let audit: Buffer;
      try {
        for (const [id, wrapped] of Object.entries(doc.keks)) keks.set(Number(id), m.unwrap(Buffer.from(wrapped, "base64"), kekAad(id)));
        audit = m.unwrap(Buffer.from(doc.audit, "base64"), AUDIT_AAD);
      } catch {
        for (const k of keks.values()) k.fill(0);
        m.destroy();
        return fail("unseal_failed", { detail: "the key does not open this instance's keyring (wrong shares or passphrase)" });
      }
      this.master = m;
      this.keks = keks;
      this.currentKek = doc.current;
      this.auditMacKey = audit;
      // A share that arrived while this unseal was in flight is of no further use.
      this.clearPending();
    });
    for (const fn of this.listeners) await fn();
  }

  /** Set ids of the Shamir share sets earlier rekeys replaced (readable while sealed: they are not secret). */
  async retiredSetIds(): Promise<string[]> {
    const doc = await this.readDoc(this.store);
    return Array.isArray(doc.retiredSetIds) ? doc.retiredSetIds : [];
  }

  /** Submits one Shamir share; unseals when the threshold is reached. */
  async submitShare(text: string): Promise<UnsealStatus> {
    if (this.cfg.type !== "shamir")
      fail("bad_request", {
        detail: `this instance uses the ${this.cfg.type} seal; ${this.cfg.type === "file" ? "it unseals itself at start" : "submit a passphrase"}`,
      });
    // Read first: from here to the push below nothing awaits, so concurrent submissions cannot interleave.
    const retired = await this.retiredSetIds();
    if (!this.sealed) fail("already_unsealed");
    const cfg = this.cfg as Extract<SealConfig, { type: "shamir" }>;
    const share = decodeShare(text, cfg.setId, retired);
    if (this.pending.some((p) => p.index === share.index)) {
      share.value.fill(0);
      fail("duplicate_share");
    }
    this.pending.push(share);
    if (this.pending.length < cfg.threshold) return this.status();
    let master: Buffer;
    try {
      master = combine(this.pending);
    } finally {
      this.clearPending();
    }
    await this.unsealWithMaster(master);
    return this.status();
  }

  /** The passphrase (passphrase seal), or the token PIN (pkcs11 seal, when the server has none in its environment). */
  async submitPassphrase(passphrase: string): Promise<UnsealStatus> {
    if (this.cfg.type !== "passphrase" && this.cfg.type !== "pkcs11")
      fail("bad_request", { detail: `this instance uses the ${this.cfg.type} seal` });
    if (!this.sealed) fail("already_unsealed");
    if (this.cfg.type === "pkcs11") {
      await this.unsealWithMaster(this.openHsm(passphrase));
      return this.status();
    }
    const cfg = this.cfg as Extract<SealConfig, { type: "passphrase" }>;
    await this.unsealWithMaster(await passphraseKeyAsync(passphrase, cfg.salt, cfg.cost));
    return this.status();
  }

  private openHsm(pin: string): MasterKey {
    const cfg = this.cfg as Extract<SealConfig, { type: "pkcs11" }>;
    try {
      return openHsmMasterKey(cfg, pin).key;
    } catch (e) {
      return fail("unseal_failed", { detail: (e as Error).message });
    }
  }

  /** Unseals without a person where the seal allows it: file seal, passphrase or PKCS#11 PIN from the environment. */
  async autoUnseal(env: NodeJS.ProcessEnv): Promise<boolean> {
    if (this.cfg.type === "file") {
      await this.unsealFromKeyFile(this.cfg.keyFile);
      return true;
    }
    if (this.cfg.type === "passphrase" && env.STRONGROOM_PASSPHRASE) {
      await this.submitPassphrase(env.STRONGROOM_PASSPHRASE);
      return true;
    }
    if (this.cfg.type === "pkcs11" && env[PIN_ENV]) {
      await this.submitPassphrase(env[PIN_ENV] as string);
      return true;
    }
    return false;
  }

  /**
   * The file seal. A master rotation writes `<keyFile>.next` before committing and renames it over
   * the key file after: whichever of the two opens the keyring is the key (the database decides).
   */
  private async unsealFromKeyFile(keyFile: string): Promise<void> {
    const next = `${keyFile}.next`;
    const hasNext = existsSync(next);
    if (!existsSync(keyFile) && !hasNext) throw new Error(`master key file ${keyFile} not found`);
    if (existsSync(keyFile)) {
      try {
        await this.unsealWithMaster(readKeyFile(keyFile));
        // A rotation that wrote its new key but never committed: the new key opens nothing.
        if (hasNext) rmSync(next, { force: true });
        return;
      } catch (e) {
        if (!hasNext || !(e instanceof StrongroomError && e.code === "unseal_failed")) throw e;
      }
    }
    await this.unsealWithMaster(readKeyFile(next));
    renameDurably(next, keyFile);
  }

  private clearPending(): void {
    for (const p of this.pending) p.value.fill(0);
    this.pending = [];
  }

  /** Zeroes every key held in memory (an HSM session is closed); the server is sealed again. */
  seal(): void {
    this.generation++;
    this.clearPending();
    this.master?.destroy();
    this.master = null;
    for (const k of this.keks.values()) k.fill(0);
    this.keks.clear();
    this.auditMacKey?.fill(0);
    this.auditMacKey = null;
    for (const fn of this.sealListeners) {
      try {
        fn();
      } catch {
        // a listener's failure must not leave keys in memory; the keys are already gone
      }
    }
  }

  private requireUnsealed(): void {
    if (this.sealed) throw new StrongroomError("sealed");
  }

  /** The key of the audit chain's HMAC; only while unsealed. */
  auditKey(): Buffer {
    this.requireUnsealed();
    return this.auditMacKey as Buffer;
  }

  /** The id of the KEK new material is wrapped under. */
  currentKekId(): number {
    this.requireUnsealed();
    return this.currentKek;
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

  /** Moves one wrapped value to the current KEK (the plaintext is zeroed at once). */
  rewrap(objectId: string, kekId: number, blob: Buffer): { kekId: number; blob: Buffer } {
    const plain = this.unwrap(objectId, kekId, blob);
    try {
      return this.wrap(objectId, plain);
    } finally {
      plain.fill(0);
    }
  }

  // ---- keyring changes: each one transaction, serialized, and installed in memory only after it committed ----

  /**
   * Reads the keyring in `commit`'s transaction, lets `change` rewrite it, and writes it back. The
   * in-memory state is changed by `install` after the commit, unless the barrier was sealed meanwhile
   * (then `discard` releases whatever `change` prepared).
   */
  private mutate<T>(
    commit: Commit,
    change: (doc: KeyringDoc, tx: Tx) => Promise<{ result: T; install?: () => void; discard?: () => void }>,
  ): Promise<T> {
    return this.serialize(async () => {
      this.requireUnsealed();
      const gen = this.generation;
      let prepared: { result: T; install?: () => void; discard?: () => void } | null = null;
      try {
        await commit(async (tx) => {
          const doc = await this.readDoc(tx);
          prepared = null;
          const p = await change(doc, tx);
          prepared = p;
          await tx.run("UPDATE settings SET value = $1 WHERE name = $2", [JSON.stringify(doc), KEYRING]);
        });
      } catch (e) {
        (prepared as { discard?: () => void } | null)?.discard?.();
        throw e;
      }
      const done = prepared as unknown as { result: T; install?: () => void; discard?: () => void };
      if (gen === this.generation && !this.sealed) done.install?.();
      else done.discard?.();
      return done.result;
    });
  }

  /** Keyring state without secrets: current KEK, the KEK ids, and an unfinished re-wrap. */
  async keyringInfo(q: Queryable = this.store): Promise<KeyringInfo> {
    const doc = await this.readDoc(q);
    return {
      current: doc.current,
      keks: Object.keys(doc.keks)
        .map(Number)
        .sort((a, b) => a - b),
      rewrap: doc.rewrap ?? null,
    };
  }

  /**
   * Re-wraps every keyring entry under `next` (which the barrier then owns). With `verify`, the
   * entries must open with it first (the old master reconstructed from shares or a passphrase).
   */
  async rewrapMaster(commit: Commit, next: MasterKey, o: { verify?: MasterKey; seal?: SealRecord } = {}): Promise<void> {
    try {
      await this.mutate(commit, async (doc) => {
        if (o.verify) {
          try {
            for (const [id, w] of Object.entries(doc.keks)) o.verify.unwrap(Buffer.from(w, "base64"), kekAad(id)).fill(0);
          } catch {
            fail("unseal_failed", { detail: "the submitted shares or passphrase do not open this instance's keyring" });
          }
        }
        const ids = Object.keys(doc.keks);
        if (ids.length !== this.keks.size || ids.some((id) => !this.keks.has(Number(id))))
          throw new Error("the keyring in memory differs from the stored keyring");
        for (const id of ids) doc.keks[id] = next.wrap(this.keks.get(Number(id)) as Buffer, kekAad(id)).toString("base64");
        doc.audit = next.wrap(this.auditMacKey as Buffer, AUDIT_AAD).toString("base64");
        const sealNext = o.seal;
        if (sealNext?.type === "shamir" && this.cfg.type === "shamir" && this.cfg.setId !== sealNext.setId)
          doc.retiredSetIds = [this.cfg.setId, ...(doc.retiredSetIds ?? []).filter((id) => id !== sealNext.setId)].slice(
            0,
            RETIRED_SET_IDS,
          );
        if (o.seal) doc.seal = o.seal;
        return {
          result: undefined,
          install: () => {
            const old = this.master;
            this.master = next;
            old?.destroy();
            if (o.seal) this.cfg = { ...this.cfg, ...o.seal } as SealConfig;
          },
          discard: () => next.destroy(),
        };
      });
    } catch (e) {
      next.destroy();
      throw e;
    }
  }

  /** Rotate-master for the passphrase seal: the current passphrase must open the keyring; returns the new seal fields. */
  async rotatePassphrase(commit: Commit, current: string, next: string): Promise<SealRecord> {
    const cfg = this.cfg;
    if (cfg.type !== "passphrase") return fail("bad_request", { detail: `this instance uses the ${cfg.type} seal` });
    checkPassphrase(next);
    if (current === next) fail("validation", { detail: "the new passphrase must differ from the current one" });
    // scrypt off the event loop: a passphrase rotation must not stall both listeners.
    const verify = new SoftwareMasterKey(await passphraseKeyAsync(current, cfg.salt, cfg.cost));
    const salt = randomBytes(16).toString("base64");
    const record: SealRecord = { type: "passphrase", salt, cost: SCRYPT_COST };
    try {
      await this.rewrapMaster(commit, new SoftwareMasterKey(await passphraseKeyAsync(next, salt, SCRYPT_COST)), { verify, seal: record });
    } finally {
      verify.destroy();
    }
    return record;
  }

  /**
   * Rotate-master for the file seal: the new key goes to `<keyFile>.next` (temp + fsync + rename,
   * 0600) before the keyring commits, and is renamed over the key file after.
   */
  async rotateKeyFile(commit: Commit): Promise<void> {
    const cfg = this.cfg;
    if (cfg.type !== "file") return fail("bad_request", { detail: `this instance uses the ${cfg.type} seal` });
    const next = `${cfg.keyFile}.next`;
    const master = randomBytes(MASTER_LEN);
    try {
      writeKeyFile(next, master, "atomic");
    } catch (e) {
      master.fill(0);
      throw e;
    }
    try {
      await this.rewrapMaster(commit, new SoftwareMasterKey(master));
    } catch (e) {
      rmSync(next, { force: true });
      throw e;
    }
    renameDurably(next, cfg.keyFile);
  }

  /** Rotate-master for the pkcs11 seal: a new non-extractable key `newLabel` in the same token; the old key stays in the HSM. */
  async rotateHsmKey(commit: Commit, pin: string, newLabel: string): Promise<SealRecord> {
    const cfg = this.cfg;
    if (cfg.type !== "pkcs11") return fail("bad_request", { detail: `this instance uses the ${cfg.type} seal` });
    if (newLabel === cfg.keyLabel) fail("validation", { detail: "newKeyLabel must differ from the current key label" });
    let opened: ReturnType<typeof openHsmMasterKey>;
    try {
      opened = openHsmMasterKey({ ...cfg, keyLabel: newLabel }, pin, { create: true });
    } catch (e) {
      return fail("unseal_failed", { detail: (e as Error).message });
    }
    if (!opened.created) {
      opened.key.destroy();
      fail("validation", { detail: `a key labelled '${newLabel}' already exists on the token; choose an unused label` });
    }
    const record: SealRecord = { type: "pkcs11", keyLabel: newLabel };
    await this.rewrapMaster(commit, opened.key, { seal: record });
    return record;
  }

  /**
   * A new KEK becomes current for new writes. `countOld` (in the same transaction) counts what the
   * background re-wrap has to move; the count is recorded so progress survives a restart.
   */
  async rotateKek(commit: Commit, now: string, countOld: (tx: Tx, current: number) => Promise<number>): Promise<KeyringInfo> {
    return this.mutate(commit, async (doc, tx) => {
      const id = Math.max(0, ...Object.keys(doc.keks).map(Number)) + 1;
      const kek = randomBytes(32);
      try {
        doc.keks[String(id)] = (this.master as MasterKey).wrap(kek, kekAad(id)).toString("base64");
        doc.current = id;
        doc.rewrap = { to: id, total: await countOld(tx, id), startedAt: now };
      } catch (e) {
        kek.fill(0);
        throw e;
      }
      const info: KeyringInfo = {
        current: id,
        keks: Object.keys(doc.keks)
          .map(Number)
          .sort((a, b) => a - b),
        rewrap: doc.rewrap,
      };
      return {
        result: info,
        install: () => {
          this.keks.set(id, kek);
          this.currentKek = id;
        },
        discard: () => kek.fill(0),
      };
    });
  }

  /**
   * Drops every non-current KEK that `inUse` (asked in the same transaction) says nothing is wrapped
   * under; clears the re-wrap record when none is left. Returns the ids dropped and those kept.
   */
  async dropUnusedKeks(commit: Commit, inUse: (tx: Tx, kekId: number) => Promise<boolean>): Promise<{ dropped: number[]; kept: number[] }> {
    return this.mutate(commit, async (doc, tx) => {
      const dropped: number[] = [];
      const kept: number[] = [];
      for (const id of Object.keys(doc.keks).map(Number)) {
        if (id === doc.current) continue;
        if (await inUse(tx, id)) kept.push(id);
        else {
          delete doc.keks[String(id)];
          dropped.push(id);
        }
      }
      if (kept.length === 0) delete doc.rewrap;
      return {
        result: { dropped, kept },
        install: () => {
          for (const id of dropped) {
            this.keks.get(id)?.fill(0);
            this.keks.delete(id);
          }
        },
      };
    });
  }
}
