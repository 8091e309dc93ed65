// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --profile DIR`): self time by
// function and by source file, and inclusive time for the project's own functions — the text form of a flame graph.
import { readFileSync } from "node:fs";

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: node tools/profile-summary.mjs FILE.cpuprofile [TOP]");
  process.exit(2);
}
const top = Number(topArg ?? 30);
const prof = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Sample counts per node, then weight by time deltas (microseconds).
const selfUs = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const short = (url) => url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, "$1/").replace(/^node:/, "node:");
const label = (n) => `${n.callFrame.functionName || "(anonymous)"} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const selfFn = new Map();
const selfFile = new Map();
const incl = new Map();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  const l = label(n);
  selfFn.set(l, (selfFn.get(l) ?? 0) + us);
  const f = short(n.callFrame.url) || `(${n.callFrame.functionName})`;
  selfFile.set(f, (selfFile.get(f) ?? 0) + us);
  // Inclusive: every distinct function on the stack gets the sample once.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cl = label(byId.get(cur));
    if (!seen.has(cl)) {
      seen.add(cl);
      incl.set(cl, (incl.get(cl) ?? 0) + us);
    }
  }
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const print = (title, m, filter = () => true) => {
  console.log(`\n== ${title}`);
  for (const [k, v] of [...m].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
print("self time by file", selfFile);
print("self time by function", selfFn);
print("inclusive time, project code", incl, (k) => k.includes("dist/src/"));

// Optional third argument: a function name whose callers (two levels up) are listed by sampled time.
const callersOf = process.argv[4];
if (callersOf) {
  const m = new Map();
  for (const [id, us] of selfUs) {
    let cur = id;
    while (cur !== undefined && byId.get(cur).callFrame.functionName !== callersOf) cur = parent.get(cur);
    if (cur === undefined) continue;
    const p1 = parent.get(cur);
    const p2 = p1 === undefined ? undefined : parent.get(p1);
    const k = [p1, p2].filter((x) => x !== undefined).map((x) => label(byId.get(x))).join(" <- ");
    m.set(k, (m.get(k) ?? 0) + us);
  }
  print(`callers of ${callersOf}`, m);
}
