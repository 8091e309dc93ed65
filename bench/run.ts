// The benchmark suite (`npm run bench`): Strongroom, the machine's ceiling (bare TLS / HTTPS responders) and PyKMIP,
// each in its own process, driven by the same load generator; prints a table, optionally writes docs/performance.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { findAll, Tag } from "../src/kmip/codec/ttlv.js";
import { atExit, type Child, forkChild, installCleanup, killAll, ownIds } from "./children.js";
import {
  describeKmipFailure,
  httpOnce,
  httpRequest,
  kmipOutcome,
  type LoadOptions,
  type LoadResult,
  openTls,
  type Target,
} from "./kmip-load.js";
import { LoadGenerator, type LoadJob } from "./loadgen.js";
import { CpuAccount, fsyncLatency } from "./machine.js";
import { type PyKmip, pykmipInstalled, startPyKmip } from "./pykmip.js";
import { formatReport, type Report, type Row, writeDocs } from "./report.js";
import {
  activateRequest,
  createBatch,
  createRequest,
  encryptRequest,
  getRequest,
  locateRequest,
  responsePayloads,
  uidOf,
} from "./requests.js";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    write: { type: "boolean", default: false },
    connections: { type: "string" },
    seconds: { type: "string" },
    warmup: { type: "string" },
    rounds: { type: "string" },
    keys: { type: "string" },
    loadgen: { type: "string" },
    "no-pykmip": { type: "boolean", default: false },
    only: { type: "string" },
    profile: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (args.help) {
  console.log(`npm run bench -- [options]
  --quick            short windows, 10,000 keys for Locate (under a minute)
  --write            write the results into docs/performance.md (marked section)
  --connections N    concurrent connections per load run (default 8)
  --seconds S        measuring window per run (quick 1, full 5)
  --warmup S         warm-up per run before the window (quick 0.3, full 1)
  --rounds R         repeat every Strongroom/ceiling/PyKMIP set R times, report the best (quick 1, full 2)
  --keys N           keys present for the Locate run (quick 10000, full 100000)
  --loadgen MODE     "process" (default: load generator in its own child process) or "inline"
  --no-pykmip        skip the PyKMIP comparison
  --profile DIR      run the Strongroom server under node --cpu-prof and write its .cpuprofile into DIR
  --only IDS         run only these rows (comma-separated: get,cbc,gcm,create,locate,restEncrypt,restDecrypt,tlsFull,tlsResume)`);
  process.exit(0);
}

const quick = args.quick === true;
const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
const CONNECTIONS = num(args.connections, 8);
const OPTIONS: LoadOptions = {
  connections: CONNECTIONS,
  seconds: num(args.seconds, quick ? 1 : 5),
  warmupSeconds: num(args.warmup, quick ? 0.3 : 1),
};
const ROUNDS = num(args.rounds, quick ? 1 : 2);
const KEYS = num(args.keys, quick ? 10_000 : 100_000);
const LOADGEN = (args.loadgen ?? "process") as "process" | "inline";
for (const [k, v] of Object.entries({ connections: CONNECTIONS, seconds: OPTIONS.seconds, rounds: ROUNDS, keys: KEYS })) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k} must be a positive number`);
}
if (LOADGEN !== "process" && LOADGEN !== "inline") throw new Error("--loadgen must be process or inline");

const progress = (s: string) => process.stderr.write(`${s}\n`);

/** One request, one response frame, on a fresh or given connection (setup and checks only). */
async function kmipCall(target: Target, request: Buffer): Promise<Buffer> {
  const s = await openTls(target);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const reader = new FrameReader({ maxFrameBytes: 1 << 24 });
      s.on("data", (c: Buffer) => {
        const [f] = reader.push(c);
        if (f) resolve(Buffer.from(f));
      });
      s.on("error", reject);
      s.on("close", () => reject(new Error("connection closed before a response")));
      s.write(request);
    });
  } finally {
    s.destroy();
  }
}

/** Sends `request`, requires every batch item to succeed, returns the response frame and its payloads. */
async function kmipOk(target: Target, request: Buffer, what: string) {
  const frame = await kmipCall(target, request);
  if (kmipOutcome(frame) !== null) throw new Error(`${what} failed: ${describeKmipFailure(frame)}`);
  return { frame, payloads: responsePayloads(frame) };
}

/** Creates `total` named keys with batched KMIP Create messages over `connections` pipelined connections. */
async function populate(target: Target, total: number, batch: number, connections: number): Promise<number> {
  const t0 = Date.now();
  let next = 0;
  let done = 0;
  let lastReport = t0;
  const loop = async () => {
    const s = await openTls(target);
    const reader = new FrameReader({ maxFrameBytes: 1 << 24 });
    const frames: Buffer[] = [];
    let wake: (() => void) | null = null;
    s.on("data", (c: Buffer) => {
      for (const f of reader.push(c)) frames.push(Buffer.from(f));
      wake?.();
    });
    try {
      while (next < total) {
        const from = next;
        next = Math.min(total, next + batch);
        const names = Array.from({ length: next - from }, (_, i) => locName(from + i));
        s.write(createBatch(names));
        while (frames.length === 0) await new Promise<void>((r) => (wake = r));
        wake = null;
        const frame = frames.shift() as Buffer;
        if (kmipOutcome(frame) !== null) throw new Error(`populating keys failed: ${describeKmipFailure(frame)}`);
        done += names.length;
        if (Date.now() - lastReport > 5000) {
          lastReport = Date.now();
          progress(`  … ${done.toLocaleString("en-US")} keys (${Math.round(done / ((Date.now() - t0) / 1000))}/s)`);
        }
      }
    } finally {
      s.destroy();
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  return (Date.now() - t0) / 1000;
}

const locName = (i: number) => `bench-loc-${String(i).padStart(7, "0")}`;

interface Subject {
  label: string;
  /** What the ceiling must answer while this row runs against it. */
  canned?: { kmip?: Buffer; http?: { headers: Record<string, string>; body: Buffer } };
  strongroom: LoadJob;
  ceiling?: LoadJob;
  pykmip?: LoadJob;
  pykmipNote?: string;
  /** Request and response sizes on the wire (TTLV frame, or HTTP message with headers). */
  bytes?: string;
}

async function main(): Promise<void> {
  installCleanup();
  const started = Date.now();
  const root = mkdtempSync(join(tmpdir(), "strongroom-bench-"));
  atExit(() => rmSync(root, { recursive: true, force: true }));
  const children: Child[] = [];
  let pykmip: PyKmip | null = null;
  const loadgen = new LoadGenerator(LOADGEN);
  try {
    progress(
      `Strongroom benchmark (${quick ? "quick" : "full"}): ${CONNECTIONS} connections, ${OPTIONS.warmupSeconds}s warm-up + ${OPTIONS.seconds}s window, ${ROUNDS} round(s), load generator ${LOADGEN === "process" ? "in its own process" : "in the orchestrator"}`,
    );
    const fsyncBefore = fsyncLatency(root);
    const cpu = new CpuAccount(ownIds);
    cpu.start();
    // --- processes: Strongroom (init + start), the ceiling responders, PyKMIP.
    const server = forkChild(
      "./serve.js",
      ["--dir", join(root, "strongroom")],
      args.profile ? ["--cpu-prof", "--cpu-prof-dir", args.profile] : [],
    );
    children.push(server);
    const sr = (await server.first) as {
      apiPort: number;
      kmipPort: number;
      bundles: Record<string, { cert: string; key: string; ca: string }>;
      tls: { ca: string; cert: string; key: string };
    };
    const app = sr.bundles.app;
    const appTls = { cert: readFileSync(app.cert), key: readFileSync(app.key), ca: readFileSync(app.ca) };
    const ceilingChild = forkChild("./ceiling.js");
    children.push(ceilingChild);
    const ceiling = await ceilingChild.call<{ kmipPort: number; httpsPort: number }>({ type: "start", tls: sr.tls });
    const T = {
      srKmip: { port: sr.kmipPort, tls: appTls },
      srApi: { port: sr.apiPort, tls: appTls },
      ceilKmip: { port: ceiling.kmipPort, tls: appTls },
      ceilHttps: { port: ceiling.httpsPort, tls: appTls },
    };
    let pyTarget: Target | null = null;
    let pykmipSkipped: string | null = null;
    if (args["no-pykmip"]) pykmipSkipped = "--no-pykmip given";
    else if (!pykmipInstalled()) pykmipSkipped = "PyKMIP (Debian python3-pykmip) is not installed";
    else {
      pykmip = await startPyKmip(join(root, "pykmip"), sr.tls.ca);
      pyTarget = { port: pykmip.port, tls: { ...appTls, ca: pykmip.ca } };
    }
    if (pykmipSkipped) progress(`*** ${pykmipSkipped}: the PyKMIP ratios are skipped ***`);
    progress(`servers up after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // --- fixtures: a 256-bit AES key (named, active) in Strongroom and in PyKMIP; canned responses for the ceiling.
    const data = Buffer.alloc(64, 0x5a);
    const srKey = uidOf((await kmipOk(T.srKmip, createRequest("bench-key"), "Strongroom Create")).payloads[0]);
    await kmipOk(T.srKmip, activateRequest(srKey), "Strongroom Activate");
    const req = {
      get: getRequest(srKey),
      cbc: encryptRequest(srKey, "cbc", data),
      gcm: encryptRequest(srKey, "gcm", data),
      create: createRequest(),
    };
    const canned = {
      get: (await kmipOk(T.srKmip, req.get, "Strongroom Get")).frame,
      cbc: (await kmipOk(T.srKmip, req.cbc, "Strongroom Encrypt CBC")).frame,
      gcm: (await kmipOk(T.srKmip, req.gcm, "Strongroom Encrypt GCM")).frame,
      create: (await kmipOk(T.srKmip, req.create, "Strongroom Create")).frame,
    };
    let py: Record<"get" | "cbc" | "gcm" | "create", Buffer> | null = null;
    if (pyTarget) {
      const pyKey = uidOf((await kmipOk(pyTarget, createRequest("bench-key"), "PyKMIP Create")).payloads[0]);
      await kmipOk(pyTarget, activateRequest(pyKey), "PyKMIP Activate");
      py = {
        get: getRequest(pyKey),
        cbc: encryptRequest(pyKey, "cbc", data),
        gcm: encryptRequest(pyKey, "gcm", data),
        create: createRequest(),
      };
      for (const k of ["get", "cbc", "gcm", "create"] as const) await kmipOk(pyTarget, py[k], `PyKMIP ${k}`);
    }

    // REST: encrypt once to get a ciphertext to decrypt; the ceiling replays Strongroom's own headers and bodies.
    const rest: { encrypt: Buffer; decrypt: Buffer } = {
      encrypt: httpRequest("POST", "/v1/keys/bench-key/encrypt", JSON.stringify({ plaintext: data.toString("base64") })),
      decrypt: Buffer.alloc(0) as Buffer,
    };
    const api = await openTls(T.srApi);
    const encRes = await httpOnce(api, rest.encrypt);
    if (encRes.status !== 200) throw new Error(`REST encrypt failed: HTTP ${encRes.status} ${encRes.body}`);
    const { ciphertext } = JSON.parse(encRes.body.toString()) as { ciphertext: string };
    rest.decrypt = httpRequest("POST", "/v1/keys/bench-key/decrypt", JSON.stringify({ ciphertext }));
    const decRes = await httpOnce(api, rest.decrypt);
    const plain = JSON.parse(decRes.body.toString()) as { plaintext?: string };
    if (decRes.status !== 200 || plain.plaintext !== data.toString("base64")) throw new Error(`REST decrypt failed: HTTP ${decRes.status}`);
    api.destroy();
    if (process.env.BENCH_DEBUG) progress(`REST encrypt response head:\n${encRes.head}\nbody ${encRes.body}`);
    const cannedHttp = (head: string, body: Buffer) => ({
      headers: Object.fromEntries(
        head
          .split("\r\n")
          .slice(1)
          .map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()])
          .filter(([k]) => !["date", "connection", "keep-alive", "content-length", "transfer-encoding"].includes(k)),
      ),
      body,
    });

    // --- keys for Locate (timed).
    progress(
      `creating ${KEYS.toLocaleString("en-US")} named keys for Locate (batched KMIP Create, 100 per message, ${CONNECTIONS} connections) …`,
    );
    const populateSeconds = await populate(T.srKmip, KEYS, 100, CONNECTIONS);
    progress(`  ${KEYS.toLocaleString("en-US")} keys in ${populateSeconds.toFixed(1)} s (${Math.round(KEYS / populateSeconds)}/s)`);
    const locate = locateRequest(locName(Math.floor(KEYS / 2)));
    const located = await kmipOk(T.srKmip, locate, "Strongroom Locate");
    const found = findAll(located.payloads[0], Tag.UniqueIdentifier).length;
    if (found !== 1) throw new Error(`Locate by name found ${found} objects, expected 1`);

    // --- the rows.
    const o = OPTIONS;
    const kmipRow = (label: string, r: Buffer, cannedFrame: Buffer, pyReq?: Buffer): Subject => ({
      label,
      canned: { kmip: cannedFrame },
      bytes: `${r.length} B → ${cannedFrame.length} B`,
      strongroom: { kind: "kmip", target: T.srKmip, request: r, options: o },
      ceiling: { kind: "kmip", target: T.ceilKmip, request: r, options: o },
      ...(pyReq && pyTarget ? { pykmip: { kind: "kmip", target: pyTarget, request: pyReq, options: o } } : {}),
    });
    const subjects: Record<string, Subject> = {
      get: kmipRow("KMIP Get, AES-256 key", req.get, canned.get, py?.get),
      cbc: kmipRow("KMIP Encrypt 64 B, AES-CBC", req.cbc, canned.cbc, py?.cbc),
      gcm: kmipRow("KMIP Encrypt 64 B, AES-GCM", req.gcm, canned.gcm, py?.gcm),
      create: kmipRow("KMIP Create AES-256 (durable)", req.create, canned.create, py?.create),
      locate: {
        ...kmipRow(`KMIP Locate by name, ${KEYS.toLocaleString("en-US")} keys`, locate, located.frame),
        pykmipNote: "not measured",
      },
      restEncrypt: {
        label: "REST encrypt 64 B (HTTPS keep-alive)",
        canned: { http: cannedHttp(encRes.head, encRes.body) },
        bytes: `${rest.encrypt.length} B → ${encRes.head.length + 4 + encRes.body.length} B`,
        strongroom: { kind: "http", target: T.srApi, request: rest.encrypt, options: o },
        ceiling: { kind: "http", target: T.ceilHttps, request: rest.encrypt, options: o },
        pykmipNote: "no REST API",
      },
      restDecrypt: {
        label: "REST decrypt 64 B (HTTPS keep-alive)",
        canned: { http: cannedHttp(decRes.head, decRes.body) },
        bytes: `${rest.decrypt.length} B → ${decRes.head.length + 4 + decRes.body.length} B`,
        strongroom: { kind: "http", target: T.srApi, request: rest.decrypt, options: o },
        ceiling: { kind: "http", target: T.ceilHttps, request: rest.decrypt, options: o },
        pykmipNote: "no REST API",
      },
      tlsFull: {
        label: "New TLS connections/s, full handshake",
        strongroom: { kind: "handshake", target: T.srKmip, options: o },
        ceiling: { kind: "handshake", target: T.ceilKmip, options: o },
        pykmipNote: "not measured",
      },
      tlsResume: {
        label: "New TLS connections/s, resumed session",
        strongroom: { kind: "resume", target: T.srKmip, options: o },
        ceiling: { kind: "resume", target: T.ceilKmip, options: o },
        pykmipNote: "not measured",
      },
    };
    if (!py) for (const k of ["get", "cbc", "gcm", "create"]) subjects[k].pykmipNote = pykmipSkipped ?? undefined;

    const rows: Row[] = [];
    const only = args.only?.split(",");
    for (const [id, s] of Object.entries(subjects)) {
      if (only && !only.includes(id)) continue;
      const runs: Record<"strongroom" | "ceiling" | "pykmip", LoadResult[]> = { strongroom: [], ceiling: [], pykmip: [] };
      for (let round = 0; round < ROUNDS; round++) {
        runs.strongroom.push(await loadgen.run(s.strongroom));
        if (s.ceiling) {
          if (s.canned?.kmip) await ceilingChild.call({ type: "kmip", response: s.canned.kmip });
          if (s.canned?.http) await ceilingChild.call({ type: "http", ...s.canned.http });
          runs.ceiling.push(await loadgen.run(s.ceiling));
        }
        if (s.pykmip) runs.pykmip.push(await loadgen.run(s.pykmip));
      }
      const best = (rs: LoadResult[]) => combine(rs);
      const row: Row = {
        id,
        label: s.label,
        strongroom: best(runs.strongroom) as LoadResult,
        ceiling: best(runs.ceiling),
        pykmip: best(runs.pykmip),
        pykmipNote: s.pykmipNote,
        bytes: s.bytes,
      };
      rows.push(row);
      progress(
        `  ${s.label.padEnd(44)} ${Math.round(row.strongroom.rate).toString().padStart(7)}/s` +
          (row.ceiling ? `  ceiling ${Math.round(row.ceiling.rate)}/s` : "") +
          (row.pykmip ? `  PyKMIP ${Math.round(row.pykmip.rate)}/s` : "") +
          (row.strongroom.failed + (row.ceiling?.failed ?? 0) + (row.pykmip?.failed ?? 0) > 0
            ? `  FAILED ${row.strongroom.failed}/${row.ceiling?.failed ?? 0}/${row.pykmip?.failed ?? 0}: ${row.strongroom.firstFailure ?? row.ceiling?.firstFailure ?? row.pykmip?.firstFailure}`
            : ""),
      );
    }

    const fsyncAfter = fsyncLatency(root);
    const others = cpu.othersCores();
    const report: Report = {
      mode: quick ? "quick" : "full",
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
      date: new Date().toISOString().slice(0, 10),
      machine: {
        cores: cpus().length,
        model: cpus()[0]?.model.trim() ?? "unknown",
        node: process.version,
        os: `${process.platform} ${release()}`,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        fsync: { before: fsyncBefore, after: fsyncAfter },
        othersCores: others,
      },
      options: { ...OPTIONS, rounds: ROUNDS, keys: KEYS, loadgen: LOADGEN },
      populate: { keys: KEYS, seconds: populateSeconds },
      pykmip: pykmipSkipped ? { skipped: pykmipSkipped } : { skipped: null },
      rows,
      totalSeconds: (Date.now() - started) / 1000,
    };
    const text = formatReport(report);
    console.log(`\n${text}`);
    if (args.write) {
      const docs = fileURLToPath(new URL("../../docs/performance.md", import.meta.url));
      writeFileSync(docs, writeDocs(readFileSync(docs, "utf8"), report));
      progress(`wrote ${docs}`);
    }
    const failed = rows.reduce((n, r) => n + r.strongroom.failed + (r.ceiling?.failed ?? 0) + (r.pykmip?.failed ?? 0), 0);
    if (failed > 0) {
      progress(`*** ${failed} requests failed: this run is not a valid benchmark ***`);
      process.exitCode = 1;
    }
  } finally {
    await loadgen.close().catch(() => undefined);
    pykmip?.stop();
    for (const c of children.reverse()) await c.close().catch(() => undefined);
    killAll(); // and removes the temporary directory
  }
}

/** Best round by rate (noise on a shared machine only ever slows a run down); failures of every round are kept. */
function combine(rs: LoadResult[]): LoadResult | undefined {
  if (rs.length === 0) return undefined;
  const best = rs.reduce((a, b) => (b.rate > a.rate ? b : a));
  const failed = rs.reduce((n, r) => n + r.failed, 0);
  const firstFailure = rs.find((r) => r.firstFailure)?.firstFailure;
  return { ...best, failed, ...(firstFailure ? { firstFailure } : {}) };
}

main().catch((e) => {
  console.error(e);
  killAll();
  process.exit(1);
});
