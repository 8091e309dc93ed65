// What the machine was doing besides the benchmark: CPU used by other processes during the run (Linux /proc), and
// the storage's fsync latency (every acknowledged Strongroom change and audit event waits for one).
import { closeSync, existsSync, fdatasyncSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

const TICK = 100; // USER_HZ: /proc reports CPU time in 1/100 s on Linux

/** Busy CPU seconds of the whole machine since boot (all cores), or null off Linux. */
function machineBusy(): number | null {
  if (!existsSync("/proc/stat")) return null;
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: busy = everything but idle and iowait
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / TICK;
}

/** CPU seconds used so far by the processes whose id or process group is in `ids` (including reaped children). */
function ownCpu(ids: Set<number>): number {
  let total = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // fields after the name: state(0) ppid(1) pgrp(2) … utime(11) stime(12) cutime(13) cstime(14)
      if (!ids.has(Number(d)) && !ids.has(Number(f[2]))) continue;
      total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICK;
    } catch {
      /* gone */
    }
  }
  return total;
}

export class CpuAccount {
  #start: { busy: number; own: number; at: number } | null = null;

  constructor(private readonly ids: () => Set<number>) {}

  start(): void {
    const busy = machineBusy();
    if (busy === null) return;
    this.#start = { busy, own: ownCpu(this.ids()), at: Date.now() };
  }

  /** Other processes' CPU during the run, in cores (1.0 = one core busy all the time), or null when unknown. */
  othersCores(): number | null {
    const busy = machineBusy();
    if (busy === null || !this.#start) return null;
    const seconds = (Date.now() - this.#start.at) / 1000;
    // Children that exited before the end are no longer counted; all of the benchmark's children live to the end.
    const others = busy - this.#start.busy - (ownCpu(this.ids()) - this.#start.own);
    return Math.max(0, others / seconds);
  }
}

/** p50/p99 of `count` 4 KiB write + fdatasync cycles in `dir`. */
export function fsyncLatency(dir: string, count = 100): { p50ms: number; p99ms: number } {
  const path = join(dir, "fsync-probe");
  const fd = openSync(path, "w");
  const block = Buffer.alloc(4096, 1);
  const t: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      writeSync(fd, block, 0, block.length, (i % 16) * 4096);
      fdatasyncSync(fd);
      t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  t.sort((a, b) => a - b);
  return { p50ms: t[Math.floor(count * 0.5)], p99ms: t[Math.min(count - 1, Math.floor(count * 0.99))] };
}

/** The report's storage-and-load sentence: fsync latency before and after the run, and whether the machine was idle. */
export function conditionsLine(
  fsync: { before: { p50ms: number; p99ms: number }; after: { p50ms: number; p99ms: number } },
  othersCores: number | null,
  cores?: number,
): string {
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  return (
    `Storage: fsync (4 KiB write + fdatasync) p50 ${ms(fsync.before.p50ms)} / p99 ${ms(fsync.before.p99ms)} before the run, ` +
    `p50 ${ms(fsync.after.p50ms)} / p99 ${ms(fsync.after.p99ms)} after it. ` +
    (othersCores === null
      ? "CPU used by other processes: unknown."
      : `Other processes used ${othersCores.toFixed(2)}${cores ? ` of ${cores}` : ""} cores on average during the run` +
        (othersCores > 0.1 ? " — **the machine was not idle: these numbers are disturbed**." : " (idle machine)."))
  );
}
