// End-to-end tests for the PKI toolkit (X.509, CSR, PKCS#12), cross-checked with OpenSSL and Node TLS.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomInt,
  X509Certificate,
} from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import tls from "node:tls";
import { parseCsr } from "../src/pki/csr.js";
import { createPkcs12 } from "../src/pki/pkcs12.js";
import { type CertificateSpec, createCertificate, type Name, nameToString, randomSerial } from "../src/pki/x509.js";

const dir = mkdtempSync(join(tmpdir(), "strongroom-pki-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync("/usr/bin/openssl", args, { encoding: "utf8" });
}
function opensslOk(...args: string[]): string {
  const r = openssl(...args);
  assert.equal(r.status, 0, `openssl ${args.join(" ")} failed:\n${r.stderr}`);
  return r.stdout + r.stderr;
}
function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}
/** PEM armor (RFC 7468) for building test inputs. */
function pemEncode(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}(?=.)/g, "$&\n")}\n-----END ${label}-----\n`;
}
function pemDecode(pem: string, label: string): Buffer {
  const body = pem.split(`-----BEGIN ${label}-----`)[1]?.split("-----END")[0];
  assert.ok(body, `no ${label} PEM block`);
  return Buffer.from(body.replace(/\s+/g, ""), "base64");
}
/** Asserts a plain Error (not a subclass) whose message matches. */
function throwsError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error && Object.getPrototypeOf(err) === Error.prototype, `not a plain Error: ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test("nameToString follows RFC 4514", () => {
  assert.equal(nameToString({ cn: "app", ou: "apps", o: "Acme, Inc." }), "CN=app,OU=apps,O=Acme\\, Inc.");
  assert.equal(nameToString({ cn: " #x " }), "CN=\\ #x\\ ");
});

interface Pki {
  caPem: string;
  caKeys: { publicKey: KeyObject; privateKey: KeyObject };
  caName: Name;
  issue(subject: Name, publicKey: KeyObject, extra?: Partial<CertificateSpec>): string;
  newKeys(): { publicKey: KeyObject; privateKey: KeyObject };
}

function buildPki(kind: "ec" | "rsa"): Pki {
  const caKeys = kind === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("rsa", { modulusLength: 3072 });
  const newKeys = () =>
    kind === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const caName: Name = { cn: `Strongroom Test CA ${kind}`, o: "Strongroom" };
  const notBefore = new Date(Date.now() - 60_000);
  const caPem = createCertificate({
    serial: randomSerial(),
    subject: caName,
    issuer: caName,
    notBefore,
    notAfter: new Date("2051-01-01T00:00:00Z"), // past 2049: exercises GeneralizedTime
    publicKey: caKeys.publicKey,
    signingKey: caKeys.privateKey,
    issuerPublicKey: caKeys.publicKey,
    isCA: true,
  });
  const issue = (subject: Name, publicKey: KeyObject, extra: Partial<CertificateSpec> = {}) =>
    createCertificate({
      serial: randomSerial(),
      subject,
      issuer: caName,
      notBefore,
      notAfter: new Date(Date.now() + 86_400_000),
      publicKey,
      signingKey: caKeys.privateKey,
      issuerPublicKey: caKeys.publicKey,
      isCA: false,
      ...extra,
    });
  return { caPem, caKeys, caName, issue, newKeys };
}

/** Mutual-TLS round trip: resolves with what each side saw; rejects if the client is refused. */
async function mutualTls(
  server: tls.TlsOptions,
  client: tls.ConnectionOptions,
): Promise<{ clientAuthorized: boolean; serverAuthorized: boolean; peer: tls.PeerCertificate }> {
  const srv = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: true });
  const serverSide = new Promise<{ serverAuthorized: boolean; peer: tls.PeerCertificate }>((resolve) => {
    srv.once("secureConnection", (socket) => {
      resolve({ serverAuthorized: socket.authorized, peer: socket.getPeerCertificate() });
      socket.end("hello");
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = srv.address() as AddressInfo;
    const socket = tls.connect({ host: "127.0.0.1", port, ...client });
    try {
      // Waiting for data proves the server accepted us (TLS 1.3 reports client-cert rejection after secureConnect).
      const reply = await new Promise<string>((resolve, reject) => {
        socket.once("data", (d) => resolve(d.toString()));
        socket.once("error", reject);
        socket.once("close", () => reject(new Error("connection closed without data")));
      });
      assert.equal(reply, "hello");
      return { clientAuthorized: socket.authorized, ...(await serverSide) };
    } finally {
      socket.destroy();
    }
  } finally {
    srv.close();
  }
}

for (const kind of ["ec", "rsa"] as const) {
  test(`${kind} CA issues certificates that Node, OpenSSL and TLS accept`, async (t) => {
    const pki = buildPki(kind);
    const serverKeys = pki.newKeys();
    const clientKeys = pki.newKeys();
    const serverPem = pki.issue({ cn: "localhost", o: "Strongroom" }, serverKeys.publicKey, {
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1", "::1"],
      extKeyUsage: ["serverAuth"],
    });
    const serial = randomSerial();
    const clientPem = pki.issue({ cn: "app", ou: "apps", o: "Strongroom" }, clientKeys.publicKey, {
      serial,
      extKeyUsage: ["clientAuth"],
    });
    const caFile = file(`${kind}-ca.pem`, pki.caPem);
    const serverFile = file(`${kind}-server.pem`, serverPem);
    const clientFile = file(`${kind}-client.pem`, clientPem);
    const keyPem = (k: KeyObject) => k.export({ type: "pkcs8", format: "pem" }).toString();

    await t.test("X509Certificate view", () => {
      const ca = new X509Certificate(pki.caPem);
      const server = new X509Certificate(serverPem);
      const client = new X509Certificate(clientPem);
      assert.equal(ca.ca, true);
      assert.equal(server.ca, false);
      assert.match(ca.validTo, /2051/);
      assert.ok(ca.verify(pki.caKeys.publicKey));
      for (const leaf of [server, client]) {
        assert.ok(leaf.verify(pki.caKeys.publicKey));
        assert.ok(leaf.checkIssued(ca));
        assert.match(leaf.issuer, /CN=Strongroom Test CA/);
      }
      assert.match(client.subject, /CN=app/);
      assert.match(client.subject, /OU=apps/);
      assert.equal(client.serialNumber.toUpperCase(), serial.toString("hex").toUpperCase());
      assert.deepEqual(client.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
      assert.deepEqual(server.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
      assert.match(server.subjectAltName ?? "", /^DNS:localhost, IP Address:127\.0\.0\.1, IP Address:(::1|0:0:0:0:0:0:0:1)$/);
      assert.equal(server.checkHost("localhost"), "localhost");
      assert.equal(server.checkIP("127.0.0.1"), "127.0.0.1");
      assert.equal(server.checkIP("::1"), "::1");
      assert.equal(client.checkHost("localhost"), undefined);
    });

    await t.test("OpenSSL parses and verifies", () => {
      const caText = opensslOk("x509", "-noout", "-text", "-in", caFile);
      assert.match(caText, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
      assert.match(caText, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
      assert.match(caText, /Not After : Jan +1 00:00:00 2051 GMT/);
      const serverText = opensslOk("x509", "-noout", "-text", "-in", serverFile);
      assert.match(serverText, /CA:FALSE/);
      const leafUsage = kind === "rsa" ? "Digital Signature, Key Encipherment" : "Digital Signature, Key Agreement";
      assert.match(serverText, new RegExp(`X509v3 Key Usage: critical\\s+${leafUsage}\\n`));
      assert.match(serverText, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
      assert.match(serverText, /TLS Web Server Authentication/);
      assert.match(serverText, kind === "rsa" ? /Signature Algorithm: sha256WithRSAEncryption/ : /Signature Algorithm: ecdsa-with-SHA256/);

      // Our subjectKeyIdentifier must equal OpenSSL's own RFC 5280 method-1 computation for the same key.
      const caKeyFile = file(`${kind}-ca.key`, keyPem(pki.caKeys.privateKey));
      const ref = opensslOk("req", "-x509", "-new", "-key", caKeyFile, "-subj", "/CN=ref", "-days", "1", "-noout", "-text");
      const ski = (text: string) => /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text)?.[1];
      assert.ok(ski(ref));
      assert.equal(ski(caText), ski(ref));
      assert.match(serverText, new RegExp(`Authority Key Identifier:\\s*\\n\\s*(keyid:)?${ski(ref)}`));

      const strict = ["verify", "-x509_strict", "-CAfile", caFile];
      assert.match(opensslOk(...strict, "-purpose", "sslserver", serverFile), /: OK/);
      assert.match(opensslOk(...strict, "-purpose", "sslclient", clientFile), /: OK/);
      assert.notEqual(openssl(...strict, "-purpose", "sslserver", clientFile).status, 0); // wrong EKU
    });

    const serverOptions: tls.TlsOptions = { cert: serverPem, key: keyPem(serverKeys.privateKey), ca: [pki.caPem] };

    await t.test("mutual TLS handshake", async () => {
      const result = await mutualTls(serverOptions, { cert: clientPem, key: keyPem(clientKeys.privateKey), ca: [pki.caPem] });
      assert.equal(result.clientAuthorized, true);
      assert.equal(result.serverAuthorized, true);
      assert.equal(result.peer.subject.CN, "app");
      assert.equal(result.peer.subject.OU, "apps");
      await assert.rejects(mutualTls(serverOptions, { ca: [pki.caPem] })); // no client certificate
    });

    await t.test("PKCS#12 bundle", async () => {
      const password = "correct horse ✓ bätterie";
      const pfx = createPkcs12({
        certPem: clientPem,
        keyPem: keyPem(clientKeys.privateKey),
        caPem: pki.caPem,
        password,
        friendlyName: "app",
      });
      const pfxFile = file(`${kind}-client.p12`, pfx);
      const pass = `pass:${password}`;

      const info = opensslOk("pkcs12", "-in", pfxFile, "-passin", pass, "-info", "-noout");
      assert.match(info, /MAC: sha256, Iteration 100000/);
      assert.match(info, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256/);
      assert.match(info, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256/);
      const certs = opensslOk("pkcs12", "-in", pfxFile, "-passin", pass, "-nokeys");
      assert.equal(certs.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2);
      assert.match(certs, /friendlyName: app/);
      const keyOut = opensslOk("pkcs12", "-in", pfxFile, "-passin", pass, "-nocerts", "-nodes");
      assert.match(keyOut, /localKeyID: [0-9A-F ]+/);
      assert.ok(createPrivateKey(keyOut).equals(clientKeys.privateKey));
      const fingerprint = createHash("sha1").update(new X509Certificate(clientPem).raw).digest("hex");
      const localKeyIds = [...(certs + keyOut).matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1].replace(/ /g, ""));
      assert.deepEqual(localKeyIds, [fingerprint.toUpperCase(), fingerprint.toUpperCase()]);

      const wrong = openssl("pkcs12", "-in", pfxFile, "-passin", "pass:wrong", "-nokeys");
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stderr, /mac verify/i);

      assert.ok(tls.createSecureContext({ pfx, passphrase: password }));
      assert.throws(() => tls.createSecureContext({ pfx, passphrase: "wrong" }), /mac verify failure/i);
      const result = await mutualTls(serverOptions, { pfx, passphrase: password, ca: [pki.caPem] });
      assert.equal(result.clientAuthorized, true);
      assert.equal(result.serverAuthorized, true);
      assert.equal(result.peer.subject.CN, "app");
    });
  });
}

test("PKCS#12 rejects bad options", () => {
  const pki = buildPki("ec");
  const keys = pki.newKeys();
  const certPem = pki.issue({ cn: "x" }, keys.publicKey);
  const keyPem = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const base = { certPem, keyPem, caPem: pki.caPem, password: "pw" };
  assert.throws(() => createPkcs12({ ...base, iterations: 1000 }), /iterations/);
  assert.throws(() => createPkcs12({ ...base, password: "" }), /password/);
  const otherKey = pki.newKeys().privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  assert.throws(() => createPkcs12({ ...base, keyPem: otherKey }), /does not match/);
  const minimal = createPkcs12({ ...base, iterations: 2048 });
  assert.ok(tls.createSecureContext({ pfx: minimal, passphrase: "pw" }));
});

test("createCertificate validates its input", () => {
  const pki = buildPki("ec");
  const { publicKey } = pki.newKeys();
  assert.throws(() => pki.issue({ cn: "x" }, publicKey, { serial: Buffer.alloc(4) }), /positive/);
  assert.throws(() => pki.issue({ cn: "x" }, publicKey, { serial: Buffer.alloc(20, 0xff) }), /20 octets/);
  assert.ok(pki.issue({ cn: "x" }, publicKey, { serial: Buffer.alloc(20, 0x7f) }));
  assert.throws(() => pki.issue({ cn: "x" }, publicKey, { dnsNames: ["bad name"] }), /DNS name/);
  assert.throws(() => pki.issue({ cn: "x" }, publicKey, { ipAddresses: ["300.1.1.1"] }), /IP address/);
  assert.throws(() => pki.issue({ cn: "" }, publicKey), /1-64/);
  assert.throws(() => pki.issue({ cn: "x" }, publicKey, { notAfter: new Date(0) }), /notAfter/);
  assert.throws(() => pki.issue({ cn: "x" }, publicKey, { issuerPublicKey: publicKey }), /does not match/);
  const v6 = new X509Certificate(pki.issue({ cn: "x" }, publicKey, { ipAddresses: ["2001:db8::ffff:10.0.0.1", "::"] }));
  assert.equal(v6.checkIP("2001:db8::ffff:a00:1"), "2001:db8::ffff:a00:1");
  assert.equal(v6.checkIP("::"), "::");
});

test("parseCsr verifies OpenSSL-generated CSRs and rejects tampering", () => {
  const pki = buildPki("ec");
  const caFile = file("csr-ca.pem", pki.caPem);
  const variants: [string, string[]][] = [
    ["ec-p256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]],
    ["ec-p384-sha384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"]],
    ["rsa", ["-newkey", "rsa:2048"]],
    ["rsa-pss", ["-newkey", "rsa:2048", "-sha256", "-sigopt", "rsa_padding_mode:pss"]],
  ];
  for (const [name, args] of variants) {
    const keyFile = join(dir, `${name}.key`);
    const csrFile = join(dir, `${name}.csr`);
    opensslOk("req", "-new", ...args, "-nodes", "-subj", "/OU=apps/CN=svc1", "-keyout", keyFile, "-out", csrFile);
    const pem = readFileSync(csrFile, "utf8");
    const csr = parseCsr(pem);
    assert.deepEqual(csr.subject, { ou: "apps", cn: "svc1" }, name);
    assert.ok(csr.publicKey.equals(createPublicKey(readFileSync(keyFile, "utf8"))), name);

    // The signature is the last element, so its last byte is the final DER byte.
    const der = pemDecode(pem, "CERTIFICATE REQUEST");
    const badSig = Buffer.from(der);
    badSig[badSig.length - 1] ^= 0x01;
    throwsError(() => parseCsr(pemEncode("CERTIFICATE REQUEST", badSig)), /signature verification failed/);
    const badSubject = Buffer.from(der);
    badSubject[der.indexOf("svc1") + 3] = "2".charCodeAt(0);
    throwsError(() => parseCsr(pemEncode("CERTIFICATE REQUEST", badSubject)), /signature verification failed/);

    // Issue from the CSR and let OpenSSL check the result.
    const certFile = file(`${name}.pem`, pki.issue({ cn: csr.subject.cn ?? "", ou: csr.subject.ou }, csr.publicKey));
    assert.match(opensslOk("verify", "-x509_strict", "-CAfile", caFile, certFile), /: OK/);
  }

  const sha1Csr = join(dir, "sha1.csr");
  opensslOk(
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-sha1",
    "-subj",
    "/CN=x",
    "-keyout",
    join(dir, "sha1.key"),
    "-out",
    sha1Csr,
  );
  throwsError(() => parseCsr(readFileSync(sha1Csr, "utf8")), /unsupported signature algorithm 1\.2\.840\.10045\.4\.1/);

  const valid = readFileSync(join(dir, "ec-p256.csr"), "utf8");
  const der = pemDecode(valid, "CERTIFICATE REQUEST");
  throwsError(() => parseCsr("garbage"), /found 0/);
  throwsError(() => parseCsr(pemEncode("CERTIFICATE REQUEST", Buffer.from("not DER at all"))), /DER/);
  throwsError(() => parseCsr(pemEncode("CERTIFICATE REQUEST", der.subarray(0, der.length - 5))), /DER/);
  throwsError(
    () => parseCsr(pemEncode("CERTIFICATE REQUEST", Buffer.from("30020500", "hex")) /* SEQUENCE { NULL } */),
    /CertificationRequest/,
  );
  throwsError(() => parseCsr(pki.caPem), /found 0/);
  throwsError(() => parseCsr(valid + valid), /found 2/);
  throwsError(() => parseCsr(valid.replace(/\n(?=-----END)/, "\n!\n")), /found 0/);
  throwsError(() => parseCsr(`${valid}${" ".repeat(64 * 1024)}`), /64 KiB/);
  throwsError(() => parseCsr(undefined as unknown as string), /PEM string/);

  // Mutation fuzzing: every corrupted request must fail with a plain Error, never crash or pass.
  const original = parseCsr(valid);
  for (let i = 0; i < 2000; i++) {
    const mutated = Buffer.from(der);
    mutated[randomInt(mutated.length)] ^= 1 << randomInt(8);
    const input = i % 4 === 0 ? mutated.subarray(0, randomInt(mutated.length)) : mutated;
    try {
      const csr = parseCsr(pemEncode("CERTIFICATE REQUEST", input));
      assert.deepEqual(csr.subject, original.subject);
      assert.ok(csr.publicKey.equals(original.publicKey));
    } catch (err) {
      assert.ok(err instanceof Error && Object.getPrototypeOf(err) === Error.prototype, String(err));
    }
  }
});
