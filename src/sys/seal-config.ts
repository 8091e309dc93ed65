// Rewrites the `seal` section of strongroom.yaml after a rekey or master rotation, keeping the rest of the file (and its comments) as it was.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { CONFIG_FILE, type Config } from "../config/config.js";
import { writeFileAtomic } from "../seal/atomic-file.js";
import type { SealRecord } from "../seal/barrier.js";

/** Sets the record's fields under `seal:` (atomically: temp file, fsync, rename; mode 0600) and in the loaded config. */
export function writeSealRecord(cfg: Config, record: SealRecord): void {
  const path = join(cfg.dir, CONFIG_FILE);
  const doc = YAML.parseDocument(readFileSync(path, "utf8"));
  if (doc.errors.length) throw new Error(`${path}: ${doc.errors[0].message}`);
  const seal = doc.get("seal") as { get?: (k: string) => unknown } | undefined;
  if (!seal || typeof seal.get !== "function" || seal.get("type") !== record.type)
    throw new Error(`${path}: seal.type is not ${record.type}; not rewriting it`);
  for (const [k, v] of Object.entries(record)) if (k !== "type") doc.setIn(["seal", k], v);
  writeFileAtomic(path, doc.toString(), 0o600);
  Object.assign(cfg.seal, record);
}
