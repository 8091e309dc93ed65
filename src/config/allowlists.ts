// Validation of the `allowlists` configuration (CIDR syntax, listener and role keys); enforced by transport/allowlist.ts.
import { isIP } from "node:net";
import type { Allowlist } from "./config.js";

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
