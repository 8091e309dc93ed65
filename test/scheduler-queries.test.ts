// The scheduler's queries (rollover and destruction, every minute and at unseal) range over the partial indexes of
// migration 3 — never over every key: with a million keys a full walk blocked the event loop for 0.4 s each minute.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { ACTIVATION_DUE, DEACTIVATION_DUE, DESTROY_DUE, ROLLOVER_DUE } from "../src/keys/key-service.js";
import { SqliteStore } from "../src/store/sqlite.js";

test("rollover and destruction scans use the partial scheduler indexes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-sched-"));
  const path = join(dir, "s.db");
  const store = new SqliteStore(path);
  try {
    await store.migrate();
    // Keys with neither date (the common case) must not be in the indexes the scheduler ranges over.
    for (let i = 0; i < 50; i++) {
      await store.run(
        `INSERT INTO keys (name, type, owner, description, current_version, rotation, policy, exportable, created_at, updated_at)
         VALUES ($1, 'aes-256', 'app', '', 1, '{"mode":"manual"}', '{}', 1, '2026-01-01', '2026-01-01')`,
        [`k${i}`],
      );
    }
    const db = new Database(path, { readonly: true });
    try {
      const plan = (sql: string) =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql.replace(/\$\d+/g, "?")}`).all("2026-06-01") as { detail: string }[])
          .map((r) => r.detail)
          .join("; ");
      assert.match(plan(ROLLOVER_DUE), /SEARCH keys USING INDEX keys_next_rotation \(next_rotation_at>\? AND next_rotation_at<\?\)/);
      assert.match(plan(DESTROY_DUE), /SEARCH keys USING INDEX keys_deletion \(deletion_at>\? AND deletion_at<\?\)/);
      // KMIP Activation / Deactivation Dates (migration 5): only objects still waiting for one are in these indexes.
      assert.match(
        plan(DEACTIVATION_DUE),
        /SEARCH objects USING INDEX objects_deactivation_due \(deactivated_at>\? AND deactivated_at<\?\)/,
      );
      assert.match(plan(ACTIVATION_DUE), /SEARCH objects USING INDEX objects_activation_due \(activated_at>\? AND activated_at<\?\)/);
      const partial = db.prepare("SELECT name, sql FROM sqlite_master WHERE name IN ('keys_next_rotation', 'keys_deletion')").all() as {
        name: string;
        sql: string;
      }[];
      assert.equal(partial.length, 2);
      for (const ix of partial) assert.match(ix.sql, /WHERE \w+ IS NOT NULL$/);
    } finally {
      db.close();
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
