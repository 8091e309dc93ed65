// Mutual TLS at the HTTPS API: foreign CAs, missing certificates, old TLS versions, certificate issuance (PEM, PKCS#12, CSR), revocation and expiry.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type TLSSocket } from "node:tls";
import { createCertificate, type Name, randomSerial } from "../src/pki/x509.js";
import { type Client, client, type Instance, newInstance } from "./helpers.js";

let i: Instance;
let work: string;

before(async () => {
  i = await newInstance();
  work = mkdtempSync(join(tmpdir(), "strongroom-tls-"));
});
after(async () => {
  await i?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Serial numbers as the registry writes them: upper-case hex without leading zeros. */
const norm = (s: string) =>
  s
    .replace(/:/g, "")
    .toUpperCase()
    .replace(/^0+(?=.)/, "");
const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" }).toString("hex");

interface Raw {
  status: number;
  body: any;
  reused: boolean;
  socket: TLSSocket;
}

/** One request on `agent` that also reports which socket carried it (to prove a keep-alive connection was reused). */
function call(agent: Agent, method: string, path: string, body?: unknown): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const raw = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      new URL(path, i.url),
      { method, agent, headers: raw ? { "content-type": "application/json" } : {} },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed, reused: req.reusedSocket, socket: res.socket as TLSSocket });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(raw);
  });
}

/**
 * A refused client: either the server tears the connection down right after the handshake (a network
 * error on the client) or answers 401. Anything else (a 2xx, a 403…) fails the test.
 */
async function assertRefused(p: Promise<{ status: number; body: any }>, code?: string): Promise<string> {
  try {
    const r = await p;
    assert.equal(r.status, 401, `expected refusal, got ${r.status} ${JSON.stringify(r.body)}`);
    if (code) assert.equal(r.body.error.code, code);
    return `401 ${r.body.error.code}`;
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    const err = e as NodeJS.ErrnoException;
    assert.ok(err.code, `unexpected failure ${String(e)}`);
    return err.code as string;
  }
}

/** All audit events matching the query, as the auditor. */
async function audit(query: string): Promise<any[]> {
  const out: any[] = [];
  let after = 0;
  for (;;) {
    const r = await i.as.auditor.call("GET", `/v1/audit?limit=1000&after=${after}${query ? `&${query}` : ""}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    out.push(...r.body.events);
    if (r.body.next === null) return out;
    after = r.body.next;
  }
}

/** Audit events of refused handshakes are written after the connection is closed: poll for them briefly. */
async function waitForEvent(query: string, pred: (e: any) => boolean, what: string): Promise<any> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = (await audit(query)).find(pred);
    if (found) return found;
    if (Date.now() > deadline) assert.fail(`no audit event: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function makeCa(name: Name): { certPem: string; name: Name; key: KeyObject; pub: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const now = Date.now();
  const certPem = createCertificate({
    serial: randomSerial(),
    subject: name,
    issuer: name,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 365 * 86400_000),
    publicKey,
    signingKey: privateKey,
    issuerPublicKey: publicKey,
    isCA: true,
  });
  return { certPem, name, key: privateKey, pub: publicKey };
}

function leafFrom(ca: ReturnType<typeof makeCa>, subject: Name): { cert: string; key: string; serial: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const serial = randomSerial();
  // A first octet below 0x10: its hex form has a leading zero that must not leak into the audit log.
  serial[0] = 0x0a;
  const now = Date.now();
  const cert = createCertificate({
    serial,
    subject,
    issuer: ca.name,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 30 * 86400_000),
    publicKey,
    signingKey: ca.key,
    issuerPublicKey: ca.pub,
    isCA: false,
    extKeyUsage: ["clientAuth"],
  });
  return { cert, key: privateKey.export({ type: "pkcs8", format: "pem" }) as string, serial: norm(serial.toString("hex")) };
}

async function issue(body: Record<string, unknown>): Promise<any> {
  const r = await i.as.admin1.call("POST", "/v1/certs", body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

const caPem = () => i.bundle("admin1").ca;

test("a client certificate signed by another CA is refused and the handshake is audited as denied", async () => {
  // An unrelated CA, and a look-alike CA carrying exactly the name of this instance's CA.
  const instanceCaName = new X509Certificate(caPem()).subject; // e.g. "CN=Strongroom CA host\nO=Strongroom"
  const cn = /CN=([^\n]+)/.exec(instanceCaName)?.[1] ?? "";
  const o = /O=([^\n]+)/.exec(instanceCaName)?.[1];
  const cases = [
    { label: "foreign CA", ca: makeCa({ cn: "Some Public CA", o: "Elsewhere" }) },
    { label: "look-alike CA", ca: makeCa({ cn, o }) },
  ];
  for (const c of cases) {
    // The intruder claims to be admin1 (same CN/OU as the real bundle).
    const leaf = leafFrom(c.ca, { cn: "admin1", ou: "admins" });
    const intruder = client(i.url, { cert: leaf.cert, key: leaf.key, ca: caPem() });
    try {
      const outcome = await assertRefused(intruder.call("GET", "/v1/keys"));
      assert.ok(outcome, c.label);
      const ev = await waitForEvent(
        "action=tls.handshake&outcome=denied",
        (e) => e.actor.serial === leaf.serial,
        `tls.handshake denied for the ${c.label} certificate`,
      );
      assert.equal(ev.actor.cn, "admin1");
      assert.equal(ev.actor.ou, "admins");
      assert.match(ev.actor.serial, /^A[0-9A-F]+$/, "serial recorded like every other serial (no leading zero)");
      assert.equal(ev.actor.role, null);
      assert.ok(ev.reason, "a reason is recorded");
      assert.match(ev.actor.address ?? "", /127\.0\.0\.1/);
      // The real admin1 is unaffected.
      assert.equal((await i.as.admin1.call("GET", "/v1/keys")).status, 200);
    } finally {
      intruder.close();
    }
  }
  // The impostor never produced an admin success event.
  const admin1Serial = norm(new X509Certificate(i.bundle("admin1").cert).serialNumber);
  const events = await audit("outcome=success&actor=admin1");
  for (const e of events) assert.equal(e.actor.serial, admin1Serial);
});

test("without a client certificate only /v1/sys/health answers", async () => {
  const anon = client(i.url, { ca: caPem() });
  try {
    const h = await anon.call("GET", "/v1/sys/health");
    assert.equal(h.status, 200, JSON.stringify(h.body));
    assert.equal(h.body.sealed, false);
    assert.equal(h.body.status, "ok");
    const k = await anon.call("GET", "/v1/keys");
    assert.equal(k.status, 401);
    assert.equal(k.body.error.code, "unauthenticated");
    assert.ok(k.body.error.requestId);
    const s = await anon.call("GET", "/v1/sys/status");
    assert.equal(s.status, 401);
    assert.equal(s.body.error.code, "unauthenticated");
    const c = await anon.call("POST", "/v1/keys", { name: "anon-key", type: "aes-256" });
    assert.equal(c.status, 401);
    const ev = (await audit("outcome=denied")).find((e) => e.requestId === k.body.error.requestId);
    assert.ok(ev, "the refused request is audited");
    assert.equal(ev.actor.cn, null);
    // Nothing was created.
    assert.equal((await i.as.admin1.call("GET", "/v1/keys/anon-key")).body.error.code, "key_not_found");
  } finally {
    anon.close();
  }
});

test("TLS 1.1 and lower are refused; TLS 1.2 and 1.3 work", async () => {
  const port = i.server.apiPort;
  const b = i.bundle("admin1");
  const attempt = (opts: { minVersion: "TLSv1" | "TLSv1.2" | "TLSv1.3"; maxVersion: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3" }) =>
    new Promise<{ ok: true; protocol: string | null } | { ok: false; code: string }>((resolve) => {
      const s = connect({
        host: "127.0.0.1",
        port,
        servername: "localhost",
        ca: b.ca,
        cert: b.cert,
        key: b.key,
        ...opts,
        // Let this client's OpenSSL offer old protocols at all: the refusal must come from the server.
        ciphers: "DEFAULT:@SECLEVEL=0",
      });
      s.once("secureConnect", () => {
        const protocol = s.getProtocol();
        s.end();
        resolve({ ok: true, protocol });
      });
      s.once("error", (e: NodeJS.ErrnoException) => resolve({ ok: false, code: e.code ?? e.message }));
    });
  for (const maxVersion of ["TLSv1.1", "TLSv1"] as const) {
    const r = await attempt({ minVersion: "TLSv1", maxVersion });
    assert.equal(r.ok, false, `${maxVersion} handshake must fail, got ${JSON.stringify(r)}`);
    // The server answers with a protocol_version alert (not a local client-side refusal).
    if (!r.ok) assert.match(r.code, /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION/i);
  }
  const r12 = await attempt({ minVersion: "TLSv1.2", maxVersion: "TLSv1.2" });
  assert.deepEqual(r12, { ok: true, protocol: "TLSv1.2" });
  const r13 = await attempt({ minVersion: "TLSv1.3", maxVersion: "TLSv1.3" });
  assert.deepEqual(r13, { ok: true, protocol: "TLSv1.3" });
  await waitForEvent(
    "action=tls.handshake&outcome=denied",
    (e) => /VERSION|PROTOCOL/i.test(e.reason ?? ""),
    "old-protocol handshake audited",
  );
});

test("certificate issuance: server-generated bundles (PEM and PKCS#12), roles, CSR signing, refusals", async () => {
  // Server-side key generation, role auditor.
  const aud = await issue({ cn: "second-auditor", ou: "audit-team", role: "auditor" });
  for (const f of ["serial", "certificate", "privateKey", "ca", "pkcs12", "pkcs12Password"]) {
    assert.equal(typeof aud[f], "string", `${f} present`);
    assert.ok(aud[f].length > 0, `${f} non-empty`);
  }
  assert.equal(aud.role, "auditor");
  assert.equal(aud.ca.trim(), caPem().trim());
  assert.match(aud.pkcs12, /^[A-Za-z0-9+/]+=*$/, "pkcs12 is standard base64");
  const x = new X509Certificate(aud.certificate);
  assert.match(x.subject, /CN=second-auditor/);
  assert.match(x.subject, /OU=audit-team/);
  assert.equal(norm(x.serialNumber), aud.serial);
  assert.ok(x.verify(new X509Certificate(caPem()).publicKey), "signed by the instance CA");
  assert.equal(spki(x.publicKey), spki(createPublicKey(createPrivateKey(aud.privateKey))));
  assert.ok(x.checkPrivateKey(createPrivateKey(aud.privateKey)));

  // The bundle works as PEM…
  const pem = client(i.url, { cert: aud.certificate, key: aud.privateKey, ca: aud.ca });
  // …and as PKCS#12.
  const p12 = client(i.url, { pfx: Buffer.from(aud.pkcs12, "base64"), passphrase: aud.pkcs12Password, ca: aud.ca });
  try {
    for (const [label, c] of [
      ["PEM", pem],
      ["PKCS#12", p12],
    ] as [string, Client][]) {
      const r = await c.call("GET", "/v1/audit?limit=5");
      assert.equal(r.status, 200, `${label}: ${JSON.stringify(r.body)}`);
      const s = await c.call("GET", "/v1/sys/status");
      assert.equal(s.status, 200, `${label}: ${JSON.stringify(s.body)}`);
      // An auditor may not manage keys.
      const k = await c.call("POST", "/v1/keys", { name: `aud-${label === "PEM" ? "pem" : "p12"}`, type: "aes-256" });
      assert.equal(k.status, 403, `${label}: ${JSON.stringify(k.body)}`);
    }
    const mine = (await audit("action=audit.query&outcome=success")).filter((e) => e.actor.serial === aud.serial);
    assert.ok(mine.length >= 2, "the new auditor's queries are attributed to its certificate");
    assert.equal(mine[0].actor.cn, "second-auditor");
    assert.equal(mine[0].actor.ou, "audit-team");
    assert.equal(mine[0].actor.role, "auditor");
  } finally {
    pem.close();
    p12.close();
  }

  // Role client: may use keys, may not read the audit log.
  const cli = await issue({ cn: "second-app", ou: "apps", role: "client", keyType: "rsa-2048" });
  assert.equal(new X509Certificate(cli.certificate).publicKey.asymmetricKeyType, "rsa");
  const cc = client(i.url, { cert: cli.certificate, key: cli.privateKey, ca: cli.ca });
  try {
    const a = await cc.call("GET", "/v1/audit");
    assert.equal(a.status, 403, JSON.stringify(a.body));
    assert.equal(a.body.error.code, "forbidden");
    const k = await cc.call("GET", "/v1/keys");
    assert.equal(k.status, 200, JSON.stringify(k.body));
    // A client may not issue certificates.
    const f = await cc.call("POST", "/v1/certs", { cn: "escalate", role: "admin" });
    assert.equal(f.status, 403, JSON.stringify(f.body));
    assert.equal(f.body.error.code, "forbidden");
  } finally {
    cc.close();
  }
  const appTry = await i.as.app.call("POST", "/v1/certs", { cn: "escalate2", role: "admin" });
  assert.equal(appTry.status, 403, JSON.stringify(appTry.body));
  assert.equal(appTry.body.error.code, "forbidden");
  const auditorTry = await i.as.auditor.call("POST", "/v1/certs", { cn: "escalate3", role: "admin" });
  assert.equal(auditorTry.status, 403, JSON.stringify(auditorTry.body));
  const listed = await i.as.admin1.call("GET", "/v1/certs?limit=1000");
  assert.equal(listed.status, 200);
  for (const cn of ["escalate", "escalate2", "escalate3"]) {
    assert.ok(!listed.body.certificates.some((c: any) => c.cn === cn), `${cn} was not issued`);
  }
  const denied = await waitForEvent(
    "action=cert.issue&outcome=denied",
    (e) => e.requestId === appTry.body.error.requestId,
    "denied issue audited",
  );
  assert.equal(denied.actor.cn, "app");

  // CSR signing: the key stays with the requester; CN/OU come from the request body, not the CSR.
  const keyPath = join(work, "csr.key");
  const csrPath = join(work, "csr.pem");
  const o = spawnSync(
    "openssl",
    [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      keyPath,
      "-subj",
      "/CN=from-csr/OU=csr-ou",
      "-out",
      csrPath,
    ],
    { encoding: "utf8" },
  );
  assert.equal(o.status, 0, o.stderr);
  const csr = readFileSync(csrPath, "utf8");
  const csrKey = readFileSync(keyPath, "utf8");
  const signed = await issue({ cn: "csr-client", ou: "csr-team", role: "client", csr });
  assert.equal(signed.privateKey, undefined, "no private key for a CSR");
  assert.equal(signed.pkcs12, undefined, "no PKCS#12 for a CSR");
  const sx = new X509Certificate(signed.certificate);
  assert.equal(spki(sx.publicKey), spki(createPublicKey(csrKey)), "the certificate carries the CSR's public key");
  assert.match(sx.subject, /CN=csr-client/);
  assert.match(sx.subject, /OU=csr-team/);
  assert.doesNotMatch(sx.subject, /from-csr|csr-ou/);
  const sc = client(i.url, { cert: signed.certificate, key: csrKey, ca: signed.ca });
  try {
    const st = await sc.call("GET", "/v1/sys/status");
    assert.equal(st.status, 200, JSON.stringify(st.body));
  } finally {
    sc.close();
  }

  // Garbage CSRs.
  const der = Buffer.from(csr.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  der[der.length - 5] ^= 0x01; // inside the signature: the self-signature no longer verifies
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END CERTIFICATE REQUEST-----\n`;
  const garbage = [
    "not a csr",
    "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    tampered,
    signed.certificate,
  ];
  for (const bad of garbage) {
    const r = await i.as.admin1.call("POST", "/v1/certs", { cn: "garbage", role: "client", csr: bad });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "invalid_csr");
    assert.ok(r.body.error.requestId);
  }
  const all = await i.as.admin1.call("GET", "/v1/certs?cn=garbage");
  assert.deepEqual(all.body.certificates, [], "nothing issued for garbage CSRs");
});

test("revocation is immediate: the next request on an open connection and every new connection are refused", async () => {
  const rv = await issue({ cn: "revokee", ou: "apps", role: "client" });
  const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: rv.certificate, key: rv.privateKey, ca: rv.ca });
  try {
    const first = await call(agent, "GET", "/v1/keys");
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const second = await call(agent, "GET", "/v1/sys/status");
    assert.equal(second.status, 200);
    assert.equal(second.reused, true, "keep-alive connection reused");
    assert.equal(second.socket, first.socket);

    const del = await i.as.admin1.call("DELETE", `/v1/certs/${rv.serial}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.equal(del.body.status, "revoked");
    assert.ok(del.body.revokedAt);

    const third = await call(agent, "GET", "/v1/keys");
    assert.equal(third.reused, true, "the request went over the already-open connection");
    assert.equal(third.socket, first.socket);
    assert.equal(third.status, 401, JSON.stringify(third.body));
    assert.equal(third.body.error.code, "cert_revoked");
    const ev = await waitForEvent("outcome=denied", (e) => e.requestId === third.body.error.requestId, "revoked request audited");
    assert.equal(ev.actor.serial, rv.serial);
  } finally {
    agent.destroy();
  }

  // A new connection with the revoked certificate.
  const fresh = client(i.url, { cert: rv.certificate, key: rv.privateKey, ca: rv.ca });
  try {
    await assertRefused(fresh.call("GET", "/v1/keys"), "cert_revoked");
    await waitForEvent(
      "action=tls.handshake&outcome=denied",
      (e) => e.actor.serial === rv.serial && /cert_revoked/.test(e.reason ?? ""),
      "handshake with a revoked certificate audited",
    );
  } finally {
    fresh.close();
  }

  const revoked = await i.as.admin1.call("GET", "/v1/certs?status=revoked");
  assert.equal(revoked.status, 200);
  const row = revoked.body.certificates.find((c: any) => c.serial === rv.serial);
  assert.ok(row, "listed among revoked certificates");
  assert.equal(row.status, "revoked");
  assert.equal(row.cn, "revokee");
  const valid = await i.as.admin1.call("GET", "/v1/certs?status=valid&limit=1000");
  assert.ok(!valid.body.certificates.some((c: any) => c.serial === rv.serial));
  const again = await i.as.admin1.call("DELETE", `/v1/certs/${rv.serial}`);
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, "invalid_state");
  const unknown = await i.as.admin1.call("DELETE", "/v1/certs/ABCDEF0123456789");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, "cert_not_found");
  await waitForEvent("action=cert.revoke&outcome=success", (e) => e.target.name === rv.serial, "revocation audited");
});

test("expired certificates are refused (by TLS against real time, and by the server's own clock)", async () => {
  // 1) Already expired in real time: issued with the server clock 400 days in the past, valid for one day.
  const realNow = i.clock.t;
  i.clock.advanceDays(-400);
  let old: any;
  try {
    old = await issue({ cn: "long-gone", ou: "apps", role: "client", days: 1 });
  } finally {
    i.clock.t = realNow;
  }
  assert.ok(new Date(old.notAfter).getTime() < Date.now());
  const oc = client(i.url, { cert: old.certificate, key: old.privateKey, ca: old.ca });
  try {
    await assertRefused(oc.call("GET", "/v1/keys"));
    const ev = await waitForEvent(
      "action=tls.handshake&outcome=denied",
      (e) => e.actor.serial === old.serial,
      "handshake with an expired certificate audited",
    );
    assert.match(ev.reason, /EXPIRED/i);
  } finally {
    oc.close();
  }

  // 2) Valid for node's TLS check (real time) but expired by the server's clock.
  const short = await issue({ cn: "short-lived", ou: "apps", role: "client", days: 1 });
  const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: short.certificate, key: short.privateKey, ca: short.ca });
  try {
    const ok = await call(agent, "GET", "/v1/keys");
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    i.clock.advanceDays(2);
    const late = await call(agent, "GET", "/v1/keys");
    assert.equal(late.reused, true);
    assert.equal(late.status, 401, JSON.stringify(late.body));
    assert.equal(late.body.error.code, "cert_expired");
  } finally {
    agent.destroy();
  }
  const sc = client(i.url, { cert: short.certificate, key: short.privateKey, ca: short.ca });
  try {
    await assertRefused(sc.call("GET", "/v1/keys"));
    await waitForEvent(
      "action=tls.handshake&outcome=denied",
      (e) => e.actor.serial === short.serial,
      "handshake with a certificate expired by the server clock audited",
    );
  } finally {
    sc.close();
  }
  // Longer-lived certificates are unaffected.
  assert.equal((await i.as.admin1.call("GET", "/v1/keys")).status, 200);
});
