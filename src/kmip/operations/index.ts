// The KMIP operation table: Operation enumeration value → handler (one file per operation).
import { Enum } from "../codec/tables.js";
import type { KmipOperation } from "../operation.js";
import { activate } from "./activate.js";
import { addAttribute } from "./add-attribute.js";
import { check } from "./check.js";
import { create } from "./create.js";
import { createKeyPair } from "./create-key-pair.js";
import { decrypt } from "./decrypt.js";
import { deleteAttribute } from "./delete-attribute.js";
import { destroy } from "./destroy.js";
import { discoverVersions } from "./discover-versions.js";
import { encrypt } from "./encrypt.js";
import { exportObject } from "./export.js";
import { get } from "./get.js";
import { getAttributeList } from "./get-attribute-list.js";
import { getAttributes } from "./get-attributes.js";
import { hash } from "./hash.js";
import { importObject } from "./import.js";
import { interop } from "./interop.js";
import { locate } from "./locate.js";
import { log } from "./log.js";
import { mac } from "./mac.js";
import { macVerify } from "./mac-verify.js";
import { modifyAttribute } from "./modify-attribute.js";
import { obtainLease } from "./obtain-lease.js";
import { query, supported } from "./query.js";
import { reKey } from "./re-key.js";
import { reKeyKeyPair } from "./re-key-key-pair.js";
import { register } from "./register.js";
import { revoke } from "./revoke.js";
import { rngRetrieve } from "./rng-retrieve.js";
import { rngSeed } from "./rng-seed.js";
import { setAttribute } from "./set-attribute.js";
import { sign } from "./sign.js";
import { signatureVerify } from "./signature-verify.js";

const ALL: KmipOperation[] = [
  discoverVersions,
  query,
  create,
  createKeyPair,
  register,
  reKey,
  reKeyKeyPair,
  locate,
  check,
  get,
  getAttributes,
  importObject,
  exportObject,
  getAttributeList,
  addAttribute,
  modifyAttribute,
  deleteAttribute,
  setAttribute,
  activate,
  revoke,
  destroy,
  encrypt,
  decrypt,
  sign,
  signatureVerify,
  mac,
  macVerify,
  rngRetrieve,
  hash,
  interop,
  log,
  rngSeed,
  obtainLease,
];

export const OPERATIONS = new Map<number, KmipOperation>(
  ALL.map((o) => {
    const value = (Enum.Operation as Record<string, number>)[o.name];
    if (value === undefined) throw new Error(`unknown KMIP operation ${o.name}`);
    return [value, o];
  }),
);
supported.operations = [...OPERATIONS.keys()].sort((a, b) => a - b);
