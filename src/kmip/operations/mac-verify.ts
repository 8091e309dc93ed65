// KMIP MAC Verify (KMIP 1.4 §4.34 and 2.x): recomputes an HMAC or AES-CMAC and compares in constant time → Validity Indicator.
import { verifyMac } from "../../crypto/mac.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { enm, Tag } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { uidItem } from "./common.js";
import { effectiveParams, optionalBytes, symmetricSecret, useKey } from "./crypto-params.js";
import { runBuffered, streamStep } from "./crypto-streams.js";
import { macAlgorithm, macInput } from "./mac.js";

export const macVerify: KmipOperation = {
  name: "MACVerify",
  async handle(c) {
    const step = streamStep(c);
    // MAC verification processes: Active, Deactivated or Compromised, with MAC Verify usage.
    const u = await useKey(c, "hmac", "MACVerify", "process");
    const key = symmetricSecret(u, "MACVerify");
    const given = optionalBytes(c, Tag.MACData, "MAC Data");
    const last = step.kind === "one-shot" || (step.kind === "continue" && step.final);
    if (last && !given) fail("validation", { detail: "MAC Data missing" });
    return runBuffered(
      c,
      "MACVerify",
      u.id,
      step,
      macInput(c, step),
      () => macAlgorithm(u, effectiveParams(c, u.obj)),
      (alg, all) => {
        const valid = verifyMac(key, alg, all, given as Buffer);
        return [uidItem(u.id), enm(Tag.ValidityIndicator, valid ? Enum.ValidityIndicator.Valid : Enum.ValidityIndicator.Invalid)];
      },
      [uidItem(u.id)],
    );
  },
};
