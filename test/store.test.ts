// The SQLite store: the row cache behind cachedGet sees every change, and a commit is acknowledged after its WAL sync.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { SqliteStore } from "../src/store/sqlite.js";

const dir = mkdtempSync(join(tmpdir(), "strongroom-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function freshStore(name: string): Promise<{ store: SqliteStore; path: string }> {
  const path = join(dir, name);
  const store = new SqliteStore(path);
  await store.migrate();
  await store.atomic((tx) => tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", ["k", "one"]));
  return { store, path };
}

const SQL = "SELECT value FROM settings WHERE name = $1";

test("cachedGet sees committed changes, not rolled-back ones, and returns copies", async () => {
  const { store } = await freshStore("a.db");
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "one");
  await store.atomic((tx) => tx.run("UPDATE settings SET value = $1 WHERE name = $2", ["two", "k"]));
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "two");
  await assert.rejects(
    store.atomic(async (tx) => {
      await tx.run("UPDATE settings SET value = $1 WHERE name = $2", ["rolled-back", "k"]);
      throw new Error("abort");
    }),
    /abort/,
  );
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "two");
  // A missing row is cached as missing, and found once inserted.
  assert.equal(await store.cachedGet(SQL, ["new"]), undefined);
  await store.atomic((tx) => tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", ["new", "here"]));
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["new"]))?.value, "here");
  // What a caller gets is its own: changing it does not change the next answer.
  const row = (await store.cachedGet<{ value: string }>(SQL, ["k"])) as { value: string };
  row.value = "scribbled";
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "two");
  await store.close();
});

test("a read made while another transaction is open sees only committed rows, and caches nothing of it", async () => {
  const { store } = await freshStore("b.db");
  let release!: () => void;
  const open = new Promise<void>((r) => {
    release = r;
  });
  const tx = store.atomic(async (t) => {
    await t.run("UPDATE settings SET value = $1 WHERE name = $2", ["uncommitted", "k"]);
    await open;
    throw new Error("abort");
  });
  await sleep(10);
  // Another request's open transaction is invisible: reads outside transactions see committed rows only.
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "one");
  assert.equal((await store.get<{ value: string }>(SQL, ["k"]))?.value, "one");
  release();
  await assert.rejects(tx, /abort/);
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "one");
  await store.close();
});

test("a commit by another connection to the same database empties the cache", async () => {
  const { store, path } = await freshStore("c.db");
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "one");
  const other = new Database(path);
  other.prepare("UPDATE settings SET value = ? WHERE name = ?").run("external", "k");
  other.close();
  await sleep(5); // data_version is consulted at most once a millisecond
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "external");
  await store.close();
});

test("concurrent commits, waiting for their sync or not, all resolve and all land", async () => {
  const { store } = await freshStore("d.db");
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "one");
  // Many concurrent commits share fdatasyncs and all resolve, each after its own commit.
  const n = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      store.atomic((tx) => tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", [`c${i}`, "x"]), {
        durability: i % 2 ? "background" : "wait",
      }),
    ),
  );
  assert.deepEqual(n, Array(50).fill(1));
  const count = await store.get<{ n: number }>("SELECT COUNT(*) AS n FROM settings WHERE name LIKE 'c%'");
  assert.equal(count?.n, 50);
  await store.close();
});

test("a read's background commit does not resolve before a change it could have seen is on disk", async () => {
  const { store } = await freshStore("e.db");
  const order: string[] = [];
  const change = store
    .atomic((tx) => tx.run("UPDATE settings SET value = $1 WHERE name = $2", ["v2", "k"]))
    .then(() => order.push("change durable"));
  // The change is committed (visible) as soon as its body ran; the read comes right after, during its sync.
  await new Promise((r) => setImmediate(r));
  assert.equal((await store.cachedGet<{ value: string }>(SQL, ["k"]))?.value, "v2");
  const read = store
    .atomic((tx) => tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", ["read-event", "x"]), {
      durability: "background",
      appendOnly: true,
    })
    .then(() => order.push("read answered"));
  await Promise.all([change, read]);
  assert.deepEqual(order, ["change durable", "read answered"]);
  await store.close();
});
