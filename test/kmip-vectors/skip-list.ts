// The one list of OASIS KMIP conformance vectors Strongroom does not pass, with the reason; rendered into docs/kmip.md.
//
// Keys are vector ids (file name without ".xml"). Everything not listed here must pass: the conformance test fails a
// file that is neither passing nor listed, and fails a listed file that has started to pass (so the list stays true).
// After changing this list run `node dist/test/kmip-vectors/render-table.js --write` to update docs/kmip.md.

export const SKIPPED: Readonly<Record<string, string>> = {
  "PKCS11-M-1-21": "PKCS#11 pass-through (the PKCS_11 operation) is not supported: Strongroom is not a PKCS#11 module proxy",
  "OMOS-O-1-14":
    "vector defect: expects a response header with protocol version 1.3 to a 1.4 request; the server answers in the request's version",
  "CS-RNG-O-1-14":
    "RNG Seed: alternative outcome (seed accepted, 32 bytes used); this server refuses client seed data (CS-RNG-O-4-14 passes)",
  "CS-RNG-O-2-14":
    "RNG Seed: alternative outcome (seed accepted, 16 bytes used); this server refuses client seed data (CS-RNG-O-4-14 passes)",
  "CS-RNG-O-3-14": "RNG Seed: alternative outcome (seed accepted and ignored); this server refuses client seed data (CS-RNG-O-4-14 passes)",
  "CS-RNG-O-1-21":
    "RNG Seed: alternative outcome (seed accepted, 32 bytes used); this server refuses client seed data (CS-RNG-O-4-21 passes)",
  "CS-RNG-O-2-21":
    "RNG Seed: alternative outcome (seed accepted, 16 bytes used); this server refuses client seed data (CS-RNG-O-4-21 passes)",
  "CS-RNG-O-3-21": "RNG Seed: alternative outcome (seed accepted and ignored); this server refuses client seed data (CS-RNG-O-4-21 passes)",
};

export interface TableRow {
  file: string;
  status: "pass" | "not supported";
  reason: string;
}

/** The conformance table of docs/kmip.md: every vector file, passing or listed here. */
export function conformanceTable(files: { rel: string; id: string }[]): string {
  const lines = ["| vector file | result | reason |", "|---|---|---|"];
  for (const f of files) {
    const reason = SKIPPED[f.id];
    lines.push(`| \`${f.rel}\` | ${reason ? "not supported" : "pass"} | ${reason ?? ""} |`);
  }
  return lines.join("\n");
}

export const TABLE_BEGIN = "<!-- conformance-table:begin (generated from test/kmip-vectors/skip-list.ts) -->";
export const TABLE_END = "<!-- conformance-table:end -->";
