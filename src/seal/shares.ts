// Text encoding of Shamir unseal shares: set id, index, value and a checksum so typos are caught one share at a time.
import { createHash, timingSafeEqual } from "node:crypto";
import type { Share } from "../crypto/shamir.js";
import { fail } from "../errors/registry.js";

const PREFIX = "srs1";

function checksum(setId: string, index: number, value: Buffer): Buffer {
  return createHash("sha256").update(`${PREFIX}|${setId}|${index}|`).update(value).digest().subarray(0, 4);
}

/** `srs1-<set id>-<index>-<value hex>-<checksum hex>` */
export function encodeShare(setId: string, share: Share): string {
  const idx = share.index.toString(16).padStart(2, "0");
  return `${PREFIX}-${setId}-${idx}-${share.value.toString("hex")}-${checksum(setId, share.index, share.value).toString("hex")}`;
}

/**
 * Parses and checks one share; throws `invalid_share` without echoing the share text, or `superseded_share` for a
 * share of a set a rekey replaced (`retiredSetIds`, newest first).
 */
export function decodeShare(text: string, expectedSetId: string, retiredSetIds: readonly string[] = []): Share {
  const t = text.trim();
  if (t.length > 600) fail("invalid_share", { detail: "unseal share is too long" });
  // The value is exactly one 32-byte master key share: shares of other lengths cannot combine.
  const m = /^srs1-([0-9a-f]{8})-([0-9a-f]{2})-([0-9a-f]{64})-([0-9a-f]{8})$/.exec(t);
  if (!m) fail("invalid_share", { detail: "unseal share is malformed (expected srs1-…)" });
  const [, setId, idxHex, valueHex, sumHex] = m as RegExpExecArray;
  if (setId !== expectedSetId && retiredSetIds.includes(setId)) fail("superseded_share");
  if (setId !== expectedSetId) fail("invalid_share", { detail: "unseal share belongs to a different Strongroom instance" });
  const index = Number.parseInt(idxHex, 16);
  const value = Buffer.from(valueHex, "hex");
  const expected = checksum(setId, index, value);
  if (index === 0 || !timingSafeEqual(expected, Buffer.from(sumHex, "hex"))) {
    value.fill(0);
    fail("invalid_share", { detail: "unseal share checksum does not match (mistyped?)" });
  }
  return { index, value };
}
