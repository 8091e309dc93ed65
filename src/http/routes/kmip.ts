// POST /kmip: KMIP over HTTPS (TTLV, KMIP JSON or KMIP XML by content type), answered in the same encoding.
import type { KmipEncoding } from "../../kmip/handle-kmip.js";
import { route } from "../route.js";
import { authCtx } from "./common.js";

const ENCODINGS: Record<string, KmipEncoding> = {
  "application/octet-stream": "ttlv",
  "application/json": "json",
  "text/xml": "xml",
  "application/xml": "xml",
};

export const kmipRoutes = [
  route({
    method: "POST",
    path: "/kmip",
    summary:
      "KMIP request message (TTLV as application/octet-stream, KMIP JSON as application/json, KMIP XML as text/xml); the response uses the same encoding.",
    auth: "cert",
    whileSealed: true,
    action: "kmip.message",
    rawBody: { contentTypes: Object.keys(ENCODINGS) },
    async handler(ctx, b: unknown) {
      const { contentType, bytes } = b as { contentType: string; bytes: Buffer };
      const out = await ctx.services.kmip(authCtx(ctx), bytes, ENCODINGS[contentType]);
      return { body: null, raw: { bytes: out.bytes, contentType, sent: out.release } };
    },
  }),
];
