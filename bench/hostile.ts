// `npm run bench:hostile`: a well-behaved client's latency (KMIP Get, HTTPS health) while each attack of the hostile
// suite runs, as a ratio to the same client without attack measured just before it in the same run; server RSS too.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { enm, int, struct, Tag, text } from "../src/kmip/codec/ttlv.js";
import { atExit, forkChild, installCleanup, killAll } from "./children.js";
import type { AttackKind, AttackSpec } from "./hostile-attacker.js";
import { describeKmipFailure, httpLoad, httpRequest, kmipLoad, kmipOutcome, type LoadResult, openTls, type Target } from "./kmip-load.js";
import { createRequest, getRequest, kmipMessage, responsePayloads, uidOf } from "./requests.js";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string" },
    only: { type: "string" },
    write: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  console.log(`npm run bench:hostile -- [options]
  --seconds S   measuring window per client per phase (default 4)
  --only LIST   comma-separated attacks (idle-tcp,no-cert-idle,slowloris,partial-frames,rsa-sign,rng-amplification,locate-amplification)
  --write       write the table into docs/performance.md (marked section)`);
  process.exit(0);
}
const SECONDS = Number(args.seconds ?? 4);
if (!Number.isFinite(SECONDS) || SECONDS <= 0) throw new Error("--seconds must be a positive number");

/** Each attack and its size: connections held, or request loops for the request attacks. */
const ATTACKS: { kind: AttackKind; count: number; what: string }[] = [
  { kind: "idle-tcp", count: 2000, what: "2,000 raw TCP connections that never send a byte (both ports)" },
  { kind: "no-cert-idle", count: 500, what: "500 HTTPS handshakes without a certificate, then silence" },
  { kind: "slowloris", count: 300, what: "300 KMIP connections sending a 1 MiB frame at 1 byte/s" },
  { kind: "partial-frames", count: 300, what: "300 KMIP connections each holding 1 MiB − 1 byte of a frame" },
  { kind: "rsa-sign", count: 4, what: "4 connections of back-to-back RSA-4096 Sign" },
  { kind: "rng-amplification", count: 4, what: "4 connections of 1,000 × RNG Retrieve 512 KiB per request" },
  { kind: "locate-amplification", count: 4, what: "4 connections of 1,000 × Locate (no filter) per request" },
];

const progress = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

async function kmipOk(target: Target, request: Buffer, what: string) {
  const s = await openTls(target);
  try {
    const frame = await new Promise<Buffer>((resolve, reject) => {
      const reader = new FrameReader({ maxFrameBytes: 1 << 24 });
      s.on("data", (c: Buffer) => {
        const [f] = reader.push(c);
        if (f) resolve(Buffer.from(f));
      });
      s.on("error", reject);
      s.write(request);
    });
    if (kmipOutcome(frame) !== null) throw new Error(`${what} failed: ${describeKmipFailure(frame)}`);
    return responsePayloads(frame);
  } finally {
    s.destroy();
  }
}

interface Phase {
  get: LoadResult;
  health: LoadResult;
}

interface Row {
  kind: AttackKind;
  what: string;
  base: Phase;
  attack: Phase;
  rssBefore: number;
  rssPeak: number;
  rssAfter: number;
}

const one = { connections: 1, warmupSeconds: 0.3, seconds: SECONDS };

async function measure(kmip: Target, api: Target, get: Buffer): Promise<Phase> {
  // One after the other, so that the two well-behaved clients do not load each other.
  const g = await kmipLoad(kmip, get, one);
  const h = await httpLoad(api, httpRequest("GET", "/v1/sys/health"), one);
  return { get: g, health: h };
}

const fmt = (n: number) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) : "–");
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(1)}×` : "–");

function table(rows: Row[]): string {
  const lines = [
    "| attack | Get p50 / p99 ms (ratio) | health p50 / p99 ms (ratio) | failed Get / health | server RSS MB before → peak → after |",
    "|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const g = r.attack.get;
    const h = r.attack.health;
    lines.push(
      `| ${r.kind}: ${r.what} | ${fmt(g.p50ms)} / ${fmt(g.p99ms)} (${ratio(g.p50ms, r.base.get.p50ms)} / ${ratio(g.p99ms, r.base.get.p99ms)}) | ${fmt(h.p50ms)} / ${fmt(h.p99ms)} (${ratio(h.p50ms, r.base.health.p50ms)} / ${ratio(h.p99ms, r.base.health.p99ms)}) | ${g.failed} / ${h.failed} | ${r.rssBefore} → ${r.rssPeak} → ${r.rssAfter} |`,
    );
  }
  const b = rows[0]?.base;
  if (b)
    lines.push(
      "",
      `Without attack (first baseline): Get p50/p99 ${fmt(b.get.p50ms)}/${fmt(b.get.p99ms)} ms, health ${fmt(b.health.p50ms)}/${fmt(b.health.p99ms)} ms. Ratios compare each attack with the baseline measured just before it.`,
    );
  return lines.join("\n");
}

async function main(): Promise<void> {
  installCleanup();
  const root = mkdtempSync(join(tmpdir(), "strongroom-hostile-"));
  atExit(() => rmSync(root, { recursive: true, force: true }));
  const server = forkChild("./serve.js", ["--dir", join(root, "strongroom")]);
  const sr = (await server.first) as {
    pid: number;
    apiPort: number;
    kmipPort: number;
    bundles: Record<string, { cert: string; key: string; ca: string }>;
  };
  const app = sr.bundles.app;
  const tls = { cert: readFileSync(app.cert, "utf8"), key: readFileSync(app.key, "utf8"), ca: readFileSync(app.ca, "utf8") };
  const kmip: Target = { port: sr.kmipPort, tls };
  const api: Target = { port: sr.apiPort, tls };

  // The well-behaved client's key, and the RSA-4096 key the signing attack uses (the largest size the server accepts).
  const aes = uidOf((await kmipOk(kmip, createRequest("hostile-bench-aes"), "Create"))[0]);
  await kmipOk(kmip, kmipMessage([["Activate", [text(Tag.UniqueIdentifier, aes)]]]), "Activate");
  const get = getRequest(aes);
  const pair = await kmipOk(
    kmip,
    kmipMessage([
      [
        "CreateKeyPair",
        [
          struct(
            Tag.CommonTemplateAttribute,
            struct(
              Tag.Attribute,
              text(Tag.AttributeName, "Cryptographic Algorithm"),
              enm(Tag.AttributeValue, Enum.CryptographicAlgorithm.RSA),
            ),
            struct(Tag.Attribute, text(Tag.AttributeName, "Cryptographic Length"), int(Tag.AttributeValue, 4096)),
          ),
          struct(
            Tag.PrivateKeyTemplateAttribute,
            struct(
              Tag.Attribute,
              text(Tag.AttributeName, "Cryptographic Usage Mask"),
              int(Tag.AttributeValue, Enum.CryptographicUsageMask.Sign),
            ),
          ),
          struct(
            Tag.PublicKeyTemplateAttribute,
            struct(
              Tag.Attribute,
              text(Tag.AttributeName, "Cryptographic Usage Mask"),
              int(Tag.AttributeValue, Enum.CryptographicUsageMask.Verify),
            ),
          ),
        ],
      ],
    ]),
    "CreateKeyPair RSA-4096",
  );
  const priv = String((pair[0].value as { tag: number; value: unknown }[]).find((x) => x.tag === Tag.PrivateKeyUniqueIdentifier)?.value);
  await kmipOk(kmip, kmipMessage([["Activate", [text(Tag.UniqueIdentifier, priv)]]]), "Activate RSA");

  const only = args.only ? new Set(args.only.split(",")) : null;
  const rows: Row[] = [];
  for (const a of ATTACKS.filter((x) => !only || only.has(x.kind))) {
    progress(`${a.kind}: baseline …`);
    const base = await measure(kmip, api, get);
    const rssBefore = rssMb(sr.pid);
    const attacker = forkChild("./hostile-attacker.js");
    const spec: AttackSpec = { kind: a.kind, apiPort: sr.apiPort, kmipPort: sr.kmipPort, tls, count: a.count, signKeyId: priv };
    await attacker.call({ type: "start", spec });
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssMb(sr.pid));
    }, 200);
    await sleep(1500); // let the attack build up
    progress(`${a.kind}: under attack …`);
    const attack = await measure(kmip, api, get);
    const counters = await attacker.call<Record<string, number>>({ type: "stop" });
    await attacker.close();
    clearInterval(sampler);
    await sleep(2000);
    const rssAfter = rssMb(sr.pid);
    progress(
      `  Get p99 ${fmt(base.get.p99ms)} → ${fmt(attack.get.p99ms)} ms, health p99 ${fmt(base.health.p99ms)} → ${fmt(attack.health.p99ms)} ms, RSS ${rssBefore} → ${rssPeak} → ${rssAfter} MB; attacker: ${JSON.stringify({ opened: counters.opened, closedByServer: counters.closedByServer, responses: counters.responses })}`,
    );
    rows.push({ kind: a.kind, what: a.what, base, attack, rssBefore, rssPeak, rssAfter });
  }
  await server.close();
  const report = table(rows);
  const header = `Measured by \`npm run bench:hostile\` on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ${SECONDS}s windows, one well-behaved connection per client.`;
  console.log(`\n${header}\n\n${report}\n`);
  if (args.write) {
    const path = fileURLToPath(new URL("../../docs/performance.md", import.meta.url));
    const doc = readFileSync(path, "utf8");
    const start = "<!-- bench:hostile:start -->";
    const end = "<!-- bench:hostile:end -->";
    const section = `${start}\n${header}\n\n${report}\n${end}`;
    const i = doc.indexOf(start);
    const j = doc.indexOf(end);
    writeFileSync(
      path,
      i >= 0 && j > i ? doc.slice(0, i) + section + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n## Under attack\n\n${section}\n`,
    );
    progress("docs/performance.md updated");
  }
}

main().then(
  () => {
    killAll();
    process.exit(0);
  },
  (e) => {
    process.stderr.write(`bench:hostile failed: ${(e as Error).stack ?? e}\n`);
    killAll();
    process.exit(1);
  },
);
