// Listener allowlists (config `allowlists.api` / `allowlists.kmip`): CIDRs for every connection (`all`, checked when
// the TCP connection arrives, before any TLS byte) and per role (checked on every request once the identity is known).
import { BlockList, isIP, type Server, type Socket } from "node:net";
import type { AccessService } from "../auth/access-service.js";
import { anonymous, type Identity } from "../auth/identity.js";
import { ALLOWLIST_KEYS, type ListenerName, parseCidr } from "../config/allowlists.js";
import type { Allowlist } from "../config/config.js";
import { StrongroomError } from "../errors/registry.js";
import type { Logger } from "../logger.js";

// Validated with the rest of the configuration (config/ sits below the transports): re-exported for their callers.
export { ALLOWLIST_KEYS, ALLOWLIST_LISTENERS, type Cidr, type ListenerName, parseCidr, validateAllowlists } from "../config/allowlists.js";

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
export function enforceAllowlist(
  server: Server,
  access: Pick<AccessService, "recordRefusal">,
  log: Logger,
  listener: ListenerName,
  config: Allowlist | undefined,
): ListenerAllowlist {
  const allow = new ListenerAllowlist(listener, config);
  if (allow.empty) return allow;
  server.prependListener("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? null;
    const why = allow.refuseAddress(address);
    if (!why) return;
    refused.add(socket);
    socket.destroy();
    void access
      .recordRefusal({ actor: anonymous(address), action: "allowlist.refused", reason: `${listener}: ${why}` })
      .catch((e) => log.error("audit write failed", { error: String(e) }));
  });
  return allow;
}

/**
 * The per-request check of the caller's role list: refused requests are audited (`allowlist.refused`, outcome
 * denied) and fail with `forbidden` (already audited, so transports do not record them again).
 */
export async function requireAllowedRole(
  access: Pick<AccessService, "refuse">,
  allow: ListenerAllowlist,
  identity: Identity,
  requestId: string,
): Promise<void> {
  const why = allow.refuseRole(identity.address, identity.role);
  if (!why) return;
  await access.refuse(
    { actor: identity, requestId },
    "allowlist.refused",
    new StrongroomError("forbidden", { detail: `${allow.listener}: ${why} (role ${identity.role})` }),
  );
}
