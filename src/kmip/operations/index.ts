// The KMIP operation table: Operation enumeration value → handler (one file per operation).
import { Enum } from "../codec/tables.js";
import type { KmipOperation } from "../operation.js";
import { activate } from "./activate.js";
import { addAttribute } from "./add-attribute.js";
import { check } from "./check.js";
import { create } from "./create.js";
import { createKeyPair } from "./create-key-pair.js";
import { deleteAttribute } from "./delete-attribute.js";
import { destroy } from "./destroy.js";
import { discoverVersions } from "./discover-versions.js";
import { get } from "./get.js";
import { getAttributeList } from "./get-attribute-list.js";
import { getAttributes } from "./get-attributes.js";
import { locate } from "./locate.js";
import { modifyAttribute } from "./modify-attribute.js";
import { query, supported } from "./query.js";
import { reKey } from "./re-key.js";
import { reKeyKeyPair } from "./re-key-key-pair.js";
import { register } from "./register.js";
import { revoke } from "./revoke.js";
import { setAttribute } from "./set-attribute.js";

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
  getAttributeList,
  addAttribute,
  modifyAttribute,
  deleteAttribute,
  setAttribute,
  activate,
  revoke,
  destroy,
];

export const OPERATIONS = new Map<number, KmipOperation>(
  ALL.map((o) => {
    const value = (Enum.Operation as Record<string, number>)[o.name];
    if (value === undefined) throw new Error(`unknown KMIP operation ${o.name}`);
    return [value, o];
  }),
);
supported.operations = [...OPERATIONS.keys()].sort((a, b) => a - b);
