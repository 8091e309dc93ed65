// KMIP Locate: ids of objects matching every given attribute, with Offset/Maximum Items and (1.3+) Located Items.
import { fail } from "../../errors/registry.js";
import type { KeyState, ObjectRow } from "../../keys/key-model.js";
import type { LocateDateColumn, LocateFilter } from "../../keys/object-service.js";
import { type Attr, attrNameOfTag, objectAttributes, readAttributes1x, readAttributes2x } from "../attributes.js";
import { Enum } from "../codec/tables.js";
import { encodeTtlv, find, findAll, ItemType, int, Tag, type TtlvItem } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { OBJECT_TYPE_NAMES, uidItem } from "./common.js";

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
/** Date attributes that are exactly a column of the object's row (objectAttributes reports them from it). */
const DATE_COLUMNS: Record<string, LocateDateColumn> = {
  "Initial Date": "created_at",
  "Last Change Date": "updated_at",
  "Deactivation Date": "deactivated_at",
  "Compromise Date": "compromised_at",
  "Destroy Date": "destroyed_at",
};
/**
 * Attributes Locate cannot evaluate: computed from the key material or the certificate when GetAttributes asks, not
 * kept with the object. A filter on one is refused (locate_filter_unsupported), never ignored.
 */
const UNEVALUABLE = new Set([
  "Digest",
  "Certificate Type",
  "Certificate Length",
  "Certificate Identifier",
  "Certificate Subject",
  "Certificate Issuer",
  "X.509 Certificate Identifier",
  "X.509 Certificate Subject",
  "X.509 Certificate Issuer",
  "Digital Signature Algorithm",
  "Key Value Present",
  "Key Value Location",
]);
const PAYLOAD_FIELDS = new Set<number>([
  Tag.MaximumItems,
  Tag.OffsetItems,
  Tag.StorageStatusMask,
  Tag.Attribute,
  Tag.TemplateAttribute,
  Tag.Attributes,
]);

const bytesOf = (v: TtlvItem) => encodeTtlv({ ...v, tag: 0x420000 } as TtlvItem);
/** A KMIP Date-Time (seconds) as the ISO time the columns hold, clamped to years 1970 … 9999 (no stored date is outside). */
const isoOf = (seconds: bigint) =>
  new Date(Number(seconds < 0n ? 0n : seconds > 253402300800n ? 253402300800n : seconds) * 1000).toISOString();
const refuse = (detail: string): never => fail("locate_filter_unsupported", { detail });
/** A spec name may be named in an error; a custom attribute's name is request content and is not. */
const nameForError = (name: string) => (/^[xy]-/.test(name) ? "a custom attribute" : `the attribute ${name}`);

/**
 * The attributes of a Locate request, in every form a client sends them: 1.x `Attribute` items in the payload (the
 * specification's form), 1.x wrapped in a `Template-Attribute` (FortiGate and other 1.x clients), 2.x `Attributes`.
 * Any other field is refused — a filter the server skipped would return unrelated objects.
 */
function locateAttributes(payload: TtlvItem): Attr[] {
  if (payload.type !== ItemType.Structure) return [];
  for (const it of payload.value) {
    if (!PAYLOAD_FIELDS.has(it.tag)) refuse(`the request field ${attrNameOfTag(it.tag)}`);
  }
  const attrs = readAttributes1x(payload);
  for (const t of findAll(payload, Tag.TemplateAttribute)) {
    if (t.type !== ItemType.Structure) return refuse("a Template-Attribute that is not a structure");
    for (const it of t.value) {
      // A Name in a Template-Attribute names a KMIP Template object: there are none here.
      if (it.tag !== Tag.Attribute) refuse(`${attrNameOfTag(it.tag)} in a Template-Attribute (templates are not supported)`);
    }
    attrs.push(...readAttributes1x(t));
  }
  for (const a of findAll(payload, Tag.Attributes)) attrs.push(...readAttributes2x(a));
  return attrs;
}

/** Cryptographic Algorithm → a SQL LIKE pattern every type with that algorithm has (the narrowing; the check is exact). */
function typeLike(alg: number): string {
  const A = Enum.CryptographicAlgorithm;
  const hmac: Record<number, string> = {
    [A.HMAC_SHA1]: "hmac-sha1",
    [A.HMAC_SHA224]: "hmac-sha224",
    [A.HMAC_SHA256]: "hmac-sha256",
    [A.HMAC_SHA384]: "hmac-sha384",
    [A.HMAC_SHA512]: "hmac-sha512",
  };
  if (alg === A.AES) return "aes-%";
  if (alg === A.RSA) return "rsa-%";
  if (alg === A.EC) return "ec-%";
  return hmac[alg] ?? "%";
}

export const locate: KmipOperation = {
  name: "Locate",
  async handle(c) {
    const attrs = locateAttributes(c.payload);
    const max = find(c.payload, Tag.MaximumItems);
    const offset = find(c.payload, Tag.OffsetItems);
    const { locateMaxItems: cap, locateScanMax: scanMax } = c.services.settings;
    const groups = new Map<string, Attr[]>();
    for (const a of attrs) {
      if (UNEVALUABLE.has(a.name) || a.name.startsWith("Certificate Subject ") || a.name.startsWith("Certificate Issuer "))
        refuse(nameForError(a.name));
      groups.set(a.name, [...(groups.get(a.name) ?? []), a]);
    }
    // "Storage Status Mask … If omitted, then only on-line objects SHALL be returned" (KMIP 1.x); KMIP 1.4/2.x
    // name destroyed objects' metadata "Destroyed storage". Nothing is archived here: Archival Storage adds none.
    const masks = findAll(c.payload, Tag.StorageStatusMask);
    const storage = masks.length ? masks.reduce((m, x) => m | Number(x.value), 0) : SSM.OnLineStorage;
    const f: LocateFilter = {
      online: (storage & SSM.OnLineStorage) !== 0,
      destroyed: (storage & SSM.DestroyedStorage) !== 0,
      offset: offset ? Number(offset.value) : 0,
      // "Maximum Items … the maximum number of object identifiers the server MAY return": the server's cap
      // (limits.kmipLocateMaxItems) applies with or without it; a client pages on with Offset Items.
      max: Math.min(max ? Number(max.value) : cap, cap),
      scanMax,
    };
    const text = (a: Attr, v: TtlvItem | undefined) => {
      if (!v || v.type !== ItemType.TextString) refuse(`${nameForError(a.name)} with a value that is not text`);
      return (v as TtlvItem).value as string;
    };
    const residual: Attr[][] = [];
    let none = false;
    for (const [name, wanted] of groups) {
      if (name === "Name") f.names = wanted.map((a) => text(a, find(a.value, Tag.NameValue)));
      else if (name === "Unique Identifier") f.ids = wanted.map((a) => text(a, a.value));
      else if (name === "Object Type") {
        const types = new Set(wanted.map((a) => OBJECT_TYPE_NAMES[a.value.value as number]));
        // A type the server does not hold, or two different ones (single-valued): nothing matches.
        if (types.size !== 1 || types.has(undefined as never)) none = true;
        else f.objectType = [...types][0];
      } else if (name === "State") {
        f.states = wanted.map((a) => STATE_NAMES[a.value.value as number] ?? refuse("a State value that does not exist"));
      } else if (name === "Cryptographic Usage Mask") {
        f.usageMasks = wanted.map((a) => Number(a.value.value));
      } else if (DATE_COLUMNS[name] && wanted.every((w) => w.value.type === ItemType.DateTime)) {
        const secs = wanted.map((w) => w.value.value as bigint);
        // Two values of a date attribute select the inclusive range between them; otherwise each value must equal it.
        const ranges: [bigint, bigint][] =
          secs.length === 2 ? [secs[0] < secs[1] ? [secs[0], secs[1]] : [secs[1], secs[0]]] : secs.map((s) => [s, s]);
        f.dates = [...(f.dates ?? []), ...ranges.map(([lo, hi]) => ({ column: DATE_COLUMNS[name], from: isoOf(lo), to: isoOf(hi + 1n) }))];
      } else {
        if (name === "Cryptographic Algorithm") {
          f.narrow = wanted.map((w) => ({ typeLike: typeLike(Number(w.value.value)), stored: name }));
        }
        residual.push(wanted);
      }
    }
    if (residual.length) {
      const version = { major: c.major, minor: c.minor };
      // Exactly what GetAttributes reports: each wanted value present (a date pair: a value in the range).
      f.residual = (o: ObjectRow) => {
        const have = objectAttributes(o, [], () => null, version);
        for (const wanted of residual) {
          const name = wanted[0].name;
          const vals = have.filter((h) => h.name === name);
          if (DATES.has(name) && wanted.length === 2) {
            const [lo, hi] = wanted.map((w) => BigInt(w.value.value as bigint)).sort((a, b) => (a < b ? -1 : 1));
            if (!vals.some((v) => v.value.type === ItemType.DateTime && v.value.value >= lo && v.value.value <= hi)) return false;
          } else if (!wanted.every((w) => vals.some((v) => bytesOf(v.value).equals(bytesOf(w.value))))) return false;
        }
        return true;
      };
    }
    const { ids, total } = none ? { ids: [], total: 0 } : await c.services.objects.locate(c.auth, f);
    // "Located Items … A server MAY elect to omit this value from the Response if it is unable or unwilling to
    // determine the total count of matched items" (KMIP 1.3+). It only tells the client something when it pages
    // with Maximum Items or Offset Items, so it is returned then.
    // A result cut by the cap also reports Located Items, so the client can tell there is more and page.
    const capped = total - f.offset > ids.length;
    const paging = (c.major > 1 || c.minor >= 3) && (max !== undefined || offset !== undefined || capped);
    if (ids.length === 1) c.setPlaceholder(ids[0]);
    return [...(paging ? [int(Tag.LocatedItems, total)] : []), ...ids.map(uidItem)];
  },
};
