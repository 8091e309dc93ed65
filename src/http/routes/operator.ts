// REST routes for operator actions on the master key and KEKs: rekey, rotate-master, rotate-kek, seal (admin only).
import { route } from "../route.js";
import { int, obj, opt, str } from "../schemas.js";
import { authCtx } from "./common.js";

const share = str({ min: 1, max: 600, description: "one current unseal share (srs1-…)" });
const secret = (description: string) => str({ min: 1, max: 1024, description });

export const operatorRoutes = [
  route({
    method: "POST",
    path: "/v1/sys/rekey/init",
    summary: "Start a rekey: new Shamir shares (and optionally a new count and threshold) once M current shares are submitted.",
    auth: "cert",
    action: "sys.rekey.init",
    body: obj({
      shares: int({ min: 1, max: 255, description: "number of new shares" }),
      threshold: int({ min: 1, max: 255, description: "new shares needed to unseal" }),
    }),
    async handler(ctx, b) {
      return { body: await ctx.services.operator.rekeyInit(authCtx(ctx), b) };
    },
  }),
  route({
    method: "GET",
    path: "/v1/sys/rekey",
    summary: "The rekey in progress: nonce, new shares/threshold, current shares submitted and required.",
    auth: "cert",
    action: "sys.rekey.status",
    async handler(ctx) {
      return { body: await ctx.services.operator.rekeyStatus(authCtx(ctx)) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/sys/rekey/update",
    summary: "Submit one current share to the rekey named by nonce. The call that reaches the current threshold gets the new shares, once.",
    auth: "cert",
    action: "sys.rekey.update",
    body: obj({ nonce: str({ min: 1, max: 64, description: "the rekey's nonce" }), share }),
    async handler(ctx, b) {
      return { body: await ctx.services.operator.rekeyUpdate(authCtx(ctx), b) };
    },
  }),
  route({
    method: "DELETE",
    path: "/v1/sys/rekey",
    summary: "Cancel the rekey in progress; submitted shares are forgotten and the current shares stay valid.",
    auth: "cert",
    action: "sys.rekey.cancel",
    async handler(ctx) {
      return { body: await ctx.services.operator.rekeyCancel(authCtx(ctx)) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/sys/rotate-master",
    summary:
      "New master key, keyring re-wrapped (no data key is re-encrypted). passphrase seal: passphrase and newPassphrase; file seal: no body; pkcs11 seal: newKeyLabel.",
    auth: "cert",
    action: "sys.rotate-master",
    body: obj({
      passphrase: opt(secret("passphrase seal: the current passphrase")),
      newPassphrase: opt(secret("passphrase seal: the new passphrase (at least 12 characters)")),
      newKeyLabel: opt(
        str({ min: 1, max: 128, pattern: /^[\x21-\x7e][\x20-\x7e]*$/, description: "pkcs11 seal: label of the new HSM key" }),
      ),
      pin: opt(secret("pkcs11 seal: the token PIN, when the server has no STRONGROOM_PKCS11_PIN")),
    }),
    optionalBody: true,
    async handler(ctx, b) {
      return { body: await ctx.services.operator.rotateMaster(authCtx(ctx), b) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/sys/rotate-kek",
    summary: "A new KEK becomes current for new writes; a background job re-wraps every object onto it. Replies with the progress.",
    auth: "cert",
    action: "sys.rotate-kek",
    async handler(ctx) {
      return { status: 202, body: await ctx.services.operator.rotateKek(authCtx(ctx)) };
    },
  }),
  route({
    method: "GET",
    path: "/v1/sys/rotate-kek",
    summary: "KEK rotation progress: state, current KEK, KEK ids, done/total.",
    auth: "cert",
    action: "sys.rotate-kek.status",
    async handler(ctx) {
      return { body: await ctx.services.operator.rotateKekStatus(authCtx(ctx)) };
    },
  }),
  route({
    method: "POST",
    path: "/v1/sys/seal",
    summary: "Seal the server: the master key, KEKs and cached key material are zeroed; only health and unseal are served until unsealed.",
    auth: "cert",
    action: "sys.seal",
    async handler(ctx) {
      return { body: await ctx.services.operator.seal(authCtx(ctx)) };
    },
  }),
];
