// Runs a load job in this process or in the load generator child process (bench/loadgen-worker.ts).
import { type Child, forkChild } from "./children.js";
import { handshakeLoad, httpLoad, kmipLoad, type LoadOptions, type LoadResult, type Target } from "./kmip-load.js";

export interface LoadJob {
  kind: "kmip" | "http" | "handshake" | "resume";
  target: Target;
  request?: Buffer;
  options: LoadOptions;
}

export class LoadGenerator {
  #worker: Child | null = null;

  constructor(readonly mode: "inline" | "process") {}

  async run(job: LoadJob): Promise<LoadResult> {
    if (this.mode === "inline") {
      if (job.kind === "kmip") return kmipLoad(job.target, job.request as Buffer, job.options);
      if (job.kind === "http") return httpLoad(job.target, job.request as Buffer, job.options);
      return handshakeLoad(job.target, job.kind === "resume", job.options);
    }
    this.#worker ??= forkChild("./loadgen-worker.js");
    const r = await this.#worker.call<{ result: LoadResult }>({ type: "run", job });
    return r.result;
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    this.#worker = null;
  }
}
