// One server per instance directory: an exclusive lock file (DIR/strongroom.lock, holding the pid) taken at start.
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { fail } from "./errors/registry.js";

export const LOCK_FILE = "strongroom.lock";

/** Who holds a lock, as its file says. */
export interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
}

export interface InstanceLock {
  path: string;
  /** The holder of a stale lock this one replaced (its process was gone). */
  replaced: LockHolder | null;
  /** Removes the lock file if it is still this one; idempotent. */
  release(): void;
}

/** Lock files this process holds now: its own pid in a lock file is only a live holder when it is one of these. */
const held = new Map<string, string>();
let exitHook = false;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(path: string): { text: string; holder: LockHolder | null } | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isSafeInteger(h.pid) && (h.pid as number) > 0 && typeof h.hostname === "string")
      return { text, holder: { pid: h.pid as number, hostname: h.hostname, startedAt: String(h.startedAt ?? "") } };
  } catch {}
  return { text, holder: null };
}

function removeIf(path: string, text: string): void {
  // Re-read just before removing: never remove a lock another starter has taken meanwhile.
  const now = readHolder(path);
  if (now && now.text === text) unlinkSync(path);
}

/**
 * Takes the lock on `dir` or throws `instance_locked` naming the holder. The file appears complete or not at all (written
 * aside, then hard-linked into place, which fails if it exists). A lock whose process is gone (a crash, `kill -9`) is
 * stale and replaced; so is one with this process's own pid that this process does not hold (a restarted container
 * whose server has the same pid again). A lock from another host (a shared file system) is never judged stale here.
 */
export function lockInstance(dir: string): InstanceLock {
  const path = join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  const text = `${JSON.stringify(me)}\n`;
  const aside = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  let replaced: LockHolder | null = null;
  writeFileSync(aside, text, { mode: 0o600, flag: "wx" });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(aside, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 3) throw e;
      }
      const found = readHolder(path);
      if (!found) continue; // released meanwhile
      const h = found.holder;
      if (!h) fail("instance_locked", { dir, lock: path, holder: "the lock file is not readable as a Strongroom lock" });
      const holder = h as LockHolder;
      const where = holder.hostname === me.hostname ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.hostname}`;
      if (holder.hostname !== me.hostname) fail("instance_locked", { dir, lock: path, holder: where });
      const live = holder.pid === process.pid ? held.has(path) : isAlive(holder.pid);
      if (live) fail("instance_locked", { dir, lock: path, holder: `${where}, started ${holder.startedAt}` });
      removeIf(path, found.text);
      replaced = holder;
    }
  } finally {
    unlinkSync(aside);
  }
  held.set(path, text);
  if (!exitHook) {
    // A process that exits without closing its server (an uncaught error) leaves no lock behind.
    exitHook = true;
    process.on("exit", () => {
      for (const [p, t] of held) {
        try {
          removeIf(p, t);
        } catch {}
      }
    });
  }
  return {
    path,
    replaced,
    release() {
      if (held.get(path) !== text) return;
      held.delete(path);
      try {
        removeIf(path, text);
      } catch {}
    },
  };
}
