// A node:test reporter that prints, after everything else, the one summary a person reads: passed, failed, skipped —
// each skip with its reason (how to enable it), each failure with its file. Used by `npm test` next to the TAP output.
import { relative } from "node:path";

const where = (file) => (file ? relative(process.cwd(), file) : "?");

export default async function* summary(source) {
  let passed = 0;
  const failed = [];
  const skipped = new Map(); // reason → { count, example }
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d.details?.type === "suite") {
      // A skipped suite counts once, with its reason; its tests never start.
      if (d.skip !== undefined && d.skip !== false) note(skipped, d);
      continue;
    }
    if (event.type === "test:fail") failed.push(`${where(d.file)}: ${d.name}`);
    else if (d.skip !== undefined && d.skip !== false) note(skipped, d);
    else passed++;
  }
  const lines = ["", "=".repeat(78), `SUMMARY  passed ${passed}  failed ${failed.length}  skipped ${[...skipped.values()].reduce((n, s) => n + s.count, 0)}`];
  for (const f of failed.slice(0, 50)) lines.push(`  FAILED   ${f}`);
  if (failed.length > 50) lines.push(`  … and ${failed.length - 50} more failures`);
  for (const [reason, s] of skipped) lines.push(`  SKIPPED  ${s.count} × ${reason}${s.count === 1 ? ` (${s.example})` : ""}`);
  if (process.env.CI === "true") lines.push("  CI=true: a skipped PKCS#11, PyKMIP or conformance-vector suite is a failure (see FAILED above)");
  lines.push("=".repeat(78), "");
  yield `${lines.join("\n")}\n`;
}

function note(skipped, d) {
  const reason = typeof d.skip === "string" && d.skip.length > 0 ? d.skip : "skipped (no reason given)";
  const s = skipped.get(reason) ?? { count: 0, example: `${where(d.file)}: ${d.name}` };
  s.count++;
  skipped.set(reason, s);
}
