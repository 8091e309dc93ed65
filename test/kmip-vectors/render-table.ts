// Writes the conformance table (every vector file: pass, or not supported with the reason) into docs/kmip.md.
//   node dist/test/kmip-vectors/render-table.js --write | --check     (KMIP_VECTORS_DIR overrides ../shared/kmip-vectors)
// --check exits 1 when docs/kmip.md is out of date. Without either flag (as when the test runner loads every file
// under dist/test/) it does nothing; the conformance test checks the table itself.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { listVectorFiles, type VectorFile } from "./harness.js";
import { conformanceTable, TABLE_BEGIN, TABLE_END } from "./skip-list.js";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const docsPath = join(repoRoot, "docs", "kmip.md");

/** docs/kmip.md with the table between the markers replaced by the one rendered for `files`. */
export function renderedDoc(doc: string, files: VectorFile[]): string {
  const start = doc.indexOf(TABLE_BEGIN);
  const end = doc.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`docs/kmip.md lacks the ${TABLE_BEGIN} … ${TABLE_END} markers`);
  return `${doc.slice(0, start + TABLE_BEGIN.length)}\n${conformanceTable(files)}\n${doc.slice(end)}`;
}

const wanted = process.argv.includes("--write") || process.argv.includes("--check");
if (wanted && process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.env.KMIP_VECTORS_DIR ?? join(repoRoot, "..", "shared", "kmip-vectors"));
  if (!existsSync(dir)) {
    console.error(`KMIP conformance vectors not found at ${dir} (set KMIP_VECTORS_DIR)`);
    process.exit(2);
  }
  const doc = readFileSync(docsPath, "utf8");
  const next = renderedDoc(doc, listVectorFiles(dir));
  if (process.argv.includes("--write")) {
    writeFileSync(docsPath, next);
    console.log(`updated ${docsPath}`);
  } else if (next !== doc) {
    console.error("docs/kmip.md conformance table is out of date: run with --write");
    process.exit(1);
  }
}
