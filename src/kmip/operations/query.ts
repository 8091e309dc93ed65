// KMIP Query: supported operations and object types, server information (KMIP 1.4 §4.25, 2.1 §6.1.37).
import { VERSION } from "../../version.js";
import { Enum } from "../codec/tables.js";
import { bool, enm, findAll, int, struct, Tag, text } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { OBJECT_TYPE_NAMES } from "./common.js";

/** Server profiles whose OASIS test cases pass (see docs/kmip.md), by their version-neutral names. */
const PROFILES = [
  "BaselineServerBasic",
  "BaselineServerTLSV1_2",
  "SymmetricKeyLifecycleServer",
  "AsymmetricKeyLifecycleServer",
  "BasicCryptographicServer",
  "AdvancedCryptographicServer",
  "RNGCryptographicServer",
  "SymmetricKeyFoundryServer",
  "OpaqueManagedObjectStoreServer",
  "SuiteBMinLOS_128Server",
  "SuiteBMinLOS_192Server",
  "StorageArrayWithSelfEncryptingDriveServer",
  "TapeLibraryServer",
  "HTTPSServer",
  "JSONServer",
  "XMLServer",
];

/** Profile Name values for the client's version: `…KMIPV1_3`/`…KMIPV1_4` in 1.x, the plain names in 2.x. */
function profiles(major: number, minor: number, port: number) {
  const names = Enum.ProfileName as Record<string, number>;
  return PROFILES.map((p) =>
    major >= 2 ? names[p.replace(/^Baseline(Server)(Basic|TLSV1_2)$/, "BaselineServer")] : names[`${p}KMIPV1_${minor}`],
  )
    .filter((v, i, all): v is number => v !== undefined && all.indexOf(v) === i)
    .map((v) => struct(Tag.ProfileInformation, enm(Tag.ProfileName, v), int(Tag.ServerPort, port)));
}

function capabilities(major: number, minor: number) {
  const v14 = major > 1 || minor >= 4;
  return struct(
    Tag.CapabilityInformation,
    bool(Tag.StreamingCapability, true),
    bool(Tag.AsynchronousCapability, false),
    bool(Tag.AttestationCapability, false),
    v14 ? bool(Tag.BatchUndoCapability, true) : null,
    v14 ? bool(Tag.BatchContinueCapability, true) : null,
    enm(Tag.UnwrapMode, Enum.UnwrapMode.NotProcessed),
    enm(Tag.DestroyAction, Enum.DestroyAction.KeyMaterialDeleted),
    enm(Tag.ShreddingAlgorithm, Enum.ShreddingAlgorithm.Unsupported),
    enm(Tag.RNGMode, Enum.RNGMode.NonSharedInstantiation),
  );
}

/** Filled in by the operation table (avoids an import cycle). */
export const supported: { operations: number[] } = { operations: [] };

export const query: KmipOperation = {
  name: "Query",
  async handle(c) {
    const fns = new Set(findAll(c.payload, Tag.QueryFunction).map((f) => f.value as number));
    const out = [];
    if (fns.has(Enum.QueryFunction.QueryOperations)) out.push(...supported.operations.map((o) => enm(Tag.Operation, o)));
    if (fns.has(Enum.QueryFunction.QueryObjects)) out.push(...Object.keys(OBJECT_TYPE_NAMES).map((t) => enm(Tag.ObjectType, Number(t))));
    // Query Profiles and Query Capabilities exist from KMIP 1.3 on.
    const v13 = c.major > 1 || c.minor >= 3;
    if (fns.has(Enum.QueryFunction.QueryProfiles) && v13) out.push(...profiles(c.major, c.minor, c.services.settings.kmipPort));
    if (fns.has(Enum.QueryFunction.QueryCapabilities) && v13) out.push(capabilities(c.major, c.minor));
    if (fns.has(Enum.QueryFunction.QueryServerInformation)) {
      out.push(text(Tag.VendorIdentification, "Strongroom"));
      out.push(struct(Tag.ServerInformation, text(Tag.ServerName, c.services.settings.node), text(Tag.ServerVersion, VERSION)));
    }
    return out;
  },
};
