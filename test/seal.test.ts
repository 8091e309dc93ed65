// Master-key custody: Shamir split knowledge, passphrase and file seals; a sealed server serves nothing but health and unseal.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { describe, test } from "node:test";
import { combine, split } from "../src/crypto/shamir.js";
import { encodeShare } from "../src/seal/shares.js";
import { newInstance } from "./helpers.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("shamir secret sharing", () => {
  test("any M of N shares recover the secret; fewer give something else", () => {
    const secret = randomBytes(32);
    const shares = split(secret, 5, 3);
    for (const pick of [
      [0, 1, 2],
      [4, 2, 0],
      [1, 3, 4],
      [0, 1, 2, 3, 4],
    ]) {
      assert.deepEqual(combine(pick.map((n) => shares[n])), secret);
    }
    assert.notDeepEqual(combine([shares[0], shares[1]]), secret);
    assert.throws(() => combine([shares[0], shares[0]]), /duplicate/);
    assert.throws(() => split(secret, 2, 3));
  });
});

describe("shamir-sealed server", () => {
  test("refuses key operations until M distinct valid shares arrive; bad and repeated shares are refused", async () => {
    const i = await newInstance({ seal: "shamir", shares: 5, threshold: 3 });
    try {
      const shares = i.init.unsealShares as string[];
      assert.equal(shares.length, 5);
      const h = await i.as.app.call("GET", "/v1/sys/health");
      assert.equal(h.body.sealed, true);
      for (const [m, p, b] of [
        ["POST", "/v1/keys", { name: "k", type: "aes-256" }],
        ["GET", "/v1/keys", undefined],
        ["GET", "/v1/audit", undefined],
      ] as const) {
        const r = await i.as.admin1.call(m, p, b);
        assert.equal(r.status, 503, `${m} ${p}`);
        assert.equal(r.body.error.code, "sealed");
      }
      // Nothing but health and unseal while sealed: not even the status no-op.
      assert.equal((await i.as.admin1.call("GET", "/v1/sys/status")).status, 503);

      const garbage = await i.as.admin1.call("POST", "/v1/sys/unseal", { share: "not-a-share" });
      assert.equal(garbage.status, 400);
      assert.equal(garbage.body.error.code, "invalid_share");
      assert.ok(!garbage.body.error.message.includes("not-a-share"), "share text is not echoed");
      const typo = shares[0].slice(0, 20) + (shares[0][20] === "a" ? "b" : "a") + shares[0].slice(21);
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/unseal", { share: typo })).body.error.code, "invalid_share");
      const foreign = encodeShare("0badf00d", { index: 1, value: randomBytes(32) });
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/unseal", { share: foreign })).body.error.code, "invalid_share");

      const p1 = await i.as.admin1.call("POST", "/v1/sys/unseal", { share: shares[1] });
      assert.equal(p1.status, 200);
      assert.deepEqual({ sealed: p1.body.sealed, progress: p1.body.progress }, { sealed: true, progress: 1 });
      const rep = await i.as.admin2.call("POST", "/v1/sys/unseal", { share: shares[1] });
      assert.equal(rep.status, 409);
      assert.equal(rep.body.error.code, "duplicate_share");
      await i.as.admin2.call("POST", "/v1/sys/unseal", { share: shares[3] });
      assert.equal((await i.as.admin1.call("GET", "/v1/keys")).status, 503, "still sealed at 2 of 3");
      const done = await i.as.app.call("POST", "/v1/sys/unseal", { share: `  ${shares[4]}\n` });
      assert.equal(done.body.sealed, false);
      assert.equal((await i.as.admin1.call("POST", "/v1/keys", { name: "k", type: "aes-256" })).status, 201);
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/unseal", { share: shares[0] })).body.error.code, "already_unsealed");

      // A restart seals again; keys come back after unsealing with a different set of shares.
      await i.restart();
      assert.equal((await i.as.admin1.call("GET", "/v1/keys/k")).status, 503);
      for (const s of [shares[0], shares[2], shares[4]]) await i.as.admin1.call("POST", "/v1/sys/unseal", { share: s });
      assert.equal((await i.as.admin1.call("GET", "/v1/keys/k")).status, 200);
    } finally {
      await i.cleanup();
    }
  });

  test("well-formed shares that do not reconstruct the master key fail and reset progress", async () => {
    const i = await newInstance({ seal: "shamir", shares: 3, threshold: 2 });
    try {
      const shares = i.init.unsealShares as string[];
      const setId = shares[0].split("-")[1];
      const forged = encodeShare(setId, { index: 2, value: randomBytes(32) });
      await i.as.admin1.call("POST", "/v1/sys/unseal", { share: shares[0] });
      const r = await i.as.admin1.call("POST", "/v1/sys/unseal", { share: forged });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, "unseal_failed");
      const again = await i.as.admin1.call("POST", "/v1/sys/unseal", { share: shares[0] });
      assert.equal(again.body.progress, 1, "progress restarted from zero");
      assert.equal((await i.as.admin1.call("POST", "/v1/sys/unseal", { share: shares[1] })).body.sealed, false);
    } finally {
      await i.cleanup();
    }
  });
});

describe("passphrase and file seals", () => {
  test("passphrase: unseals from the environment at start, or via POST /v1/sys/unseal", async () => {
    const passphrase = "correct horse battery staple";
    const i = await newInstance({ seal: "passphrase", passphrase }, {});
    try {
      assert.equal((await i.as.admin1.call("GET", "/v1/sys/health")).body.sealed, true);
      const wrong = await i.as.admin1.call("POST", "/v1/sys/unseal", { passphrase: "wrong passphrase!" });
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.error.code, "unseal_failed");
      const ok = await i.as.admin1.call("POST", "/v1/sys/unseal", { passphrase });
      assert.equal(ok.body.sealed, false);
      assert.equal((await i.as.admin1.call("POST", "/v1/keys", { name: "p", type: "aes-256" })).status, 201);
    } finally {
      await i.cleanup();
    }
    const j = await newInstance({ seal: "passphrase", passphrase }, { STRONGROOM_PASSPHRASE: passphrase });
    try {
      assert.equal((await j.as.admin1.call("GET", "/v1/sys/health")).body.sealed, false);
    } finally {
      await j.cleanup();
    }
  });

  test("file seal: the key file lives in its own directory with mode 0600; the database never holds the master key", async () => {
    const i = await newInstance();
    try {
      const keyFile = i.init.seal.keyFile as string;
      assert.ok(keyFile.includes("/seal/"));
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      assert.equal(statSync(`${i.dir}/bundles/app/key.pem`).mode & 0o777, 0o600);
      assert.equal(statSync(`${i.dir}/bundles/app/bundle.p12`).mode & 0o777, 0o600);
      assert.equal(statSync(`${i.dir}/pki/server.key`).mode & 0o777, 0o600);
      assert.equal((await i.as.app.call("POST", "/v1/keys", { name: "f", type: "aes-256" })).status, 201);
      void b64;
    } finally {
      await i.cleanup();
    }
  });
});
