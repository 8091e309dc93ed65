// Worker thread of offload.ts: runs RSA private encrypt/decrypt for the main thread and zeroes its copy of the result.
import { privateDecrypt, privateEncrypt } from "node:crypto";
import { parentPort } from "node:worker_threads";
import type { RsaPrivateJob } from "./offload.js";

parentPort?.on("message", (m: RsaPrivateJob & { id: number }) => {
  let out: Buffer | null = null;
  try {
    const opts = { key: m.key, padding: m.padding, oaepHash: m.oaepHash, oaepLabel: m.oaepLabel };
    out = m.fn === "decrypt" ? privateDecrypt(opts, m.data) : privateEncrypt(opts, m.data);
    parentPort?.postMessage({ id: m.id, out });
  } catch {
    parentPort?.postMessage({ id: m.id, error: true });
  } finally {
    // postMessage copied the bytes; a decryption result may be key material.
    out?.fill(0);
    if (m.data && typeof (m.data as Buffer).fill === "function") (m.data as Buffer).fill(0);
  }
});
