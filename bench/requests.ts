// Pre-encoded KMIP 1.4 requests for the benchmark (the same bytes go to Strongroom, the ceiling and PyKMIP).
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, decodeTtlv, encodeTtlv, enm, find, findAll, int, struct, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";

type Op = keyof typeof Enum.Operation;

/** One request message, KMIP 1.4, with one batch item per entry. */
export function kmipMessage(items: [Op, TtlvItem[]][]): Buffer {
  return encodeTtlv(
    struct(
      Tag.RequestMessage,
      struct(
        Tag.RequestHeader,
        struct(Tag.ProtocolVersion, int(Tag.ProtocolVersionMajor, 1), int(Tag.ProtocolVersionMinor, 4)),
        int(Tag.BatchCount, items.length),
      ),
      ...items.map(([op, payload]) =>
        struct(Tag.BatchItem, enm(Tag.Operation, Enum.Operation[op]), struct(Tag.RequestPayload, ...payload)),
      ),
    ),
  );
}

const attribute = (name: string, value: TtlvItem) => struct(Tag.Attribute, text(Tag.AttributeName, name), value);
const nameValue = (name: string) =>
  struct(Tag.AttributeValue, text(Tag.NameValue, name), enm(Tag.NameType, Enum.NameType.UninterpretedTextString));

/** Create payload for an AES-256 key usable for Encrypt and Decrypt; without a name the server picks the identity. */
export function createPayload(name?: string): TtlvItem[] {
  return [
    enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
    struct(
      Tag.TemplateAttribute,
      attribute("Cryptographic Algorithm", enm(Tag.AttributeValue, Enum.CryptographicAlgorithm.AES)),
      attribute("Cryptographic Length", int(Tag.AttributeValue, 256)),
      attribute(
        "Cryptographic Usage Mask",
        int(Tag.AttributeValue, Enum.CryptographicUsageMask.Encrypt | Enum.CryptographicUsageMask.Decrypt),
      ),
      name === undefined ? undefined : attribute("Name", nameValue(name)),
    ),
  ];
}

export const createRequest = (name?: string) => kmipMessage([["Create", createPayload(name)]]);
export const createBatch = (names: string[]) => kmipMessage(names.map((n) => ["Create", createPayload(n)]));
export const activateRequest = (uid: string) => kmipMessage([["Activate", [text(Tag.UniqueIdentifier, uid)]]]);
export const getRequest = (uid: string) => kmipMessage([["Get", [text(Tag.UniqueIdentifier, uid)]]]);
export const locateRequest = (name: string) => kmipMessage([["Locate", [attribute("Name", nameValue(name))]]]);
/** Locate by any of `names` and/or an object type, with Maximum Items and Offset Items (Located Items comes back). */
export const locatePagedRequest = (f: { names?: string[]; objectType?: number; max: number; offset: number }) =>
  kmipMessage([
    [
      "Locate",
      [
        int(Tag.MaximumItems, f.max),
        int(Tag.OffsetItems, f.offset),
        ...(f.objectType === undefined ? [] : [attribute("Object Type", enm(Tag.AttributeValue, f.objectType))]),
        ...(f.names ?? []).map((n) => attribute("Name", nameValue(n))),
      ],
    ],
  ]);

/**
 * Encrypt of `data` with AES-CBC (PKCS#5 padding) or AES-GCM (16-byte tag); the server generates the IV/nonce and
 * returns it, as a client that cares about nonce reuse would have it do.
 */
export function encryptRequest(uid: string, mode: "cbc" | "gcm", data: Buffer): Buffer {
  const params =
    mode === "cbc"
      ? struct(
          Tag.CryptographicParameters,
          enm(Tag.BlockCipherMode, Enum.BlockCipherMode.CBC),
          enm(Tag.PaddingMethod, Enum.PaddingMethod.PKCS5),
          enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
        )
      : struct(
          Tag.CryptographicParameters,
          enm(Tag.BlockCipherMode, Enum.BlockCipherMode.GCM),
          enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
          int(Tag.TagLength, 16),
        );
  return kmipMessage([["Encrypt", [text(Tag.UniqueIdentifier, uid), params, bytes(Tag.Data, data)]]]);
}

/** The payloads of a response, one per batch item; throws on any failed item. */
export function responsePayloads(frame: Buffer): TtlvItem[] {
  const msg = decodeTtlv(frame);
  return findAll(msg, Tag.BatchItem).map((b) => {
    if (find(b, Tag.ResultStatus)?.value !== Enum.ResultStatus.Success) {
      const reason = find(b, Tag.ResultReason)?.value;
      throw new Error(`KMIP ${Object.entries(Enum.ResultReason).find(([, v]) => v === reason)?.[0]}: ${find(b, Tag.ResultMessage)?.value}`);
    }
    return find(b, Tag.ResponsePayload) as TtlvItem;
  });
}

export const uidOf = (payload: TtlvItem) => String(find(payload, Tag.UniqueIdentifier)?.value);
