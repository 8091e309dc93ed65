// OASIS KMIP conformance suite: every v1.4 and v2.1 vector file (mandatory and optional) against a live server over TLS.
//
// Vectors come from $KMIP_VECTORS_DIR, default ../shared/kmip-vectors next to the repository. Without them the suite
// says so loudly and skips. One server instance per version serves all files; a file whose Names an earlier file on
// that instance already used (Names are unique on this server) gets a fresh instance. MSGENC-* files go through
// POST /kmip on the HTTPS listener in their encoding. The last line printed is `kmip vectors: N passed, M skipped (listed)`.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Instance, newInstance } from "./helpers.js";
import {
  type HttpEncoding,
  httpsTransport,
  listVectorFiles,
  loadSteps,
  namesUsed,
  type Transport,
  tlsTransport,
  type VectorFile,
  VectorRun,
} from "./kmip-vectors/harness.js";
import { docsPath, renderedDoc } from "./kmip-vectors/render-table.js";
import { SKIPPED } from "./kmip-vectors/skip-list.js";
import { requiredSuite } from "./required-suites.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const vectorsDir = resolve(process.env.KMIP_VECTORS_DIR ?? join(repoRoot, "..", "shared", "kmip-vectors"));
const files = existsSync(vectorsDir) ? listVectorFiles(vectorsDir) : [];
const only = process.env.KMIP_VECTORS_ONLY ? new RegExp(process.env.KMIP_VECTORS_ONLY) : null;

/** Without the OASIS files (they are OASIS's, kept outside the repository) the suite is skipped — never in CI. */
const missingVectors = requiredSuite(
  "KMIP conformance vectors",
  files.length === 0
    ? `no vector files at ${vectorsDir} (set KMIP_VECTORS_DIR to the directory holding v1.4/ and v2.1/ of the OASIS KMIP test cases)`
    : null,
);

const tally = { passed: 0, skipped: 0, failed: 0, instances: 0 };
const failures: string[] = [];

/** MSGENC files exercise KMIP over HTTPS in one encoding each; everything else uses the TLS port. */
function httpEncoding(f: VectorFile): HttpEncoding | null {
  if (f.id.startsWith("MSGENC-JSON-")) return "json";
  if (f.id.startsWith("MSGENC-XML-")) return "xml";
  if (f.id.startsWith("MSGENC-HTTPS-")) return "ttlv";
  return null;
}

for (const version of ["v1.4", "v2.1"]) {
  const list = files.filter((f) => f.version === version && (!only || only.test(f.id)));
  describe(`KMIP ${version} conformance vectors`, {
    skip: missingVectors || (list.length === 0 ? `no ${version} vectors at ${vectorsDir}` : false),
  }, () => {
    let inst: Instance | null = null;
    let tls: Transport | null = null;
    let names = new Set<string>();
    const instances: Instance[] = [];

    const fresh = async () => {
      tls?.close();
      if (inst) await inst.stop();
      inst = await newInstance();
      instances.push(inst);
      tally.instances++;
      tls = await tlsTransport(inst.server.kmipPort, inst.bundle("app"));
      names = new Set();
    };

    after(async () => {
      tls?.close();
      for (const i of instances) await i.cleanup();
    });

    for (const f of list) {
      const reason = SKIPPED[f.id];
      test(f.rel, async (t) => {
        const steps = loadSteps(f.path);
        const used = namesUsed(steps);
        if (!inst || used.some((n) => names.has(n))) await fresh();
        for (const n of used) names.add(n);
        const i = inst as unknown as Instance;
        const enc = httpEncoding(f);
        const transport = enc ? httpsTransport(i.url, i.bundle("app"), enc) : (tls as unknown as Transport);
        try {
          const run = new VectorRun(transport, {
            setNow: (ms) => {
              i.clock.t = ms;
            },
          });
          await run.run(steps);
          if (reason) {
            // A listed file is run too: one that has started to pass must leave the list, so the list stays true.
            assert.fail(`${f.rel} is listed as not supported (${reason}) but passes: remove it from the skip list`);
          }
          tally.passed++;
        } catch (e) {
          if (reason && !(e instanceof assert.AssertionError && /but passes/.test(e.message))) {
            // The listed, expected outcome: reported as a skip with its reason.
            tally.skipped++;
            if (!enc) {
              tls?.close();
              tls = await tlsTransport(i.server.kmipPort, i.bundle("app"));
            }
            t.skip(`listed (ran, fails as listed): ${reason}`);
            return;
          }
          tally.failed++;
          failures.push(`${f.rel}: ${(e as Error).message}`);
          // A failed file may leave the connection mid-exchange: the next file gets a new one.
          if (!enc) {
            tls?.close();
            tls = await tlsTransport(i.server.kmipPort, i.bundle("app"));
          }
          throw e;
        } finally {
          if (enc) transport.close();
        }
      });
    }
  });
}

after(() => {
  if (files.length === 0) return;
  for (const f of failures) console.log(`FAIL ${f}`);
  console.log(`(${tally.instances} server instance(s); vectors from ${vectorsDir})`);
  console.log(`kmip vectors: ${tally.passed} passed, ${tally.skipped} skipped (listed)${tally.failed ? `, ${tally.failed} failed` : ""}`);
});

test("the skip list names only vector files that exist", { skip: missingVectors }, () => {
  const ids = new Set(files.map((f) => f.id));
  assert.deepEqual(
    Object.keys(SKIPPED).filter((id) => !ids.has(id)),
    [],
  );
});

test("docs/kmip.md lists every vector file with its result (rendered from the skip list)", { skip: missingVectors }, () => {
  const doc = readFileSync(docsPath, "utf8");
  assert.equal(doc, renderedDoc(doc, files), "docs/kmip.md is out of date: run node dist/test/kmip-vectors/render-table.js --write");
});
