// In-process profile harness: the KMIP listener's per-request work (identify, KmipHandler.handle) without TLS or a load
// generator, so that `node --cpu-prof dist/bench/inproc.js` shows only what the server itself spends per request.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { identify } from "../src/auth/identity.js";
import { initInstance } from "../src/init.js";
import { createLogger } from "../src/logger.js";
import { startServer } from "../src/server.js";
import { kmipOutcome } from "./kmip-load.js";
import { activateRequest, createRequest, encryptRequest, getRequest, responsePayloads, uidOf } from "./requests.js";

const { values } = parseArgs({
  options: {
    op: { type: "string", default: "get" },
    seconds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "8" },
  },
});
const quiet = createLogger(process.stderr, { level: "error" });
const dir = mkdtempSync(join(tmpdir(), "strongroom-inproc-"));
try {
  const init = await initInstance({ dir, seal: "file", hosts: ["localhost"], apiPort: 0, kmipPort: 0, profile: "development" });
  const server = await startServer({ dir, address: "127.0.0.1", apiPort: 0, kmipPort: 0, log: quiet });
  const app = server.app;
  const cert = new X509Certificate(readFileSync(init.bundles.app.cert));
  const cn = /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? "";
  const peer = { serial: cert.serialNumber, cn, ou: /OU=([^\n,]+)/.exec(cert.subject)?.[1] ?? "" };
  const call = async (frame: Buffer) => {
    const auth = { actor: await identify(app.store, peer, "127.0.0.1", app.clock()), requestId: "bench" };
    return server.kmipHandler.handle(auth, frame, "ttlv");
  };
  const uid = uidOf(responsePayloads(await call(createRequest("inproc-key")))[0]);
  await call(activateRequest(uid));
  const requests: Record<string, Buffer> = {
    get: getRequest(uid),
    gcm: encryptRequest(uid, "gcm", Buffer.alloc(64, 1)),
    cbc: encryptRequest(uid, "cbc", Buffer.alloc(64, 1)),
    create: createRequest(),
  };
  const req = requests[values.op as string];
  if (!req) throw new Error(`--op must be one of ${Object.keys(requests).join(", ")}`);
  const until = Date.now() + Number(values.seconds) * 1000;
  let done = 0;
  const worker = async () => {
    while (Date.now() < until) {
      const res = await call(req);
      if (kmipOutcome(res) !== null) throw new Error("request failed");
      done++;
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${values.op}: ${Math.round(done / s)}/s in-process (${values.concurrency} concurrent, ${s.toFixed(1)} s)`);
  await server.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
