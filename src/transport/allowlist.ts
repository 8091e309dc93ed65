// Listener allowlists (config `allowlists.api` / `allowlists.kmip`): CIDRs for every connection (`all`, checked when
// the TCP connection arrives, before any TLS byte) and per role (checked on every request once the identity is known).
import { BlockList, isIP, type Server, type Socket } from "node:net";
import type { App } from "../app.js";
import { audited } from "../audit/operation.js";
import { anonymous, type Identity } from "../auth/identity.js";
import type { Allowlist } from "../config/config.js";
import { fail } from "../errors/registry.js";
import type { Logger } from "../logger.js";

export type ListenerName = "api" | "kmip";
export const ALLOWLIST_LISTENERS: readonly ListenerName[] = ["api", "kmip"];
export const ALLOWLIST_KEYS = ["all", "admin", "auditor", "client", "peer"] as const;

export interface Cidr {
  address: string;
  prefix: number;
  family: "ipv4" | "ipv6";
}

/** "10.0.0.0/8", "2001:db8::/32", or a single address ("192.0.2.7" = /32, "::1" = /128). */
export function parseCidr(text: string): Cidr {
  const [address, prefixText, extra] = text.trim().split("/");
  const v = isIP(address ?? "");
  if (extra !== undefined || v === 0) throw new Error(`'${text}' is not an IPv4 or IPv6 address or CIDR (address/prefix)`);
  const max = v === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) throw new Error(`'${text}': the prefix length must be a number 0-${max}`);
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) throw new Error(`'${text}': an IPv${v} prefix length is 0-${max}`);
  return { address, prefix, family: v === 4 ? "ipv4" : "ipv6" };
}

/** Checks the `allowlists` configuration; throws an Error naming the first bad entry. */
export function validateAllowlists(raw: unknown): { api?: Allowlist; kmip?: Allowlist } {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new Error("allowlists must be a mapping with api and/or kmip");
  for (const [listener, list] of Object.entries(raw)) {
    if (!(ALLOWLIST_LISTENERS as readonly string[]).includes(listener))
      throw new Error(`allowlists.${listener}: unknown listener (use ${ALLOWLIST_LISTENERS.join(" or ")})`);
    if (list === null || list === undefined) continue;
    if (typeof list !== "object" || Array.isArray(list))
      throw new Error(`allowlists.${listener} must be a mapping of ${ALLOWLIST_KEYS.join(", ")} to CIDR lists`);
    for (const [key, cidrs] of Object.entries(list)) {
      if (!(ALLOWLIST_KEYS as readonly string[]).includes(key))
        throw new Error(`allowlists.${listener}.${key}: unknown key (use ${ALLOWLIST_KEYS.join(", ")})`);
      if (cidrs === null || cidrs === undefined) continue;
      if (!Array.isArray(cidrs)) throw new Error(`allowlists.${listener}.${key} must be a list of CIDRs`);
      cidrs.forEach((c, i) => {
        if (typeof c !== "string") throw new Error(`allowlists.${listener}.${key}[${i}] must be a CIDR string`);
        try {
          parseCidr(c);
        } catch (e) {
          throw new Error(`allowlists.${listener}.${key}[${i}]: ${(e as Error).message}`);
        }
      });
    }
  }
  return raw as { api?: Allowlist; kmip?: Allowlist };
}

/** An IPv4-mapped IPv6 address ("::ffff:10.1.2.3", from a dual-stack listener) is checked as the IPv4 address. */
function family(address: string): { address: string; family: "ipv4" | "ipv6" } | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], family: "ipv4" };
  const v = isIP(address);
  return v === 0 ? null : { address, family: v === 4 ? "ipv4" : "ipv6" };
}

/**
 * The allowlist of one listener. Every list that applies must admit the address: `all` (for every connection) and
 * the caller's role list. An absent or empty list admits any address.
 */
export class ListenerAllowlist {
  private readonly lists = new Map<string, { block: BlockList; text: string }>();

  constructor(
    readonly listener: ListenerName,
    config: Allowlist | undefined,
  ) {
    for (const key of ALLOWLIST_KEYS) {
      const cidrs = config?.[key];
      if (!cidrs?.length) continue;
      const block = new BlockList();
      for (const c of cidrs.map(parseCidr)) block.addSubnet(c.address, c.prefix, c.family);
      this.lists.set(key, { block, text: `allowlists.${listener}.${key}` });
    }
  }

  /** Null when `key`'s list admits `address` (or there is no such list); else why not. */
  private refusal(key: string, address: string | null | undefined): string | null {
    const l = this.lists.get(key);
    if (!l) return null;
    const a = address ? family(address) : null;
    if (a && l.block.check(a.address, a.family)) return null;
    return `address ${address ?? "(unknown)"} is not in ${l.text}`;
  }

  /** The connection-time check (`all`). */
  refuseAddress(address: string | null | undefined): string | null {
    return this.refusal("all", address);
  }

  /** The per-request check for an identity's role. */
  refuseRole(address: string | null | undefined, role: Identity["role"]): string | null {
    return this.refusal(role, address);
  }

  get empty(): boolean {
    return this.lists.size === 0;
  }
}

/** Raw sockets refused at connection time: their aborted TLS handshake is not audited a second time. */
const refused = new WeakSet<object>();

/** Marks a raw socket closed at connection time by another check (connection limits), audited there. */
export const markRefused = (socket: object): void => {
  refused.add(socket);
};

/** Whether the TLS socket of a failed handshake was closed at connection time (already audited: allowlist, limits). */
export const refusedByAllowlist = (tlsSocket: object): boolean =>
  refused.has((tlsSocket as { _parent?: object })._parent ?? tlsSocket) || refused.has(tlsSocket);

/**
 * Installs the connection-time check of `allowlists[listener].all` on `server`: a connection from another address is
 * closed before the TLS handshake starts and audited (`allowlist.refused`, outcome denied, with the address).
 * Returns the allowlist for the per-request role check.
 */
export function enforceAllowlist(server: Server, app: App, log: Logger, listener: ListenerName): ListenerAllowlist {
  const allow = new ListenerAllowlist(listener, app.config.allowlists?.[listener]);
  if (allow.empty) return allow;
  server.prependListener("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? null;
    const why = allow.refuseAddress(address);
    if (!why) return;
    refused.add(socket);
    socket.destroy();
    void app.audit
      .record({ actor: anonymous(address), action: "allowlist.refused", outcome: "denied", reason: `${listener}: ${why}` })
      .catch((e) => log.error("audit write failed", { error: String(e) }));
  });
  return allow;
}

/**
 * The per-request check of the caller's role list: refused requests are audited (`allowlist.refused`, outcome
 * denied) and fail with `forbidden` (already audited, so transports do not record them again).
 */
export async function requireAllowedRole(app: App, allow: ListenerAllowlist, identity: Identity, requestId: string): Promise<void> {
  const why = allow.refuseRole(identity.address, identity.role);
  if (!why) return;
  await audited(app.audit, { actor: identity, requestId }, "allowlist.refused", {}, async () =>
    fail("forbidden", { detail: `${allow.listener}: ${why} (role ${identity.role})` }),
  );
}
