// KMIP Locate: ids of objects matching every given attribute, with Offset/Maximum Items and (1.3+) Located Items.
import type { KeyState } from "../../keys/key-model.js";
import { type Attr, is2x, objectAttributes, readAttributes1x, readAttributes2x } from "../attributes.js";
import { Enum } from "../codec/tables.js";
import { encodeTtlv, find, findAll, ItemType, int, Tag, type TtlvItem } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { OBJECT_TYPE_NAMES, typeFor, uidItem } from "./common.js";

const STATE_NAMES: Record<number, KeyState> = {
  [Enum.State.PreActive]: "Pre-Active",
  [Enum.State.Active]: "Active",
  [Enum.State.Deactivated]: "Deactivated",
  [Enum.State.Compromised]: "Compromised",
  [Enum.State.Destroyed]: "Destroyed",
  [Enum.State.DestroyedCompromised]: "Destroyed Compromised",
};

const SSM = Enum.StorageStatusMask;
const DATES = new Set([
  "Initial Date",
  "Activation Date",
  "Deactivation Date",
  "Destroy Date",
  "Compromise Date",
  "Last Change Date",
  "Original Creation Date",
  "Process Start Date",
  "Protect Stop Date",
  "Archive Date",
]);
const bytesOf = (v: TtlvItem) => encodeTtlv({ ...v, tag: 0x420000 } as TtlvItem);

export const locate: KmipOperation = {
  name: "Locate",
  async handle(c) {
    const attrs: Attr[] = is2x(c.major) ? readAttributes2x(find(c.payload, Tag.Attributes)) : readAttributes1x(c.payload);
    const max = find(c.payload, Tag.MaximumItems);
    const cap = c.app.config.limits.kmipLocateMaxItems;
    const offset = find(c.payload, Tag.OffsetItems);
    const byName = (n: string) => attrs.filter((a) => a.name === n);
    const names = byName("Name").map((a) => String(find(a.value, Tag.NameValue)?.value ?? ""));
    const ot = byName("Object Type")[0];
    const objectType = ot ? OBJECT_TYPE_NAMES[ot.value.value as number] : undefined;
    if (ot && !objectType) return [];
    const states = byName("State").map((s) => STATE_NAMES[s.value.value as number]);
    const algLen = byName("Cryptographic Algorithm").length || byName("Cryptographic Length").length;
    let typeTest: ((t: string) => boolean) | undefined;
    if (algLen) {
      const alg = byName("Cryptographic Algorithm")[0]?.value.value as number | undefined;
      const len = byName("Cryptographic Length")[0]?.value.value as number | undefined;
      typeTest = (t) => {
        const [fam, rest] = [t.split("-")[0], t.split("-")[1] ?? ""];
        if (alg !== undefined) {
          const want = typeFor(
            [{ name: "Cryptographic Algorithm", value: { tag: Tag.CryptographicAlgorithm, type: ItemType.Enumeration, value: alg } }],
            "SymmetricKey",
            { length: 1 },
          ).split("-")[0];
          if (want !== fam) return false;
        }
        if (len !== undefined) return Number(rest.replace(/\D/g, "")) === len;
        return true;
      };
    }
    // "Storage Status Mask … If omitted, then only on-line objects SHALL be returned" (KMIP 1.x); KMIP 1.4/2.x
    // name destroyed objects' metadata "Destroyed storage".
    const masks = findAll(c.payload, Tag.StorageStatusMask);
    const storage = masks.length ? masks.reduce((m, x) => m | Number(x.value), 0) : SSM.OnLineStorage;
    const handled = new Set(["Name", "Object Type", "State", "Cryptographic Algorithm", "Cryptographic Length"]);
    const rest = attrs.filter((a) => !handled.has(a.name));
    const { ids, total } = await c.app.objects.locate(c.auth, {
      names: names.length ? names : undefined,
      objectType,
      states: states.length ? states : undefined,
      types: typeTest,
      match: (o) => {
        // Destroyed objects are in "destroyed storage", everything else on-line (nothing is archived here).
        if (((o.state === "Destroyed" || o.state === "Destroyed Compromised" ? SSM.DestroyedStorage : SSM.OnLineStorage) & storage) === 0)
          return false;
        if (rest.length === 0) return true;
        const have = objectAttributes(o, [], () => null);
        const groups = new Map<string, Attr[]>();
        for (const a of rest) groups.set(a.name, [...(groups.get(a.name) ?? []), a]);
        for (const [name, wanted] of groups) {
          const values = have.filter((h) => h.name === name);
          if (name === "Cryptographic Usage Mask") {
            const m = Number(values[0]?.value.value ?? 0);
            if (wanted.some((w) => (m & Number(w.value.value)) !== Number(w.value.value))) return false;
          } else if (DATES.has(name) && wanted.length === 2) {
            // Two values of a date attribute select the inclusive range between them.
            const [lo, hi] = wanted.map((w) => BigInt(w.value.value as bigint)).sort((a, b) => (a < b ? -1 : 1));
            if (!values.some((v) => (v.value.value as bigint) >= lo && (v.value.value as bigint) <= hi)) return false;
          } else if (!wanted.every((w) => values.some((v) => bytesOf(v.value).equals(bytesOf(w.value))))) {
            return false;
          }
        }
        return true;
      },
      offset: offset ? Number(offset.value) : undefined,
      // "Maximum Items … the maximum number of object identifiers the server MAY return": the server's cap
      // (limits.kmipLocateMaxItems) applies with or without it; a client pages on with Offset Items.
      max: Math.min(max ? Number(max.value) : cap, cap),
    });
    // "Located Items … A server MAY elect to omit this value from the Response if it is unable or unwilling to
    // determine the total count of matched items" (KMIP 1.3+). It only tells the client something when it pages
    // with Maximum Items or Offset Items, so it is returned then.
    // A result cut by the cap also reports Located Items, so the client can tell there is more and page.
    const capped = total - (offset ? Number(offset.value) : 0) > ids.length;
    const paging = (c.major > 1 || c.minor >= 3) && (max !== undefined || offset !== undefined || capped);
    if (ids.length === 1) c.setPlaceholder(ids[0]);
    return [...(paging ? [int(Tag.LocatedItems, total)] : []), ...ids.map(uidItem)];
  },
};
