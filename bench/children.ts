// The benchmark's child processes: forked Node.js modules with a request/reply channel, spawned programs (PyKMIP),
// and one cleanup that kills every one of them by its own id — on success, on error, on SIGINT/SIGTERM.
import { type ChildProcess, fork, type SpawnOptions, spawn } from "node:child_process";

const live = new Set<ChildProcess>();
const groups = new Set<number>();
const finalizers: (() => void)[] = [];

/** Runs `fn` (synchronously) after the children are killed, at exit or on a signal: e.g. removing temporary files. */
export function atExit(fn: () => void): void {
  finalizers.push(fn);
}

export function killAll(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL"); // a process group this benchmark created (detached spawn)
    } catch {
      /* already gone */
    }
  }
  groups.clear();
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  live.clear();
  for (const fn of finalizers.splice(0)) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
}

let installed = false;
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: stopping the benchmark's child processes\n`);
      killAll();
      process.exit(130);
    });
  }
}

export interface Child {
  proc: ChildProcess;
  /** The first message the child sends of its own (e.g. "ready"). */
  first: Promise<Record<string, unknown>>;
  call<T = Record<string, unknown>>(msg: Record<string, unknown>): Promise<T>;
  close(timeoutMs?: number): Promise<void>;
}

/** Forks a compiled benchmark module (a path next to this file) with a structured-clone IPC channel. */
export function forkChild(module: string, args: string[] = [], execArgv: string[] = []): Child {
  installCleanup();
  const proc = fork(new URL(module, import.meta.url), args, {
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv,
  });
  live.add(proc);
  proc.on("exit", () => live.delete(proc));
  let next = 1;
  const waiting = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  let resolveFirst: (v: Record<string, unknown>) => void;
  let rejectFirst: (e: Error) => void;
  const first = new Promise<Record<string, unknown>>((res, rej) => {
    resolveFirst = res;
    rejectFirst = rej;
  });
  first.catch(() => undefined); // a child that never sends a message of its own is not an error by itself
  proc.on("message", (m: Record<string, unknown>) => {
    const w = typeof m.id === "number" ? waiting.get(m.id) : undefined;
    if (w) {
      waiting.delete(m.id as number);
      if (typeof m.error === "string") w.reject(new Error(m.error));
      else w.resolve(m as never);
    } else resolveFirst(m);
  });
  proc.on("exit", (code, signal) => {
    const e = new Error(`${module} exited (${signal ?? code})`);
    rejectFirst(e);
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  });
  return {
    proc,
    first,
    call: <T>(msg: Record<string, unknown>) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve: resolve as (v: never) => void, reject });
        proc.send({ ...msg, id });
      }),
    close: (timeoutMs = 5000) =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        const t = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
        proc.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        if (proc.connected) proc.send({ type: "close" });
        else proc.kill("SIGKILL");
      }),
  };
}

/** Spawns a program as the leader of a new process group, so that it and everything it starts can be killed at once. */
export function spawnGroup(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  installCleanup();
  const proc = spawn(cmd, args, { ...opts, detached: true });
  live.add(proc);
  if (proc.pid) groups.add(proc.pid);
  proc.on("exit", () => live.delete(proc));
  return proc;
}

export function killGroup(proc: ChildProcess): void {
  if (!proc.pid) return;
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    /* already gone */
  }
  groups.delete(proc.pid);
}

/** This process, its live children and the process groups it created (for CPU accounting). */
export function ownIds(): Set<number> {
  const ids = new Set<number>([process.pid, ...groups]);
  for (const c of live) if (c.pid) ids.add(c.pid);
  return ids;
}
