// The built-in certificate authority: issues server and client certificates, registers their roles, revokes them.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  X509Certificate,
} from "node:crypto";
import type { AuditLog, Role } from "../audit/audit-log.js";
import { audited } from "../audit/operation.js";
import { type ExecutionSummary, type GovernanceService, principalOf } from "../auth/governance.js";
import { type AuthCtx, normalizeSerial, SYSTEM_ACTOR } from "../auth/identity.js";
import { requireRole } from "../auth/policy.js";
import { fail } from "../errors/registry.js";
import type { Barrier } from "../seal/barrier.js";
import type { SqlValue, Store, Tx } from "../store/store.js";
import { parseCsr } from "./csr.js";
import { createPkcs12 } from "./pkcs12.js";
import { createCertificate, type Name, randomSerial } from "./x509.js";

export const CERT_ROLES = ["admin", "auditor", "client", "peer"] as const;
export type CertRole = (typeof CERT_ROLES)[number];
export const LEAF_KEY_TYPES = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] as const;
export type LeafKeyType = (typeof LEAF_KEY_TYPES)[number];
export type CaKeyType = "ec-p256" | "rsa-3072";

export interface CertRecord {
  serial: string;
  cn: string;
  ou: string;
  role: Role | "server";
  notBefore: string;
  notAfter: string;
  status: "valid" | "revoked";
  revokedAt: string | null;
  issuedBy: string;
  /** Who this certificate acts for toward dual-control quorums (the requester of its issuance, transitively). */
  principal: string;
}

export interface IssueRequest {
  cn: string;
  ou?: string;
  role: CertRole;
  days?: number;
  /** PEM PKCS#10 request; without it the server generates the key pair. */
  csr?: string;
  keyType?: LeafKeyType;
  /**
   * The certificate is for a person of their own: it counts as its CN toward dual-control quorums instead of as
   * the requester. Approvers see it; without it, an identity issued at admin X's request counts as X.
   */
  newPrincipal?: boolean;
}

export interface IssuedCertificate {
  serial: string;
  certificate: string;
  ca: string;
  notAfter: string;
  role: CertRole | "server";
  /** Only for server-side key generation. */
  privateKey?: string;
  pkcs12?: Buffer;
  pkcs12Password?: string;
}

const CA_KEY = "ca_key";
const CA_NAME = "ca_name";

export function generateLeafKey(t: LeafKeyType | CaKeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  if (t.startsWith("rsa-")) return generateKeyPairSync("rsa", { modulusLength: Number(t.slice(4)), publicExponent: 0x10001 });
  return generateKeyPairSync("ec", { namedCurve: t === "ec-p384" ? "P-384" : "P-256" });
}

/** The same, off the event loop (async generateKeyPair): used while the server runs (certificate issue). */
export function generateLeafKeyAsync(t: LeafKeyType): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    const done = (e: Error | null, publicKey: KeyObject, privateKey: KeyObject) => (e ? reject(e) : resolve({ privateKey, publicKey }));
    if (t.startsWith("rsa-")) generateKeyPair("rsa", { modulusLength: Number(t.slice(4)), publicExponent: 0x10001 }, done);
    else generateKeyPair("ec", { namedCurve: t === "ec-p384" ? "P-384" : "P-256" }, done);
  });
}

/** A printable random password for PKCS#12 files. */
export const newPassword = (): string => randomBytes(18).toString("base64url");

interface CaMaterial {
  certPem: string;
  name: Name;
  key: KeyObject;
}

/** Pure issuance with a given CA: used by `init` (before any server runs) and by the service. */
export function issueWithCa(
  ca: CaMaterial,
  req: { cn: string; ou?: string; publicKey: KeyObject; days: number; now: Date; server?: { dnsNames: string[]; ipAddresses: string[] } },
): { serial: string; pem: string; notBefore: Date; notAfter: Date } {
  const serial = randomSerial();
  const notBefore = new Date(req.now.getTime() - 5 * 60_000); // tolerate small clock skew between machines
  const notAfter = new Date(req.now.getTime() + req.days * 86400_000);
  const pem = createCertificate({
    serial,
    subject: { cn: req.cn, ou: req.ou || undefined, o: ca.name.o },
    issuer: ca.name,
    notBefore,
    notAfter,
    publicKey: req.publicKey,
    signingKey: ca.key,
    issuerPublicKey: createPublicKey(ca.key),
    isCA: false,
    extKeyUsage: req.server ? ["serverAuth"] : ["clientAuth"],
    dnsNames: req.server?.dnsNames,
    ipAddresses: req.server?.ipAddresses,
  });
  return { serial: normalizeSerial(serial.toString("hex")), pem, notBefore, notAfter };
}

export function createCa(keyType: CaKeyType, node: string, now: Date): CaMaterial {
  const { privateKey, publicKey } = generateLeafKey(keyType);
  const name: Name = { cn: `Strongroom CA ${node}`.slice(0, 64), o: "Strongroom" };
  const certPem = createCertificate({
    serial: randomSerial(),
    subject: name,
    issuer: name,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + 3650 * 86400_000),
    publicKey,
    signingKey: privateKey,
    issuerPublicKey: publicKey,
    isCA: true,
  });
  return { certPem, name, key: privateKey };
}

export class CertificateService {
  private ca: CaMaterial | null = null;

  constructor(
    private readonly deps: {
      store: Store;
      barrier: Barrier;
      audit: AuditLog;
      clock: () => Date;
      caCertPem: string;
      governance?: GovernanceService;
    },
  ) {
    deps.barrier.onUnseal(async () => {
      this.ca = null;
    });
    // Sealing drops the unwrapped CA key with every other key.
    deps.barrier.onSeal(() => {
      this.ca = null;
    });
  }

  /** Stores the CA private key wrapped under the current KEK, and its name (at init). */
  static async storeCa(tx: Tx, barrier: Barrier, ca: CaMaterial): Promise<void> {
    const der = ca.key.export({ type: "pkcs8", format: "der" });
    const { kekId, blob } = barrier.wrap(`settings:${CA_KEY}`, der);
    der.fill(0);
    await tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", [CA_KEY, JSON.stringify({ kekId, blob: blob.toString("base64") })]);
    await tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", [CA_NAME, JSON.stringify(ca.name)]);
  }

  /** Records a certificate and the role it grants. */
  static async register(
    tx: Tx,
    c: {
      serial: string;
      cn: string;
      ou: string;
      role: CertRole | "server";
      notBefore: Date;
      notAfter: Date;
      pem: string;
      issuedBy: string;
      /** The principal it acts for (see principalOf): its own CN for init's bundles, else the requester's principal. */
      principal: string;
    },
  ) {
    await tx.run(
      `INSERT INTO certificates (serial, cn, ou, role, not_before, not_after, status, revoked_at, issued_by, pem, principal)
       VALUES ($1, $2, $3, $4, $5, $6, 'valid', NULL, $7, $8, $9)`,
      [c.serial, c.cn, c.ou, c.role, c.notBefore.toISOString(), c.notAfter.toISOString(), c.issuedBy, c.pem, c.principal],
    );
  }

  private async loadCa(): Promise<CaMaterial> {
    if (this.ca) return this.ca;
    const keyRow = await this.deps.store.get<{ value: string }>("SELECT value FROM settings WHERE name = $1", [CA_KEY]);
    const nameRow = await this.deps.store.get<{ value: string }>("SELECT value FROM settings WHERE name = $1", [CA_NAME]);
    if (!keyRow || !nameRow) throw new Error("CA key missing from the keyring");
    const { kekId, blob } = JSON.parse(keyRow.value) as { kekId: number; blob: string };
    const der = this.deps.barrier.unwrap(`settings:${CA_KEY}`, kekId, Buffer.from(blob, "base64"));
    const key = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    der.fill(0);
    this.ca = { certPem: this.deps.caCertPem, name: JSON.parse(nameRow.value) as Name, key };
    return this.ca;
  }

  /**
   * Issues a certificate. Under dual control every issuance is protected, whatever the role: an admin, auditor or
   * peer certificate is a new voice in governance, and a client certificate is access to every key its CN or OU
   * is granted (issuing one for `CN=bob` is reading bob's keys). Bundles (server-generated keys) are refused then:
   * an approved request executes later, when no one is there to receive a generated private key.
   */
  async issue(ctx: AuthCtx, req: IssueRequest): Promise<IssuedCertificate> {
    const g = this.deps.governance;
    if (g?.current().dualControl) {
      requireRole(ctx.actor, ["admin"], "issue certificates");
      if (!req.csr)
        fail("validation", { detail: "csr: under dual control certificates are issued for a CSR (the private key stays with its holder)" });
      return g.guard(ctx, "cert.issue", req, req.cn, () => this.doIssue(ctx, req));
    }
    return this.doIssue(ctx, req);
  }

  /** The execution summary of a certificate issue: role, CN, OU, validity, the CSR key's SPKI fingerprint, principal. */
  async describeIssue(ctx: AuthCtx, req: IssueRequest): Promise<ExecutionSummary> {
    const out: ExecutionSummary = {
      issue: "certificate",
      role: req.role,
      cn: req.cn,
      ou: req.ou ?? "",
      validityDays: req.days ?? 365,
      // Whom the new identity counts as toward quorums: the requester's principal unless it is declared a new person.
      principal: await this.principalFor(ctx, req),
      newPrincipal: req.newPrincipal === true,
    };
    if (req.csr) {
      let parsed: ReturnType<typeof parseCsr>;
      try {
        parsed = parseCsr(req.csr);
      } catch (e) {
        return fail("invalid_csr", { detail: (e as Error).message.slice(0, 200) });
      }
      out.publicKey = describePublicKey(parsed.publicKey);
    } else out.publicKey = { generatedBy: "server", keyType: req.keyType ?? "ec-p256" };
    return out;
  }

  /**
   * Whom a certificate to be issued counts as: the requester's principal, or — declared with newPrincipal — its
   * own CN, which must not already be someone's principal (no one can be issued a second voice under another's name).
   */
  private async principalFor(ctx: AuthCtx, req: IssueRequest): Promise<string> {
    if (!req.newPrincipal) return principalOf(this.deps.store, ctx.actor);
    if (
      await this.deps.store.get("SELECT serial FROM certificates WHERE principal = $1 OR (principal IS NULL AND cn = $1) LIMIT 1", [req.cn])
    )
      fail("validation", {
        detail: `newPrincipal: '${req.cn.slice(0, 128)}' is already a principal; a new person needs a CN of their own`,
      });
    return req.cn;
  }

  /** The execution summary of a certificate revocation: which certificate, whose, with what role. */
  async describeRevoke(_ctx: AuthCtx, serialText: string): Promise<ExecutionSummary> {
    const serial = normalizeSerial(serialText);
    const r = await this.deps.store.get<{
      cn: string;
      ou: string;
      role: string;
      status: string;
      not_after: string;
      principal: string | null;
    }>("SELECT cn, ou, role, status, not_after, principal FROM certificates WHERE serial = $1", [serial]);
    if (!r) return fail("cert_not_found", { serial });
    return {
      revoke: "certificate",
      serial,
      cn: r.cn,
      ou: r.ou,
      role: r.role,
      status: r.status,
      notAfter: r.not_after,
      principal: r.principal,
    };
  }

  private doIssue(ctx: AuthCtx, req: IssueRequest): Promise<IssuedCertificate> {
    return audited(this.deps.audit, ctx, "cert.issue", { name: req.cn }, async (op) => {
      requireRole(ctx.actor, ["admin"], "issue certificates");
      // The server's own actor name owns system keys (the BYOK import key): no certificate may carry it.
      if (req.cn === SYSTEM_ACTOR.cn) fail("validation", { detail: `cn: '${SYSTEM_ACTOR.cn}' is reserved for the server itself` });
      const ca = await this.loadCa();
      let publicKey: KeyObject;
      let privateKey: KeyObject | null = null;
      if (req.csr) {
        let parsed: ReturnType<typeof parseCsr>;
        try {
          parsed = parseCsr(req.csr);
        } catch (e) {
          return fail("invalid_csr", { detail: (e as Error).message.slice(0, 200) });
        }
        publicKey = parsed.publicKey;
      } else {
        const pair = await generateLeafKeyAsync(req.keyType ?? "ec-p256");
        publicKey = pair.publicKey;
        privateKey = pair.privateKey;
      }
      const issued = issueWithCa(ca, { cn: req.cn, ou: req.ou, publicKey, days: req.days ?? 365, now: this.deps.clock() });
      // Transitive: an identity issued at admin X's request acts for X (so does one issued by that identity).
      const principal = await this.principalFor(ctx, req);
      op.detail = { serial: issued.serial, role: req.role, ou: req.ou ?? "", csr: Boolean(req.csr), principal };
      await op.commit(this.deps.store, (tx) =>
        CertificateService.register(tx, { ...issued, cn: req.cn, ou: req.ou ?? "", role: req.role, issuedBy: ctx.actor.cn, principal }),
      );
      const out: IssuedCertificate = {
        serial: issued.serial,
        certificate: issued.pem,
        ca: ca.certPem,
        notAfter: issued.notAfter.toISOString(),
        role: req.role,
      };
      if (privateKey) {
        out.privateKey = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
        out.pkcs12Password = newPassword();
        out.pkcs12 = createPkcs12({
          certPem: issued.pem,
          keyPem: out.privateKey,
          caPem: ca.certPem,
          password: out.pkcs12Password,
          friendlyName: req.cn,
        });
      }
      return out;
    });
  }

  async list(ctx: AuthCtx, f: { status?: "valid" | "revoked"; cn?: string; cursor?: string; limit?: number }) {
    return audited(this.deps.audit, ctx, "cert.list", {}, async () => {
      requireRole(ctx.actor, ["admin", "auditor"], "list certificates");
      const where: string[] = [];
      const params: SqlValue[] = [];
      if (f.status) where.push(`status = $${params.push(f.status)}`);
      if (f.cn) where.push(`cn = $${params.push(f.cn)}`);
      if (f.cursor) where.push(`serial > $${params.push(f.cursor)}`);
      const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
      const rows = await this.deps.store.all<Record<string, string>>(
        `SELECT serial, cn, ou, role, not_before, not_after, status, revoked_at, issued_by, principal FROM certificates
         ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY serial LIMIT $${params.push(limit + 1)}`,
        params,
      );
      const page = rows.slice(0, limit);
      const certs: CertRecord[] = page.map(toRecord);
      return { certificates: certs, next: rows.length > limit ? page[page.length - 1].serial : null };
    });
  }

  /** Revokes immediately: the next handshake and the next request on an open connection are refused. */
  async revoke(ctx: AuthCtx, serialText: string): Promise<CertRecord> {
    const serial = normalizeSerial(serialText);
    const g = this.deps.governance;
    if (!g) return this.doRevoke(ctx, serial);
    requireRole(ctx.actor, ["admin"], "revoke certificates");
    return g.guard(ctx, "cert.revoke", { serial }, serial, () => this.doRevoke(ctx, serial));
  }

  private doRevoke(ctx: AuthCtx, serial: string): Promise<CertRecord> {
    return audited(this.deps.audit, ctx, "cert.revoke", { name: serial }, async (op) => {
      requireRole(ctx.actor, ["admin"], "revoke certificates");
      if (serial === ctx.actor.serial) fail("invalid_state", { detail: "an admin cannot revoke the certificate it is connected with" });
      await op.commit(this.deps.store, async (tx) => {
        const row = await tx.get<{ status: string; role: string }>("SELECT status, role FROM certificates WHERE serial = $1", [serial]);
        if (!row) fail("cert_not_found", { serial });
        if (row?.role === "server") fail("invalid_state", { detail: "the server certificate is replaced, not revoked" });
        if (row?.status === "revoked") fail("invalid_state", { detail: `certificate ${serial} is already revoked` });
        op.detail = { role: row?.role };
        await tx.run("UPDATE certificates SET status = 'revoked', revoked_at = $1 WHERE serial = $2", [
          this.deps.clock().toISOString(),
          serial,
        ]);
      });
      const r = await this.deps.store.get<Record<string, string>>(
        "SELECT serial, cn, ou, role, not_before, not_after, status, revoked_at, issued_by, principal FROM certificates WHERE serial = $1",
        [serial],
      );
      return toRecord(r as Record<string, string>);
    });
  }
}

function toRecord(r: Record<string, string>): CertRecord {
  return {
    serial: r.serial,
    cn: r.cn,
    ou: r.ou,
    role: r.role as CertRecord["role"],
    notBefore: r.not_before,
    notAfter: r.not_after,
    status: r.status as CertRecord["status"],
    revokedAt: r.revoked_at,
    issuedBy: r.issued_by,
    principal: r.principal ?? (r.issued_by === "init" ? r.cn : r.issued_by),
  };
}

/** A public key as an approver can check it against its holder's: algorithm, size or curve, SHA-256 of the SPKI. */
export function describePublicKey(k: KeyObject): { algorithm: string; spkiSha256: string } {
  const d = k.asymmetricKeyDetails;
  const algorithm =
    k.asymmetricKeyType === "rsa"
      ? `rsa-${d?.modulusLength}`
      : k.asymmetricKeyType === "ec"
        ? `ec-${d?.namedCurve}`
        : String(k.asymmetricKeyType);
  const spki = k.export({ type: "spki", format: "der" });
  return { algorithm, spkiSha256: createHash("sha256").update(spki).digest("hex") };
}

/** Reads CN/OU of a PEM certificate (for tests and the CLI). */
export function describeCert(pem: string): { serial: string; subject: string; notAfter: string } {
  const c = new X509Certificate(pem);
  return { serial: normalizeSerial(c.serialNumber), subject: c.subject, notAfter: c.validTo };
}
