// Creates a new instance directory: seal, keyring, CA, server certificate, client bundles, configuration, profiles.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog } from "./audit/audit-log.js";
import { SYSTEM_ACTOR } from "./auth/identity.js";
import { CONFIG_FILE, type Config, defaultConfig, resolvePath, writeConfig } from "./config/config.js";
import {
  type CaKeyType,
  CertificateService,
  type CertRole,
  createCa,
  generateLeafKey,
  issueWithCa,
  newPassword,
} from "./pki/cert-service.js";
import { createPkcs12 } from "./pki/pkcs12.js";
import { Barrier, newSeal, type SealConfig } from "./seal/barrier.js";
import { SqliteStore } from "./store/sqlite.js";

export interface InitOptions {
  dir: string;
  seal: SealConfig["type"];
  shares?: number;
  threshold?: number;
  passphrase?: string;
  /** pkcs11 seal: the HSM module, token and master key label (the key is created if missing), and the user PIN. */
  pkcs11?: { module: string; tokenLabel: string; keyLabel: string; pin: string };
  /** DNS names and IP addresses for the server certificate. */
  hosts: string[];
  apiPort: number;
  kmipPort: number;
  listenAddress?: string;
  caKeyType?: CaKeyType;
  node?: string;
  timeZone?: string;
  now?: Date;
  /**
   * production (the default, `strongroom init`): dual control on and default key policy owner-only, so that one
   * admin can neither act alone nor read keys through a client certificate they issued. development (`npm start`,
   * tests, benchmarks): both permissive — and the instance says so.
   */
  profile?: "production" | "development";
  /** Overrides the profile's dual-control setting (`strongroom init --no-dual-control`). */
  dualControl?: boolean;
  /** Overrides the profile's default key policy (`strongroom init --default-policy`). */
  defaultPolicy?: "any-authenticated" | "owner-only";
}

export interface BundlePaths {
  cert: string;
  key: string;
  ca: string;
  p12: string;
  p12Password: string;
  role: CertRole;
  cn: string;
  ou: string;
}

export interface InitResult {
  dir: string;
  config: string;
  seal: {
    type: SealConfig["type"];
    shares?: number;
    threshold?: number;
    keyFile?: string;
    pkcs11?: { module: string; tokenLabel: string; keyLabel: string; keyCreated: boolean };
  };
  /** Shamir shares: shown once, never stored by Strongroom. */
  unsealShares?: string[];
  ca: string;
  serverCert: string;
  bundles: Record<string, BundlePaths>;
  profiles: string;
  api: string;
  /** KMIP over TLS, `host:port` (the port KMIP clients such as vSphere are given; not the REST API). */
  kmip: string;
  /** The security defaults this instance starts with (changed later through PATCH /v1/sys/governance, under dual control). */
  governance: { profile: "production" | "development"; dualControl: boolean; defaultPolicy: "any-authenticated" | "owner-only" };
}

/** The bundles every new instance gets: two admins for dual control, an auditor, one application. */
const BUNDLES: { name: string; role: CertRole; ou: string }[] = [
  { name: "admin1", role: "admin", ou: "admins" },
  { name: "admin2", role: "admin", ou: "admins" },
  { name: "auditor", role: "auditor", ou: "auditors" },
  { name: "app", role: "client", ou: "apps" },
];

const isIp = (h: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(":");

function writeSecret(path: string, data: string | Buffer): void {
  writeFileSync(path, data, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export async function initInstance(o: InitOptions): Promise<InitResult> {
  if (existsSync(join(o.dir, CONFIG_FILE))) throw new Error(`${join(o.dir, CONFIG_FILE)} exists: this directory already holds an instance`);
  const now = o.now ?? new Date();
  for (const d of ["", "data", "pki", "bundles", "seal"]) mkdirSync(join(o.dir, d), { recursive: true, mode: 0o700 });

  const sealed = newSeal(o.seal, {
    shares: o.shares,
    threshold: o.threshold,
    passphrase: o.passphrase,
    keyFile: join(o.dir, "seal", "master.key"),
    pkcs11: o.pkcs11,
  });
  const cfg: Config = defaultConfig(o.dir, sealed.config.type === "file" ? { type: "file", keyFile: "seal/master.key" } : sealed.config);
  cfg.listen.apiPort = o.apiPort;
  cfg.listen.kmipPort = o.kmipPort;
  if (o.listenAddress) cfg.listen.address = o.listenAddress;
  if (o.node) cfg.node = o.node;
  if (o.timeZone) cfg.timeZone = o.timeZone;
  const profile = o.profile ?? "production";
  const dualControl = o.dualControl ?? profile === "production";
  const defaultPolicy = o.defaultPolicy ?? (profile === "production" ? "owner-only" : "any-authenticated");
  cfg.governance.dualControl = dualControl;
  cfg.policy.default = defaultPolicy;

  const store = new SqliteStore(resolvePath(cfg, cfg.storage.path));
  try {
    await store.migrate();
    const barrier = new Barrier(store, cfg.seal);
    const audit = new AuditLog(store, barrier, cfg.node, () => now);
    await store.atomic((tx) => barrier.initialize(tx, sealed.master));
    await barrier.unsealWithMaster(sealed.master);

    const ca = createCa(o.caKeyType ?? "ec-p256", cfg.node, now);
    const caPath = resolvePath(cfg, cfg.tls.ca);
    writeFileSync(caPath, ca.certPem, { mode: 0o644 });

    const serverKey = generateLeafKey("ec-p256");
    const hosts = o.hosts.length ? o.hosts : ["localhost", "127.0.0.1"];
    const server = issueWithCa(ca, {
      cn: hosts[0],
      ou: "server",
      publicKey: serverKey.publicKey,
      days: 825,
      now,
      server: { dnsNames: hosts.filter((h) => !isIp(h)), ipAddresses: hosts.filter(isIp) },
    });
    writeFileSync(resolvePath(cfg, cfg.tls.cert), server.pem, { mode: 0o644 });
    writeSecret(resolvePath(cfg, cfg.tls.key), serverKey.privateKey.export({ type: "pkcs8", format: "pem" }) as string);

    const bundles: Record<string, BundlePaths> = {};
    const registrations: Parameters<typeof CertificateService.register>[1][] = [
      { ...server, cn: hosts[0], ou: "server", role: "server", issuedBy: "init", principal: hosts[0] },
    ];
    for (const b of BUNDLES) {
      const pair = generateLeafKey("ec-p256");
      const issued = issueWithCa(ca, { cn: b.name, ou: b.ou, publicKey: pair.publicKey, days: 365, now });
      const dir = join(o.dir, "bundles", b.name);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const keyPem = pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
      const password = newPassword();
      const paths: BundlePaths = {
        cert: join(dir, "cert.pem"),
        key: join(dir, "key.pem"),
        ca: join(dir, "ca.pem"),
        p12: join(dir, "bundle.p12"),
        p12Password: join(dir, "bundle.p12.password"),
        role: b.role,
        cn: b.name,
        ou: b.ou,
      };
      writeFileSync(paths.cert, issued.pem, { mode: 0o644 });
      writeSecret(paths.key, keyPem);
      writeFileSync(paths.ca, ca.certPem, { mode: 0o644 });
      writeSecret(paths.p12, createPkcs12({ certPem: issued.pem, keyPem, caPem: ca.certPem, password, friendlyName: b.name }));
      writeSecret(paths.p12Password, `${password}\n`);
      bundles[b.name] = paths;
      // init's bundles are distinct people: each is its own principal.
      registrations.push({ ...issued, cn: b.name, ou: b.ou, role: b.role, issuedBy: "init", principal: b.name });
    }

    await store.atomic(async (tx) => {
      await CertificateService.storeCa(tx, barrier, ca);
      for (const r of registrations) await CertificateService.register(tx, r);
      await audit.append(tx, {
        actor: SYSTEM_ACTOR,
        action: "sys.init",
        outcome: "success",
        detail: {
          seal: cfg.seal.type,
          profile,
          dualControl,
          defaultPolicy,
          certificates: registrations.map((r) => ({ cn: r.cn, role: r.role, serial: r.serial })),
        },
      });
    });
    barrier.seal();
    writeConfig(cfg);

    const api = `https://${hosts[0].includes(":") ? `[${hosts[0]}]` : hosts[0]}:${o.apiPort}`;
    const kmip = `${hosts[0].includes(":") ? `[${hosts[0]}]` : hosts[0]}:${o.kmipPort}`;
    const profiles = join(o.dir, "profiles.json");
    writeFileSync(
      profiles,
      `${JSON.stringify(
        {
          default: "admin1",
          profiles: Object.fromEntries(Object.entries(bundles).map(([n, b]) => [n, { addr: api, cert: b.cert, key: b.key, ca: b.ca }])),
        },
        null,
        2,
      )}\n`,
      { mode: 0o600 },
    );

    return {
      dir: o.dir,
      config: join(o.dir, CONFIG_FILE),
      seal: {
        type: cfg.seal.type,
        ...(cfg.seal.type === "shamir" ? { shares: cfg.seal.shares, threshold: cfg.seal.threshold } : {}),
        ...(cfg.seal.type === "file" ? { keyFile: resolvePath(cfg, cfg.seal.keyFile) } : {}),
        ...(cfg.seal.type === "pkcs11"
          ? {
              pkcs11: {
                module: cfg.seal.module,
                tokenLabel: cfg.seal.tokenLabel,
                keyLabel: cfg.seal.keyLabel,
                keyCreated: sealed.created === true,
              },
            }
          : {}),
      },
      unsealShares: sealed.shares,
      ca: caPath,
      serverCert: resolvePath(cfg, cfg.tls.cert),
      bundles,
      profiles,
      api,
      kmip,
      governance: { profile, dualControl, defaultPolicy },
    };
  } finally {
    sealed.master.destroy();
    await store.close();
  }
}
