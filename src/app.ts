// Composition root: opens an instance directory and wires storage, seal, services and the scheduler together.
import { readFileSync } from "node:fs";
import { AuditLog } from "./audit/audit-log.js";
import { type Config, loadConfig, resolvePath } from "./config/config.js";
import { CryptoService } from "./keys/crypto-service.js";
import { KeyService } from "./keys/key-service.js";
import { ObjectService } from "./keys/object-service.js";
import type { Logger } from "./logger.js";
import { CertificateService } from "./pki/cert-service.js";
import { Barrier } from "./seal/barrier.js";
import { SqliteStore } from "./store/sqlite.js";
import type { Store } from "./store/store.js";
import { SysService } from "./sys/sys-service.js";
import { VERSION } from "./version.js";

export interface App {
  config: Config;
  store: Store;
  barrier: Barrier;
  audit: AuditLog;
  keys: KeyService;
  crypto: CryptoService;
  /** Managed objects by KMIP Unique Identifier (the KMIP layer's view of the same keys). */
  objects: ObjectService;
  certs: CertificateService;
  sys: SysService;
  clock: () => Date;
  version: string;
  /** Runs due rollovers and destructions now (the scheduler calls it every minute and at unseal). */
  tick(): Promise<{ rolledOver: number; destroyed: number }>;
  close(): Promise<void>;
}

export interface OpenOptions {
  clock?: () => Date;
  log: Logger;
}

export async function openApp(dir: string, o: OpenOptions): Promise<App> {
  const config = loadConfig(dir);
  const clock = o.clock ?? (() => new Date());
  const store = new SqliteStore(resolvePath(config, config.storage.path));
  await store.migrate();
  const seal = config.seal.type === "file" ? { ...config.seal, keyFile: resolvePath(config, config.seal.keyFile) } : config.seal;
  const barrier = new Barrier(store, seal);
  const audit = new AuditLog(store, barrier, config.node, clock);
  const keys = new KeyService({
    store,
    barrier,
    audit,
    clock,
    defaultPolicy: config.policy.default,
    timeZone: config.timeZone,
    cacheSize: config.limits.keyCacheSize,
  });
  const crypto = new CryptoService(keys);
  const objects = new ObjectService(keys);
  const certs = new CertificateService({
    store,
    barrier,
    audit,
    clock,
    caCertPem: readFileSync(resolvePath(config, config.tls.ca), "utf8"),
  });
  const sys = new SysService({ barrier, audit, clock, node: config.node, version: VERSION });

  let running: Promise<{ rolledOver: number; destroyed: number }> | null = null;
  const tick = () => {
    if (barrier.sealed) return Promise.resolve({ rolledOver: 0, destroyed: 0 });
    running ??= (async () => {
      try {
        return { rolledOver: await keys.rolloverDue(), destroyed: await keys.destroyDue() };
      } finally {
        running = null;
      }
    })();
    return running;
  };
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
    keys,
    crypto,
    objects,
    certs,
    sys,
    clock,
    version: VERSION,
    tick,
    async close() {
      clearInterval(timer);
      await running?.catch(() => undefined);
      keys.cache.clear();
      barrier.seal();
      await store.close();
    },
  };
}
