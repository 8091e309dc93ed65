// The benchmark's report: results table, per-system detail, the performance targets (met / not met), and the
// marked section of docs/performance.md that `--write` replaces.
import type { LoadResult } from "./kmip-load.js";
import { conditionsLine } from "./machine.js";

export interface Row {
  id: string;
  label: string;
  strongroom: LoadResult;
  ceiling?: LoadResult;
  pykmip?: LoadResult;
  pykmipNote?: string;
  bytes?: string;
}

export interface Report {
  mode: "quick" | "full";
  command: string;
  date: string;
  machine: {
    cores: number;
    model: string;
    node: string;
    os: string;
    memoryGiB: number;
    /** 4 KiB write + fdatasync in the data directory's file system, at the start and at the end. */
    fsync: { before: { p50ms: number; p99ms: number }; after: { p50ms: number; p99ms: number } };
    /** CPU used by processes other than the benchmark's own, in cores, averaged over the run (null: unknown). */
    othersCores: number | null;
  };
  options: { connections: number; seconds: number; warmupSeconds: number; rounds: number; keys: number; loadgen: string };
  populate: { keys: number; seconds: number };
  pykmip: { skipped: string | null };
  rows: Row[];
  totalSeconds: number;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => `${n.toFixed(2)} ms`;
const pct = (n: number) => `${Math.round(n * 100)}%`;
const times = (n: number) => (n >= 10 ? `${Math.round(n)}×` : `${n.toFixed(1)}×`);
const failedOf = (r: Row) => r.strongroom.failed + (r.ceiling?.failed ?? 0) + (r.pykmip?.failed ?? 0);

interface Target {
  text: string;
  row: string;
  measure: (r: Row) => { value: string; met: boolean } | string;
}

/** The targets of the performance issue. */
export const TARGETS: Target[] = [
  {
    text: "KMIP Get at 8 connections ≥ 50% of the ceiling",
    row: "get",
    measure: (r) =>
      r.ceiling ? { value: pct(r.strongroom.rate / r.ceiling.rate), met: r.strongroom.rate >= 0.5 * r.ceiling.rate } : "no ceiling",
  },
  {
    text: "KMIP Get ≥ 50× PyKMIP",
    row: "get",
    measure: (r) =>
      r.pykmip && r.pykmip.rate > 0
        ? { value: times(r.strongroom.rate / r.pykmip.rate), met: r.strongroom.rate >= 50 * r.pykmip.rate }
        : (r.pykmipNote ?? "PyKMIP not measured"),
  },
  {
    text: "KMIP Encrypt 64 B AES-GCM ≥ 40% of the ceiling",
    row: "gcm",
    measure: (r) =>
      r.ceiling ? { value: pct(r.strongroom.rate / r.ceiling.rate), met: r.strongroom.rate >= 0.4 * r.ceiling.rate } : "no ceiling",
  },
  {
    text: "REST encrypt ≥ 40% of the bare HTTPS ceiling",
    row: "restEncrypt",
    measure: (r) =>
      r.ceiling ? { value: pct(r.strongroom.rate / r.ceiling.rate), met: r.strongroom.rate >= 0.4 * r.ceiling.rate } : "no ceiling",
  },
  {
    text: "KMIP Create ≥ 2,000/s",
    row: "create",
    measure: (r) => ({ value: `${int(r.strongroom.rate)}/s`, met: r.strongroom.rate >= 2000 }),
  },
  {
    text: "KMIP Get p99 ≤ 2 ms",
    row: "get",
    measure: (r) => ({ value: ms(r.strongroom.p99ms), met: r.strongroom.p99ms <= 2 }),
  },
  {
    text: "Full TLS handshakes ≥ 60% of the bare TLS rate",
    row: "tlsFull",
    measure: (r) =>
      r.ceiling ? { value: pct(r.strongroom.rate / r.ceiling.rate), met: r.strongroom.rate >= 0.6 * r.ceiling.rate } : "no ceiling",
  },
];

export function evaluateTargets(report: Report): { text: string; value: string; status: string; met: boolean | null }[] {
  return TARGETS.map((t) => {
    const row = report.rows.find((r) => r.id === t.row);
    if (!row) return { text: t.text, value: "—", status: "not measured", met: null };
    const m = t.measure(row);
    if (typeof m === "string") return { text: t.text, value: "—", status: `not measured (${m})`, met: null };
    if (failedOf(row) > 0) return { text: t.text, value: m.value, status: "invalid: requests failed", met: null };
    return { text: t.text, value: m.value, status: m.met ? "met" : "**not met**", met: m.met };
  });
}

export function formatReport(report: Report): string {
  const o = report.options;
  const m = report.machine;
  const lines: string[] = [];
  lines.push(
    `Machine: ${m.cores} cores, ${m.model}, ${m.memoryGiB} GiB, ${m.os}, Node.js ${m.node}; ${report.date}. ` +
      `Command: \`${report.command}\` (${report.mode} mode, ${Math.round(report.totalSeconds)} s).`,
  );
  lines.push("");
  lines.push(conditionsLine(m.fsync, m.othersCores, m.cores));
  lines.push("");
  lines.push(
    `${o.connections} connections per run, ${o.warmupSeconds} s warm-up, ${o.seconds} s measuring window, ` +
      `best of ${o.rounds} round(s); load generator ${o.loadgen === "process" ? "in its own process" : "in the orchestrator process"}. ` +
      `Locate ran with ${int(report.populate.keys)} keys present (created in ${report.populate.seconds.toFixed(1)} s, ` +
      `${int(report.populate.keys / report.populate.seconds)} keys/s, batched KMIP Create)` +
      (report.mode === "quick" ? "; quick mode uses fewer keys than the full run's 100,000." : "."),
  );
  if (report.pykmip.skipped) lines.push("", `PyKMIP ratios skipped: ${report.pykmip.skipped}.`);
  lines.push("");
  lines.push("| operation | Strongroom ops/s | p50 | p99 | ceiling ops/s | % of ceiling | PyKMIP ops/s | × PyKMIP | failed |");
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of report.rows) {
    const s = r.strongroom;
    lines.push(
      `| ${r.label} | ${int(s.rate)} | ${ms(s.p50ms)} | ${ms(s.p99ms)} | ${r.ceiling ? int(r.ceiling.rate) : "—"} | ` +
        `${r.ceiling ? pct(s.rate / r.ceiling.rate) : "—"} | ${r.pykmip ? int(r.pykmip.rate) : (r.pykmipNote ?? "—")} | ` +
        `${r.pykmip && r.pykmip.rate > 0 ? times(s.rate / r.pykmip.rate) : "—"} | ${failedOf(r)} |`,
    );
  }
  lines.push("");
  lines.push("Latency of every system (p50 / p99), failed responses per system, and request → response size on the wire:");
  lines.push("");
  lines.push("| operation | Strongroom | ceiling | PyKMIP | bytes |");
  lines.push("|---|---|---|---|---|");
  const cell = (x?: LoadResult) => (x ? `${ms(x.p50ms)} / ${ms(x.p99ms)}, ${x.failed} failed` : "—");
  for (const r of report.rows)
    lines.push(`| ${r.label} | ${cell(r.strongroom)} | ${cell(r.ceiling)} | ${cell(r.pykmip)} | ${r.bytes ?? "handshake only"} |`);
  const failures = report.rows.flatMap((r) =>
    (["strongroom", "ceiling", "pykmip"] as const).flatMap((k) =>
      r[k]?.firstFailure ? [`- ${r.label}, ${k}: ${r[k]?.firstFailure}`] : [],
    ),
  );
  if (failures.length) lines.push("", "First failure of each run with failed requests:", "", ...failures);
  lines.push("");
  lines.push("Targets (performance issue, part 1):");
  lines.push("");
  lines.push("| target | measured | status |");
  lines.push("|---|---:|---|");
  for (const t of evaluateTargets(report)) lines.push(`| ${t.text} | ${t.value} | ${t.status} |`);
  if (o.connections !== 8) lines.push("", `Note: the Get targets are defined at 8 connections; this run used ${o.connections}.`);
  return lines.join("\n");
}

const marker = (mode: string, edge: "start" | "end") => `<!-- bench:${mode}:${edge} -->`;

/** Replaces (or appends) the marked section of `mode` in docs/performance.md. */
export function writeDocs(doc: string, report: Report): string {
  const start = marker(report.mode, "start");
  const end = marker(report.mode, "end");
  const section = `${start}\n${formatReport(report)}\n${end}`;
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a >= 0 && b > a) return doc.slice(0, a) + section + doc.slice(b + end.length);
  return `${doc.trimEnd()}\n\n## Results (${report.mode} mode)\n\n${section}\n`;
}
