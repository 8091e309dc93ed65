// Identity from a verified client certificate: CN = user, OU = group, role as recorded when the certificate was issued.
import type { TLSSocket } from "node:tls";
import type { Actor, Role } from "../audit/audit-log.js";
import { StrongroomError } from "../errors/registry.js";
import type { Store } from "../store/store.js";

export interface Identity extends Actor {
  cn: string;
  ou: string;
  role: Role;
  serial: string;
}

/** What the TLS layer saw of the peer (already chain-verified against Strongroom's CA). */
export interface PeerCertificate {
  serial: string;
  cn: string;
  ou: string;
}

/** Peer certificates by connection: getPeerCertificate() re-parses the certificate on every call. */
const peers = new WeakMap<TLSSocket, PeerCertificate | null>();

/**
 * The verified peer certificate of a TLS socket, or null if none was presented or it did not verify. Read once
 * per connection: the listeners disable renegotiation, so a connection cannot change its certificate.
 */
export function peerOf(socket: TLSSocket): PeerCertificate | null {
  let p = peers.get(socket);
  if (p === undefined) {
    p = readPeer(socket);
    peers.set(socket, p);
  }
  return p;
}

function readPeer(socket: TLSSocket): PeerCertificate | null {
  if (!socket.authorized) return null;
  const c = socket.getPeerCertificate();
  if (!c?.serialNumber) return null;
  const subj = c.subject as unknown as Record<string, string | string[]>;
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) ?? "";
  return { serial: c.serialNumber, cn: first(subj.CN), ou: first(subj.OU) };
}

/** Serial numbers are compared as upper-case hex without leading zeros. */
export const normalizeSerial = (s: string): string =>
  s
    .replace(/:/g, "")
    .toUpperCase()
    .replace(/^0+(?=.)/, "");

/** The actor of work the server does by itself (rollover, scheduled destruction). */
export const SYSTEM_ACTOR: Actor = { cn: "strongroom", ou: "system", role: null, serial: null, address: null };

export const anonymous = (address: string | null): Actor => ({ cn: null, ou: null, role: null, serial: null, address });

export const peerActor = (peer: PeerCertificate | null, address: string | null): Actor =>
  peer ? { cn: peer.cn, ou: peer.ou, role: null, serial: normalizeSerial(peer.serial), address } : anonymous(address);

interface CertRow {
  cn: string;
  ou: string;
  role: Role;
  status: string;
  not_after: string;
}

/**
 * Looks the certificate up on every request, so a revocation takes effect on the next request of an
 * already-open connection. A CA-signed certificate this server has no record of (e.g. its own server
 * certificate) is refused.
 */
export async function identify(db: Pick<Store, "cachedGet">, peer: PeerCertificate, address: string | null, now: Date): Promise<Identity> {
  const serial = normalizeSerial(peer.serial);
  // Cached between changes: a revocation is a committed change and empties the cache.
  const row = await db.cachedGet<CertRow>("SELECT cn, ou, role, status, not_after FROM certificates WHERE serial = $1", [serial]);
  if (!row || row.cn !== peer.cn || row.role === ("server" as Role)) throw new StrongroomError("cert_unknown");
  if (row.status !== "valid") throw new StrongroomError("cert_revoked");
  // TLS already checked both validity dates against the process's wall clock; the service clock
  // (injectable, and the one rollover and audit use) must agree that the certificate has not expired.
  if (new Date(row.not_after) < now) throw new StrongroomError("cert_expired");
  return { cn: row.cn, ou: row.ou, role: row.role, serial, address };
}

/** The context of an authenticated service call. */
export interface AuthCtx {
  actor: Identity;
  requestId: string;
  /** Set when an approved dual-control request is being carried out (its approval id). */
  approval?: string;
}
