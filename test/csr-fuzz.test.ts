// Fuzzes POST /v1/certs with mutated CSRs through the real server: no crash, no 500, no certificate beyond the admin's request.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, X509Certificate } from "node:crypto";
import { after, before, test } from "node:test";
import { CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  Attribute,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
} from "@peculiar/asn1-x509";
import { type Instance, newInstance } from "./helpers.js";

const SEED = 0x5eed_1509;
const CASES = 300;
const ROLES = ["admin", "auditor", "client", "peer"] as const;
const OID = {
  cn: "2.5.4.3",
  ou: "2.5.4.11",
  o: "2.5.4.10",
  extensionRequest: "1.2.840.113549.1.9.14",
  challengePassword: "1.2.840.113549.1.9.7",
  unstructuredName: "1.2.840.113549.1.9.2",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  nameConstraints: "2.5.29.30",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  anyEku: "2.5.29.37.0",
  ecdsaSha256: "1.2.840.10045.4.3.2",
  ecdsaSha1: "1.2.840.10045.4.1",
  rsaSha256: "1.2.840.113549.1.1.11",
} as const;
/** What the certificate profile gives a client certificate issued for a CSR: nothing else may appear. */
const PROFILE_EXTENSIONS = [OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectKeyIdentifier, OID.authorityKeyIdentifier];

/** mulberry32: a small seeded PRNG, so every run posts the same 300 requests. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

const pem = (der: Buffer | ArrayBuffer) =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der as ArrayBuffer)
    .toString("base64")
    .replace(/.{64}(?=.)/g, "$&\n")}\n-----END CERTIFICATE REQUEST-----\n`;

function name(parts: [string, string][]): Name {
  return new Name(
    parts.map(
      ([type, v]) => new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: v }) })]),
    ),
  );
}
function ext(extnID: string, value: object, critical = false): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}
function attribute(type: string, values: ArrayBuffer[]): Attribute {
  const a = new Attribute();
  a.type = type;
  a.values = values;
  return a;
}

interface Built {
  pem: string;
  der: Buffer;
  publicKey: KeyObject;
}

/** A CSR signed by `keys` (so it passes the signature check) with the given subject, attributes and signature algorithm. */
function buildCsr(
  keys: { publicKey: KeyObject; privateKey: KeyObject },
  o: { subject?: [string, string][]; attributes?: Attribute[]; hash?: "sha1" | "sha256"; wrongAlgorithm?: boolean } = {},
): Built {
  const info = new CertificationRequestInfo({
    subject: name(o.subject ?? [[OID.cn, "requested"]]),
    subjectPKInfo: AsnConvert.parse(keys.publicKey.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo),
  });
  if (o.attributes) for (const a of o.attributes) info.attributes.push(a);
  const tbs = Buffer.from(AsnConvert.serialize(info));
  const isEc = keys.publicKey.asymmetricKeyType === "ec";
  const isEd = keys.publicKey.asymmetricKeyType === "ed25519";
  const hash = isEd ? null : (o.hash ?? "sha256");
  const signature = sign(hash, tbs, keys.privateKey);
  let algorithm = isEc
    ? new AlgorithmIdentifier({ algorithm: hash === "sha1" ? OID.ecdsaSha1 : OID.ecdsaSha256 })
    : isEd
      ? new AlgorithmIdentifier({ algorithm: "1.3.101.112" })
      : new AlgorithmIdentifier({ algorithm: OID.rsaSha256, parameters: null });
  if (o.wrongAlgorithm)
    algorithm = isEc
      ? new AlgorithmIdentifier({ algorithm: OID.rsaSha256, parameters: null })
      : new AlgorithmIdentifier({ algorithm: OID.ecdsaSha256 });
  const csr = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: algorithm,
    signature: Uint8Array.from(signature).buffer,
  });
  const der = Buffer.from(AsnConvert.serialize(csr));
  return { pem: pem(der), der, publicKey: keys.publicKey };
}

const injected: [string, () => Extension][] = [
  ["basicConstraints CA:true", () => ext(OID.basicConstraints, new BasicConstraints({ cA: true }), true)],
  ["basicConstraints CA:true pathlen 5", () => ext(OID.basicConstraints, new BasicConstraints({ cA: true, pathLenConstraint: 5 }))],
  ["extra SAN", () => ext(OID.subjectAltName, new SubjectAlternativeName([new GeneralName({ dNSName: "admin.example.com" })]))],
  ["SAN IP", () => ext(OID.subjectAltName, new SubjectAlternativeName([new GeneralName({ iPAddress: "127.0.0.1" })]))],
  ["keyCertSign", () => ext(OID.keyUsage, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign), true)],
  ["EKU serverAuth", () => ext(OID.extKeyUsage, new ExtendedKeyUsage([OID.serverAuth]))],
  ["EKU any", () => ext(OID.extKeyUsage, new ExtendedKeyUsage([OID.anyEku]))],
  [
    "nameConstraints (raw)",
    () => new Extension({ extnID: OID.nameConstraints, critical: true, extnValue: new OctetString(Buffer.from("3000", "hex")) }),
  ],
  [
    "unknown critical",
    () => new Extension({ extnID: "1.3.6.1.4.1.99999.1", critical: true, extnValue: new OctetString(Buffer.from("0500", "hex")) }),
  ],
];

let inst: Instance;
const keyPool: Record<string, { publicKey: KeyObject; privateKey: KeyObject }> = {};

before(async () => {
  inst = await newInstance();
  // A few keys of each kind, made once: key generation is not what is under test.
  keyPool["ec-p256"] = generateKeyPairSync("ec", { namedCurve: "P-256" });
  keyPool["ec-p384"] = generateKeyPairSync("ec", { namedCurve: "P-384" });
  keyPool["ec-p521"] = generateKeyPairSync("ec", { namedCurve: "P-521" });
  keyPool["ec-secp256k1"] = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
  keyPool["rsa-1024"] = generateKeyPairSync("rsa", { modulusLength: 1024 });
  keyPool["rsa-2048"] = generateKeyPairSync("rsa", { modulusLength: 2048 });
  keyPool["rsa-3072"] = generateKeyPairSync("rsa", { modulusLength: 3072 });
  keyPool["rsa-2048-e3"] = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 });
  keyPool.ed25519 = generateKeyPairSync("ed25519");
});
after(async () => {
  await inst?.cleanup();
});

/** Keys the CSR path accepts (src/crypto/key-limits.ts, use "certificate"). */
const ACCEPTED_KEYS = new Set(["ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072", "rsa-2048-e3"]);

interface Case {
  kind: string;
  csr: string;
  publicKey?: KeyObject;
  /** true: must be issued; false: must be refused; undefined: either (a mutation may or may not survive). */
  expectIssued?: boolean;
}

function makeCase(n: number): Case {
  const base = buildCsr(keyPool["ec-p256"], { subject: [[OID.cn, "requested"]] });
  switch (n % 8) {
    case 0: {
      // Bit flips anywhere in a valid CSR: only a flip the signature does not cover may survive, with the same key.
      const der = Buffer.from(base.der);
      for (let f = 1 + int(4); f > 0; f--) der[int(der.length)] ^= 1 << int(8);
      return { kind: "bit flips", csr: pem(der), publicKey: base.publicKey };
    }
    case 1: {
      const cut = int(base.der.length);
      return { kind: "truncation", csr: pem(base.der.subarray(0, cut)), expectIssued: false };
    }
    case 2: {
      // Injected extensions, properly signed: the signature holds, so only the extension rule stands in the way.
      const chosen = Array.from({ length: 1 + int(3) }, () => pick(injected));
      const extensions = new Extensions(chosen.map(([, make]) => make()));
      const keyName = pick(["ec-p256", "rsa-2048"]);
      const csr = buildCsr(keyPool[keyName], { attributes: [attribute(OID.extensionRequest, [AsnConvert.serialize(extensions)])] });
      return { kind: `extensions: ${chosen.map(([k]) => k).join(" + ")}`, csr: csr.pem, publicKey: csr.publicKey, expectIssued: false };
    }
    case 3: {
      // Key sizes and types: the CSR path takes only what key-limits allows.
      const keyName = pick(Object.keys(keyPool));
      const csr = buildCsr(keyPool[keyName]);
      return { kind: `key ${keyName}`, csr: csr.pem, publicKey: csr.publicKey, expectIssued: ACCEPTED_KEYS.has(keyName) };
    }
    case 4: {
      // A subject that claims a role: CN/OU/O come from the request body, whatever the CSR says.
      const subject: [string, string][] = [
        [OID.o, pick(["Strongroom", "Evil Corp"])],
        [OID.ou, pick(["admin", "auditor", "peer"])],
        [OID.cn, pick(["admin1", "strongroom", "root CA"])],
      ];
      const csr = buildCsr(keyPool[pick(["ec-p256", "ec-p384", "rsa-2048"])], { subject });
      return { kind: "subject claims a role", csr: csr.pem, publicKey: csr.publicKey, expectIssued: true };
    }
    case 5: {
      // Other attributes: an empty extensionRequest and informational attributes ask for nothing; a challenge password does.
      const variant = int(3);
      const attrs =
        variant === 0
          ? [attribute(OID.extensionRequest, [AsnConvert.serialize(new Extensions())])]
          : variant === 1
            ? [attribute(OID.unstructuredName, [Uint8Array.from(Buffer.from("0c0461626364", "hex")).buffer])]
            : [attribute(OID.challengePassword, [Uint8Array.from(Buffer.from("0c0470617373", "hex")).buffer])];
      const csr = buildCsr(keyPool["ec-p256"], { attributes: attrs });
      return {
        kind: ["empty extensionRequest", "unstructuredName", "challengePassword"][variant],
        csr: csr.pem,
        publicKey: csr.publicKey,
        expectIssued: variant !== 2,
      };
    }
    case 6: {
      // Signature algorithms: SHA-1 and an algorithm that does not match the key are refused.
      const keyName = pick(["ec-p256", "rsa-2048"]);
      const variant = int(2);
      const csr = buildCsr(keyPool[keyName], variant === 0 ? { hash: "sha1" } : { wrongAlgorithm: true });
      return {
        kind: variant === 0 ? "sha1 signature" : "algorithm/key mismatch",
        csr: csr.pem,
        publicKey: csr.publicKey,
        expectIssued: false,
      };
    }
    default: {
      // Injected extension plus bit flips: the flipped copy must never be issued with the extension honoured.
      const extensions = new Extensions([pick(injected)[1]()]);
      const csr = buildCsr(keyPool["ec-p256"], { attributes: [attribute(OID.extensionRequest, [AsnConvert.serialize(extensions)])] });
      const der = Buffer.from(csr.der);
      der[int(der.length)] ^= 1 << int(8);
      return { kind: "extension + bit flip", csr: pem(der), publicKey: csr.publicKey };
    }
  }
}

async function healthWithin(ms: number): Promise<void> {
  const started = Date.now();
  const r = await inst.as.app.call("GET", "/v1/sys/health");
  assert.equal(r.status, 200, `health answered ${r.status}`);
  assert.ok(Date.now() - started < ms, `health took ${Date.now() - started} ms`);
}

test(`${CASES} mutated CSRs to POST /v1/certs (seed ${SEED.toString(16)}): no crash, no 500, no certificate beyond the request`, async () => {
  const rss0 = process.memoryUsage().rss;
  const tally = new Map<string, { issued: number; refused: number }>();
  const statuses = new Map<number, number>();
  let issued = 0;
  for (let n = 0; n < CASES; n++) {
    const c = makeCase(n);
    const role = pick(ROLES);
    const body: Record<string, unknown> = { cn: `fuzz-${n}`, role, csr: c.csr, days: 1 + int(30) };
    const ou = rand() < 0.5 ? pick(["apps", "team-a"]) : undefined;
    if (ou) body.ou = ou;
    const r = await inst.as.admin1.call("POST", "/v1/certs", body);
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    const t = tally.get(c.kind.replace(/:.*/, "")) ?? { issued: 0, refused: 0 };
    tally.set(c.kind.replace(/:.*/, ""), t);
    assert.notEqual(r.status, 500, `case ${n} (${c.kind}): 500 ${JSON.stringify(r.body?.error?.code)}`);
    if (r.status !== 201) {
      t.refused++;
      assert.equal(r.status, 400, `case ${n} (${c.kind}): status ${r.status}`);
      assert.ok(["invalid_csr", "validation"].includes(r.body?.error?.code), `case ${n}: code ${r.body?.error?.code}`);
      assert.notEqual(c.expectIssued, true, `case ${n} (${c.kind}) was refused: ${r.body?.error?.message}`);
      continue;
    }
    t.issued++;
    issued++;
    assert.notEqual(c.expectIssued, false, `case ${n} (${c.kind}) was issued`);
    // The certificate is exactly what the admin asked for: body CN/OU, the CA's O, client EKU, not a CA, no SAN.
    const cert = new X509Certificate(r.body.certificate);
    assert.equal(cert.ca, false, `case ${n}: CA certificate issued`);
    const expectedSubject = [`O=Strongroom`, ...(ou ? [`OU=${ou}`] : []), `CN=fuzz-${n}`].join("\n");
    assert.equal(cert.subject, expectedSubject, `case ${n}: subject`);
    assert.deepEqual(cert.keyUsage, [OID.clientAuth], `case ${n}: EKU`);
    assert.equal(cert.subjectAltName, undefined, `case ${n}: SAN`);
    assert.ok(cert.verify(createPublicKey(r.body.ca)), `case ${n}: not signed by the CA`);
    if (c.publicKey) assert.ok(cert.publicKey.equals(c.publicKey), `case ${n}: the certificate carries another key`);
    const extensions = AsnConvert.parse(cert.raw, Certificate).tbsCertificate.extensions ?? [];
    assert.deepEqual(
      Array.from(extensions, (e) => e.extnID),
      PROFILE_EXTENSIONS,
      `case ${n}: extensions`,
    );
    // basicConstraints is the empty SEQUENCE (cA FALSE); keyUsage is the leaf profile's, never keyCertSign/cRLSign.
    const value = (i: number) => Buffer.from(extensions[i].extnValue.buffer).toString("hex");
    assert.equal(value(0), "3000", `case ${n}: basicConstraints`);
    const leafUsage = cert.publicKey.asymmetricKeyType === "rsa" ? "030205a0" : "03020388"; // digitalSignature + keyEncipherment / keyAgreement
    assert.equal(value(1), leafUsage, `case ${n}: key usage`);
    // The role is the one in the request body, as the registry records it.
    const listed = await inst.as.admin1.call("GET", `/v1/certs?cn=fuzz-${n}`);
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.certificates.map((x: { role: string; ou: string }) => [x.role, x.ou]),
      [[role, ou ?? ""]],
      `case ${n}: registered role`,
    );
    if (n % 25 === 0) await healthWithin(2000);
  }
  await healthWithin(2000);
  const grownMb = (process.memoryUsage().rss - rss0) / 1024 / 1024;
  const summary = [...tally].map(([k, v]) => `${k}: ${v.issued} issued, ${v.refused} refused`).join("; ");
  console.log(
    `# csr-fuzz: ${CASES} cases, ${issued} issued; statuses ${JSON.stringify(Object.fromEntries(statuses))}; RSS +${grownMb.toFixed(1)} MiB; ${summary}`,
  );
  assert.ok(grownMb < 256, `RSS grew by ${grownMb.toFixed(1)} MiB`);
  // Every class of input was exercised, and some of each accepted class got through (the test is not vacuous).
  assert.ok(issued > 50, `only ${issued} certificates issued`);
  assert.ok((tally.get("extensions")?.refused ?? 0) > 20);
});
