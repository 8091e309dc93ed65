// Automatic rollover at local midnight in the configured time zone, with an injectable clock; missed rollovers run at start-up.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nextRollover } from "../src/keys/rollover.js";
import { newInstance } from "./helpers.js";

describe("rollover schedule", () => {
  test("local midnight after the cryptoperiod, across time zones and DST", () => {
    // Created 2026-03-01 15:00 UTC, 30 days → 2026-03-31 00:00 local.
    const created = new Date("2026-03-01T15:00:00Z");
    assert.equal(nextRollover(created, 30, "UTC").toISOString(), "2026-03-31T00:00:00.000Z");
    // New York switches to EDT on 2026-03-08: midnight on 03-31 is 04:00 UTC.
    assert.equal(nextRollover(created, 30, "America/New_York").toISOString(), "2026-03-31T04:00:00.000Z");
    // Tokyo: 15:00 UTC is already 03-02 locally.
    assert.equal(nextRollover(created, 1, "Asia/Tokyo").toISOString(), "2026-03-02T15:00:00.000Z");
    // Berlin in winter (UTC+1), period crossing into summer time (UTC+2 from 2026-03-29).
    assert.equal(nextRollover(new Date("2026-03-20T12:00:00Z"), 10, "Europe/Berlin").toISOString(), "2026-03-29T22:00:00.000Z");
  });
});

describe("automatic rollover", () => {
  test("runs when due, is audited, and catches up missed rollovers at start-up", async () => {
    const i = await newInstance({ timeZone: "UTC" });
    const DAY = 86400_000;
    const iso = (t: number) => new Date(t).toISOString();
    try {
      // Day 0 is a UTC midnight a little after the real date, so the instance's certificates stay valid.
      const day0 = Math.ceil(Date.now() / DAY) * DAY + 2 * DAY;
      i.clock.t = day0 + 10 * 3600_000;
      const c = await i.as.admin1.call("POST", "/v1/keys", { name: "auto", type: "aes-256", rotation: { mode: "auto", periodDays: 7 } });
      assert.equal(c.status, 201);
      assert.equal(c.body.nextRotationAt, iso(day0 + 7 * DAY));
      await i.as.admin1.call("POST", "/v1/keys", { name: "manual", type: "aes-256" });

      i.clock.t = day0 + 7 * DAY - 60_000;
      assert.deepEqual(await i.server.app.tick(), { rolledOver: 0, destroyed: 0, activated: 0, deactivated: 0 });
      i.clock.t = day0 + 7 * DAY + 30_000;
      assert.equal((await i.server.app.tick()).rolledOver, 1);
      const k = (await i.as.admin1.call("GET", "/v1/keys/auto")).body;
      assert.equal(k.currentVersion, 2);
      assert.equal(k.versions[1].createdAt, iso(day0 + 7 * DAY + 30_000));
      assert.equal(k.nextRotationAt, iso(day0 + 14 * DAY));
      assert.equal((await i.as.admin1.call("GET", "/v1/keys/manual")).body.currentVersion, 1);
      const ev = await i.as.auditor.call("GET", "/v1/audit?action=key.rollover");
      assert.equal(ev.body.events.length, 1);
      assert.deepEqual(ev.body.events[0].target, { name: "auto", version: 2 });

      // The server is down for three weeks; at start-up the missed rollover runs once.
      await i.stop();
      i.clock.t = day0 + 35 * DAY + 9 * 3600_000;
      await i.restart();
      await new Promise((r) => setTimeout(r, 50));
      await i.server.app.tick();
      const after = (await i.as.admin1.call("GET", "/v1/keys/auto")).body;
      assert.equal(after.currentVersion, 3);
      assert.equal(after.nextRotationAt, iso(day0 + 42 * DAY));
      assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).body.ok, true);
    } finally {
      await i.cleanup();
    }
  });
});
