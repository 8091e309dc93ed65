// KMIP Hash (KMIP 1.4 §4.37 and 2.x): SHA-1, SHA-2 and SHA-3 digests of Data; no key involved; one-shot or multi-part.
import { createHash, type Hash } from "node:crypto";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { bytes, find, Tag, type TtlvItem } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { hashName, optionalBytes, parseParams } from "./crypto-params.js";
import { endStream, guarded, openStream, resumeStream, type StreamState, streamStep } from "./crypto-streams.js";

const A = Enum.CryptographicAlgorithm;
const H = Enum.HashingAlgorithm;
/** 2.x lets the Cryptographic Algorithm name a SHA-3 hash. */
const SHA3_ALG: Record<number, number> = {
  [A.SHA3_224]: H.SHA3_224,
  [A.SHA3_256]: H.SHA3_256,
  [A.SHA3_384]: H.SHA3_384,
  [A.SHA3_512]: H.SHA3_512,
};

class HashStream implements StreamState {
  constructor(readonly h: Hash) {}
  dispose(): void {}
}

export const hash: KmipOperation = {
  name: "Hash",
  async handle(c) {
    const step = streamStep(c);
    const data = optionalBytes(c, Tag.Data, "Data");
    if (step.kind === "continue") {
      const s = resumeStream<HashStream>(c, "Hash", null, step.correlation);
      return guarded(c, step.correlation, (): TtlvItem[] => {
        if (data) s.h.update(data);
        if (!step.final) return [bytes(Tag.CorrelationValue, step.correlation)];
        const digest = s.h.digest();
        endStream(c, step.correlation);
        return [bytes(Tag.Data, digest)];
      });
    }
    // "Cryptographic Parameters … (Hashing Algorithm) corresponding to the particular hash method requested" is required.
    const p =
      parseParams(find(c.payload, Tag.CryptographicParameters)) ?? fail("validation", { detail: "Cryptographic Parameters missing" });
    const algo = hashName(p.hash ?? (p.algorithm !== undefined ? SHA3_ALG[p.algorithm] : undefined));
    if (!data) return fail("validation", { detail: "Data missing" });
    c.op.detail = { ...c.op.detail, algorithm: algo };
    const h = createHash(algo).update(data);
    if (step.kind === "start") return [bytes(Tag.CorrelationValue, openStream(c, "Hash", null, new HashStream(h)))];
    return [bytes(Tag.Data, h.digest())];
  },
};
