// Benchmark child process: runs one load job at a time for bench/run.ts (with --loadgen process), so that the load
// generator has an event loop and heap of its own, apart from the orchestrator.
import { handshakeLoad, httpLoad, kmipLoad } from "./kmip-load.js";
import type { LoadJob } from "./loadgen.js";

process.on("disconnect", () => process.exit(0));
process.on("message", (m: { id: number; type: string; job?: LoadJob }) => {
  if (m.type === "close") process.exit(0);
  const job = m.job as LoadJob;
  const run =
    job.kind === "kmip"
      ? kmipLoad(job.target, Buffer.from(job.request as Uint8Array), job.options)
      : job.kind === "http"
        ? httpLoad(job.target, Buffer.from(job.request as Uint8Array), job.options)
        : handshakeLoad(job.target, job.kind === "resume", job.options);
  run.then(
    (result) => process.send?.({ id: m.id, result }),
    (e: Error) => process.send?.({ id: m.id, error: e.message }),
  );
});
