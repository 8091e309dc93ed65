// The hand-written RSA encodings (src/crypto/rsa-padding.ts) and AES-CMAC cross-tested against the openssl command line, both ways.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { aesCmac } from "../src/crypto/mac.js";
import { rsaDecrypt, rsaEncrypt } from "../src/crypto/rsa-cipher.js";
import {
  oaepDecrypt,
  oaepEncrypt,
  pkcs1Decrypt,
  pkcs1SignDigest,
  pkcs1VerifyDigest,
  pssSignDigest,
  pssVerifyDigest,
} from "../src/crypto/rsa-padding.js";

describe("hand-written RSA paddings agree with OpenSSL", () => {
  let dir: string;
  let priv: KeyObject;
  let pub: KeyObject;
  let privDer: Buffer;
  const file = (name: string, data?: Buffer): string => {
    const p = join(dir, name);
    if (data) writeFileSync(p, data);
    return p;
  };
  /** Runs `openssl pkeyutl` with the test key; returns stdout (bytes). */
  const pkeyutl = (args: string[], input: Buffer): Buffer =>
    execFileSync("openssl", ["pkeyutl", ...args, "-in", file("in.bin", input)], { stdio: ["ignore", "pipe", "pipe"] });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "sr-rsa-padding-"));
    ({ privateKey: priv, publicKey: pub } = generateKeyPairSync("rsa", { modulusLength: 2048 }));
    privDer = priv.export({ type: "pkcs8", format: "der" });
    file("priv.pem", Buffer.from(priv.export({ type: "pkcs8", format: "pem" })));
    file("pub.pem", Buffer.from(pub.export({ type: "spki", format: "pem" })));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    privDer.fill(0);
  });
  const withPub = () => ["-pubin", "-inkey", join(dir, "pub.pem")];
  const withPriv = () => ["-inkey", join(dir, "priv.pem")];

  // OAEP with an MGF1 hash other than the label hash: what node:crypto's oaepHash cannot say.
  const OAEP: [string, string, Buffer][] = [
    ["sha384", "sha256", Buffer.from("a P Source label")],
    ["sha256", "sha1", Buffer.alloc(0)],
    ["sha1", "sha512", Buffer.from("x")],
  ];
  for (const [hash, mgf, label] of OAEP) {
    test(`OAEP ${hash} with MGF1-${mgf}: ours → openssl and openssl → ours`, async () => {
      const opts = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", `rsa_oaep_md:${hash}`, "-pkeyopt", `rsa_mgf1_md:${mgf}`];
      if (label.length) opts.push("-pkeyopt", `rsa_oaep_label:${label.toString("hex")}`);
      const msg = randomBytes(32);
      const ours = oaepEncrypt(pub, msg, hash, mgf, label);
      assert.deepEqual(pkeyutl(["-decrypt", ...withPriv(), ...opts], ours), msg);
      // The scheme-level call takes the hand-written path for a distinct MGF1 hash, and the same bytes decrypt.
      const viaScheme = rsaEncrypt(pub, { padding: "oaep", hash, mgfHash: mgf, label }, msg);
      assert.deepEqual(pkeyutl(["-decrypt", ...withPriv(), ...opts], viaScheme), msg);
      const theirs = pkeyutl(["-encrypt", ...withPub(), ...opts], msg);
      assert.deepEqual(await oaepDecrypt(priv, theirs, hash, mgf, label), msg);
      assert.deepEqual(await rsaDecrypt(priv, privDer, { padding: "oaep", hash, mgfHash: mgf, label }, theirs), msg);
      // A wrong label (or a tampered ciphertext) is the one decrypt_failed.
      await assert.rejects(oaepDecrypt(priv, theirs, hash, mgf, Buffer.from("other")), { code: "decrypt_failed" });
      const bad = Buffer.from(theirs);
      bad[bad.length - 1] ^= 1;
      await assert.rejects(oaepDecrypt(priv, bad, hash, mgf, label), { code: "decrypt_failed" });
    });
  }

  // EMSA-PSS of a given digest, with a distinct MGF1 hash and explicit or recovered salt lengths.
  const PSS: [string, string, number][] = [
    ["sha256", "sha256", 32],
    ["sha384", "sha256", 20],
    ["sha512", "sha1", 0],
  ];
  for (const [hash, mgf, salt] of PSS) {
    test(`PSS ${hash} with MGF1-${mgf}, salt ${salt}: ours → openssl and openssl → ours`, async () => {
      const digest = createHash(hash).update(randomBytes(100)).digest();
      const opts = [
        "-pkeyopt",
        "rsa_padding_mode:pss",
        "-pkeyopt",
        `digest:${hash}`,
        "-pkeyopt",
        `rsa_mgf1_md:${mgf}`,
        "-pkeyopt",
        `rsa_pss_saltlen:${salt}`,
      ];
      const ours = await pssSignDigest(priv, hash, mgf, digest, salt);
      const out = pkeyutl(["-verify", ...withPub(), "-sigfile", file("sig.bin", ours), ...opts], digest).toString();
      assert.match(out, /Signature Verified Successfully/);
      const theirs = pkeyutl(["-sign", ...withPriv(), ...opts], digest);
      assert.equal(pssVerifyDigest(pub, hash, mgf, digest, theirs, salt), true);
      assert.equal(pssVerifyDigest(pub, hash, mgf, digest, theirs), true, "salt length recovered from the signature");
      assert.equal(pssVerifyDigest(pub, hash, mgf, digest, theirs, salt + 1), false, "another salt length");
      const other = Buffer.from(digest);
      other[0] ^= 1;
      assert.equal(pssVerifyDigest(pub, hash, mgf, other, theirs, salt), false, "another digest");
    });
  }

  // EMSA-PKCS1-v1_5 of a given digest: the DigestInfo prefixes (SHA-2, SHA-512/t, SHA-3) must match OpenSSL's.
  for (const hash of ["sha1", "sha256", "sha512-256", "sha3-256", "sha3-512"]) {
    test(`PKCS#1 v1.5 signature of a ${hash} digest: ours → openssl and openssl → ours`, async () => {
      const digest = createHash(hash).update(randomBytes(64)).digest();
      const opts = ["-pkeyopt", "rsa_padding_mode:pkcs1", "-pkeyopt", `digest:${hash}`];
      const ours = await pkcs1SignDigest(priv, hash, digest);
      const out = pkeyutl(["-verify", ...withPub(), "-sigfile", file("sig.bin", ours), ...opts], digest).toString();
      assert.match(out, /Signature Verified Successfully/);
      const theirs = pkeyutl(["-sign", ...withPriv(), ...opts], digest);
      assert.deepEqual(ours, theirs, "PKCS#1 v1.5 signatures are deterministic: the same bytes");
      assert.equal(pkcs1VerifyDigest(pub, hash, digest, theirs), true);
      const other = Buffer.from(digest);
      other[0] ^= 1;
      assert.equal(pkcs1VerifyDigest(pub, hash, other, theirs), false);
    });
  }

  test("PKCS#1 v1.5 decryption: OpenSSL's ciphertext decrypts; a malformed one yields a stable synthetic message, no error", async () => {
    const msg = randomBytes(48);
    const theirs = pkeyutl(["-encrypt", ...withPub(), "-pkeyopt", "rsa_padding_mode:pkcs1"], msg);
    assert.deepEqual(await pkcs1Decrypt(priv, theirs, privDer), msg);
    assert.deepEqual(await rsaDecrypt(priv, privDer, { padding: "pkcs1" }, theirs), msg);
    // Implicit rejection: a ciphertext whose padding is wrong (here an OAEP one) answers with a message derived from
    // the key and the ciphertext — the same every time, different per ciphertext — instead of an error. (OpenSSL 3.2+
    // derives its synthetic message from the private exponent, this one from the PKCS#8 encoding, so the two differ.)
    const oaep = pkeyutl(["-encrypt", ...withPub(), "-pkeyopt", "rsa_padding_mode:oaep"], msg);
    const a = await pkcs1Decrypt(priv, oaep, privDer);
    const b = await pkcs1Decrypt(priv, oaep, privDer);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, msg);
    assert.ok(a.length <= 256 - 11);
    const oaep2 = pkeyutl(["-encrypt", ...withPub(), "-pkeyopt", "rsa_padding_mode:oaep"], msg);
    assert.notDeepEqual(await pkcs1Decrypt(priv, oaep2, privDer), a);
    await assert.rejects(pkcs1Decrypt(priv, theirs.subarray(1), privDer), { code: "decrypt_failed" });
  });

  test("AES-CMAC (hand-written over AES-ECB/CBC: node:crypto has no CMAC) equals openssl mac CMAC", () => {
    for (const bits of [128, 192, 256]) {
      for (const len of [0, 16, 17, 64]) {
        const key = randomBytes(bits / 8);
        const data = randomBytes(len);
        const out = execFileSync(
          "openssl",
          ["mac", "-cipher", `AES-${bits}-CBC`, "-macopt", `hexkey:${key.toString("hex")}`, "-in", file("in.bin", data), "CMAC"],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        assert.equal(aesCmac(key, data).toString("hex").toUpperCase(), out.toString().trim().toUpperCase(), `AES-${bits}, ${len} bytes`);
      }
    }
  });
});
