// KMIP Signature Verify (KMIP 1.4 §4.32 and 2.x): checks RSA-PSS, RSA PKCS#1 v1.5 and ECDSA signatures → Validity Indicator.
import { verifyWith } from "../../crypto/signature.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { enm, Tag } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { uidItem } from "./common.js";
import { effectiveParams, optionalBytes, publicKeyOf, useKey } from "./crypto-params.js";
import { runBuffered, streamStep } from "./crypto-streams.js";
import { signInput, sigScheme } from "./sign.js";

export const signatureVerify: KmipOperation = {
  name: "SignatureVerify",
  async handle(c) {
    const step = streamStep(c);
    // Verifying processes: Active, Deactivated or Compromised, with Verify usage; a Public Key
    // object or the public half of a Private Key object.
    const u = await useKey(c, "verify", "Verify", "process");
    const pub = publicKeyOf(u, "SignatureVerify");
    const input = signInput(c, step);
    const signature = optionalBytes(c, Tag.SignatureData, "Signature Data");
    const last = step.kind === "one-shot" || (step.kind === "continue" && step.final);
    if (last && !signature) fail("validation", { detail: "Signature Data missing" });
    return runBuffered(
      c,
      "SignatureVerify",
      u.id,
      step,
      input.data,
      () => sigScheme(effectiveParams(c, u.obj), pub),
      (s, all) => {
        const valid = verifyWith(pub, s, all, input.prehashed, signature as Buffer);
        return [uidItem(u.id), enm(Tag.ValidityIndicator, valid ? Enum.ValidityIndicator.Valid : Enum.ValidityIndicator.Invalid)];
      },
      [uidItem(u.id)],
    );
  },
};
