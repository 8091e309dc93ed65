// Composition root: opens an instance directory and wires storage, seal, services and the scheduler together.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog } from "./audit/audit-log.js";
import { AuditService } from "./audit/audit-service.js";
import { audited, observeSuccess } from "./audit/operation.js";
import { AccessService } from "./auth/access-service.js";
import { GovernanceService } from "./auth/governance.js";
import { CONFIG_FILE, type Config, loadConfig, resolvePath } from "./config/config.js";
import { CryptoService } from "./keys/crypto-service.js";
import { TransferService } from "./keys/export-import.js";
import type { RevocationReason } from "./keys/key-model.js";
import { KeyReports } from "./keys/key-report.js";
import { KeyService } from "./keys/key-service.js";
import { KeyUseService } from "./keys/key-use.js";
import { KmipAuditService } from "./keys/kmip-audit.js";
import { ObjectService } from "./keys/object-service.js";
import { UsageTracker } from "./keys/usage-tracker.js";
import type { Logger } from "./logger.js";
import { CertificateService } from "./pki/cert-service.js";
import { Barrier } from "./seal/barrier.js";
import { SqliteStore } from "./store/sqlite.js";
import type { Store } from "./store/store.js";
import { OperatorService } from "./sys/operator-service.js";
import { SysService } from "./sys/sys-service.js";
import { VERSION } from "./version.js";

/** What one scheduler run did: rollovers, destructions, and KMIP Activation / Deactivation Dates carried out. */
export interface SchedulerRun {
  rolledOver: number;
  destroyed: number;
  activated: number;
  deactivated: number;
}

export interface App {
  config: Config;
  store: Store;
  barrier: Barrier;
  audit: AuditLog;
  /** Audit query and verify (`GET /v1/audit`, `GET /v1/audit/verify`), authorized and audited. */
  auditQuery: AuditService;
  /** Identity lookup and the audit of refusals, for the listeners (which never touch the store or the audit log). */
  access: AccessService;
  keys: KeyService;
  crypto: CryptoService;
  /** The one key-use policy (use and release of a key version), called by REST and KMIP alike. */
  keyUse: KeyUseService;
  /** Managed objects by KMIP Unique Identifier (the KMIP layer's view of the same keys). */
  objects: ObjectService;
  /** Authorization and audit of KMIP batch items, undone batches and unreadable messages. */
  kmipAudit: KmipAuditService;
  /** Wrapped export, the BYOK import key and import (PCI mode). */
  transfer: TransferService;
  certs: CertificateService;
  /** Key usage counters (in memory, flushed every few seconds and at close; `flush()` writes them now). */
  usage: UsageTracker;
  reports: KeyReports;
  /** Dual control: approval requests, authorization windows, governance settings. */
  governance: GovernanceService;
  sys: SysService;
  /** Rekey, rotate-master, rotate-kek (background re-wrap), seal. */
  operator: OperatorService;
  clock: () => Date;
  version: string;
  /** Runs due rollovers and destructions now (the scheduler calls it every minute and at unseal). */
  tick(): Promise<SchedulerRun>;
  close(): Promise<void>;
}

export interface OpenOptions {
  clock?: () => Date;
  log: Logger;
}

export async function openApp(dir: string, o: OpenOptions): Promise<App> {
  const config = loadConfig(dir);
  o.log.configure(config.log.level);
  o.log.info("config loaded", { path: join(config.dir, CONFIG_FILE), node: config.node, seal: config.seal.type, logLevel: o.log.level });
  const clock = o.clock ?? (() => new Date());
  const dbPath = resolvePath(config, config.storage.path);
  const store = new SqliteStore(dbPath);
  const schema = await store.migrate();
  o.log.info(schema.applied.length ? "migrations applied" : "database schema current", {
    path: dbPath,
    schemaVersion: schema.version,
    applied: schema.applied,
  });
  const seal = config.seal.type === "file" ? { ...config.seal, keyFile: resolvePath(config, config.seal.keyFile) } : config.seal;
  const barrier = new Barrier(store, seal);
  const audit = new AuditLog(store, barrier, config.node, clock, config.storage.syncReads === true);
  const auditQuery = new AuditService({ audit });
  const access = new AccessService({ store, audit, clock });
  const governance = new GovernanceService({ store, audit, clock, initial: config.governance });
  await governance.load();
  const keys = new KeyService({
    governance,
    store,
    barrier,
    audit,
    clock,
    defaultPolicy: config.policy.default,
    timeZone: config.timeZone,
    cacheSize: config.limits.keyCacheSize,
    maxResponseBytes: config.limits.maxResponseBytes,
  });
  const objects = new ObjectService(keys);
  const keyUse = new KeyUseService(keys, objects);
  const kmipAudit = new KmipAuditService({ audit, objects });
  const crypto = new CryptoService(keys, keyUse);
  const usage = new UsageTracker({ store, audit, clock, keys });
  observeSuccess(audit, (actor, action, op) => usage.observe(actor, action, op));
  usage.start(5000, (e) => o.log.error("key usage flush failed", { error: String(e) }));
  const reports = new KeyReports({ store, audit, clock, usage });
  const transfer = new TransferService({ keys, objects, keyUse });
  const certs = new CertificateService({
    store,
    barrier,
    audit,
    clock,
    caCertPem: readFileSync(resolvePath(config, config.tls.ca), "utf8"),
    governance,
  });
  // How an approved dual-control request is carried out (the same service call, as the requester), and how its
  // execution summary — what approvers review and approve by digest — is derived from the stored request.
  type A = Record<string, unknown>;
  type UpdateReq = Parameters<KeyService["update"]>[2];
  type RevokeReq = Parameters<KeyService["revoke"]>[2];
  governance.register(
    "key.schedule-destroy",
    (ctx, a) => keys.scheduleDeletion(ctx, (a as A).name as string, (a as A).pendingDays as number),
    (_ctx, a) => keys.describeScheduleDeletion((a as A).name as string, (a as A).pendingDays as number),
  );
  governance.register(
    "key.revoke",
    (ctx, a) => keys.revoke(ctx, (a as A).name as string, (a as A).req as RevokeReq),
    (_ctx, a) => keys.describeRevoke((a as A).name as string, (a as A).req as RevokeReq),
  );
  for (const action of ["key.policy-change", "key.rotation-change"] as const)
    governance.register(
      action,
      (ctx, a) => keys.update(ctx, (a as A).name as string, (a as A).req as UpdateReq),
      (_ctx, a) => keys.describeUpdate((a as A).name as string, (a as A).req as UpdateReq),
    );
  governance.register(
    "kmip.destroy",
    (ctx, a) => audited(audit, ctx, "kmip.destroy", {}, (op) => objects.destroy(ctx, op, (a as A).id as string)),
    (_ctx, a) => objects.describe(a as { id: string }),
  );
  governance.register(
    "kmip.revoke",
    (ctx, a) => {
      const x = a as { id: string; reason: RevocationReason; compromiseDate?: string };
      return audited(audit, ctx, "kmip.revoke", {}, (op) =>
        objects.revoke(ctx, op, x.id, x.reason, x.compromiseDate ? new Date(x.compromiseDate) : undefined),
      );
    },
    (_ctx, a) => objects.describe(a as { id: string; reason: RevocationReason; compromiseDate?: string }),
  );
  type IssueReq = Parameters<CertificateService["issue"]>[1];
  governance.register(
    "cert.issue",
    (ctx, a) => certs.issue(ctx, a as IssueReq),
    (ctx, a) => certs.describeIssue(ctx, a as IssueReq),
  );
  governance.register(
    "cert.revoke",
    (ctx, a) => certs.revoke(ctx, (a as A).serial as string),
    (ctx, a) => certs.describeRevoke(ctx, (a as A).serial as string),
  );
  type ExportReq = Parameters<TransferService["exportKey"]>[1];
  type ImportReq = Parameters<TransferService["importKey"]>[1];
  governance.register(
    "key.export",
    (ctx, a) => transfer.exportKey(ctx, a as ExportReq),
    (ctx, a) => transfer.describeExport(ctx, a as ExportReq),
  );
  governance.register(
    "key.import",
    (ctx, a) => transfer.importKey(ctx, a as ImportReq),
    (ctx, a) => transfer.describeImport(ctx, a as ImportReq),
  );
  type GovPatch = Parameters<GovernanceService["change"]>[1];
  governance.register(
    "governance.change",
    (ctx, a) => governance.change(ctx, a as GovPatch),
    (ctx, a) => governance.describeChange(ctx, a as GovPatch),
  );
  const sys = new SysService({ barrier, audit, clock, node: config.node, version: VERSION, log: o.log });
  const operator = new OperatorService({ store, barrier, audit, clock, config, log: o.log });
  await operator.open();
  // Sealing (POST /v1/sys/seal) drops every unwrapped version; the barrier zeroes the master key and KEKs itself.
  barrier.onSeal(() => keys.cache.clear());

  let running: Promise<SchedulerRun> | null = null;
  const tick = () => {
    if (barrier.sealed) return Promise.resolve({ rolledOver: 0, destroyed: 0, activated: 0, deactivated: 0 });
    running ??= (async () => {
      try {
        const lifecycle = await keys.lifecycleDue();
        return { rolledOver: await keys.rolloverDue(), destroyed: await keys.destroyDue(), ...lifecycle };
      } finally {
        running = null;
      }
    })();
    return running;
  };
  // The lifecycle fact a sysadmin looks for: unsealed, by which seal (for Shamir: how many shares, never the shares).
  barrier.onUnseal(async () => {
    const c = barrier.config;
    o.log.info(
      "unsealed",
      c.type === "shamir"
        ? { seal: c.type, sharesSubmitted: c.threshold, sharesNeeded: c.threshold, sharesIssued: c.shares, master: barrier.masterKind }
        : { seal: c.type, master: barrier.masterKind },
    );
  });
  // Missed rollovers and destructions (the server was down or sealed) run as soon as keys are reachable.
  barrier.onUnseal(async () => {
    setImmediate(() => void tick().catch((e) => o.log.error("scheduler failed", { error: String(e) })));
  });
  const timer = setInterval(() => void tick().catch((e) => o.log.error("scheduler failed", { error: String(e) })), 60_000);
  timer.unref();

  return {
    config,
    store,
    barrier,
    audit,
    auditQuery,
    access,
    keys,
    crypto,
    keyUse,
    objects,
    kmipAudit,
    transfer,
    certs,
    usage,
    reports,
    governance,
    sys,
    operator,
    clock,
    version: VERSION,
    tick,
    async close() {
      clearInterval(timer);
      await running?.catch(() => undefined);
      await operator.close();
      await usage.stop().catch((e) => o.log.error("key usage flush failed", { error: String(e) }));
      keys.cache.clear();
      barrier.seal();
      await store.close();
    },
  };
}
