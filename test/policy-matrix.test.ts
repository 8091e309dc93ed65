// The key-use policy matrix: every rule of src/keys/key-use.ts driven through REST and KMIP on the same key, with the
// same outcome and the same error code on both (the KMIP Result Reason is the one the registry gives that code).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ERRORS, type ErrorCode } from "../src/errors/registry.js";
import { enumValue } from "../src/kmip/codec/names.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { bool, bytes, dateTime, enm, find, int, long, struct, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";
import { type Client, client, type Instance, newInstance, type Response } from "./helpers.js";
import { KmipClient, type KmipResult } from "./kmip-client.js";

const V21: [number, number] = [2, 1];
const U = { Encrypt: 0x4, Decrypt: 0x8, WrapKey: 0x10 };
const b64 = (b: Buffer | string) => Buffer.from(b).toString("base64");
const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const gcm = () => struct(Tag.CryptographicParameters, enm(Tag.BlockCipherMode, Enum.BlockCipherMode.GCM), int(Tag.TagLength, 16));

/** The KMIP 2.x Result Reason the registry gives `code` — the mapping the server itself uses. */
const reasonOf = (code: ErrorCode): number | undefined => enumValue(Tag.ResultReason, ERRORS[code].kmip2);

/** An expected outcome: allowed, one code on both transports, or (concealment) REST's and KMIP's "not found". */
type Expect = "ok" | ErrorCode | { rest: ErrorCode; kmip: ErrorCode };

describe("key-use policy: REST and KMIP decide alike", () => {
  let i: Instance;
  const rest = {} as Record<"owner" | "listed" | "other" | "admin" | "auditor", Client>;
  const kmip = {} as Record<keyof typeof rest, KmipClient>;
  let n = 0;

  before(async () => {
    i = await newInstance();
    const tls: Record<string, { cert: string; key: string; ca: string }> = {
      owner: i.bundle("app"),
      admin: i.bundle("admin1"),
      auditor: i.bundle("auditor"),
    };
    for (const cn of ["listed", "other"]) {
      const c = await i.as.admin1.call("POST", "/v1/certs", { cn: `${cn}-user`, role: "client" });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      tls[cn] = { cert: c.body.certificate, key: c.body.privateKey, ca: c.body.ca };
    }
    for (const who of ["owner", "listed", "other", "admin", "auditor"] as const) {
      rest[who] = client(i.url, tls[who]);
      kmip[who] = await KmipClient.open(i.server.kmipPort, tls[who]);
    }
  });
  after(async () => {
    for (const c of Object.values(kmip)) c.close();
    for (const c of Object.values(rest)) c.close();
    await i.cleanup();
  });

  /** Asserts one outcome on both transports. */
  async function same(what: string, expect: Expect, r: Response, k: KmipResult) {
    const restCode = typeof expect === "object" ? expect.rest : expect;
    const kmipCode = typeof expect === "object" ? expect.kmip : expect;
    if (expect === "ok") {
      assert.ok(r.status < 300, `${what} over REST: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(k.status, Enum.ResultStatus.Success, `${what} over KMIP: ${k.message}`);
      return;
    }
    assert.equal(r.body?.error?.code, restCode, `${what} over REST: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.status, ERRORS[restCode as ErrorCode].status, `${what}: HTTP status of ${restCode}`);
    assert.equal(k.status, Enum.ResultStatus.OperationFailed, `${what} over KMIP should fail`);
    assert.equal(k.reason, reasonOf(kmipCode as ErrorCode), `${what} over KMIP: reason ${k.reason} (${k.message})`);
    // Concealment answers "not found" on both: the same KMIP reason for REST's code and KMIP's code.
    assert.equal(ERRORS[restCode as ErrorCode].kmip2, ERRORS[kmipCode as ErrorCode].kmip2, what);
  }

  /** A KMIP-created AES-256 key with a REST name (its Name), owned by "app"; `active`: Activation Date in the past. */
  async function key(o: { mask?: number; active?: boolean; extra?: TtlvItem[] } = {}): Promise<{ name: string; id: string }> {
    const name = `pm-${++n}`;
    const now = i.clock.now().getTime();
    const created = await kmip.owner.ok(V21, "Create", [
      enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
      struct(
        Tag.Attributes,
        enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
        int(Tag.CryptographicLength, 256),
        int(Tag.CryptographicUsageMask, o.mask ?? U.Encrypt | U.Decrypt | U.WrapKey),
        struct(Tag.Name, text(Tag.NameValue, name), enm(Tag.NameType, Enum.NameType.UninterpretedTextString)),
        o.active === false ? null : dateTime(Tag.ActivationDate, new Date(now - 60_000)),
        ...(o.extra ?? []),
      ),
    ]);
    return { name, id: find(created, Tag.UniqueIdentifier)?.value as string };
  }

  const one = async (c: KmipClient, op: keyof typeof Enum.Operation, payload: TtlvItem[]) => (await c.call(V21, [[op, payload]]))[0];
  const encrypt = async (who: keyof typeof rest, k: { name: string; id: string }) => ({
    r: await rest[who].call("POST", `/v1/keys/${k.name}/encrypt`, { plaintext: b64("policy") }),
    k: await one(kmip[who], "Encrypt", [uid(k.id), gcm(), bytes(Tag.Data, Buffer.from("policy"))]),
  });
  /** Ciphertexts made while the key may protect, to decrypt later. */
  async function ciphertexts(k: { name: string; id: string }) {
    const r = await rest.owner.call("POST", `/v1/keys/${k.name}/encrypt`, { plaintext: b64("later") });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const e = await kmip.owner.ok(V21, "Encrypt", [uid(k.id), gcm(), bytes(Tag.Data, Buffer.from("later"))]);
    const f = (t: number) => find(e, t)?.value as Buffer;
    return { rest: r.body.ciphertext as string, kmip: [f(Tag.Data), f(Tag.IVCounterNonce), f(Tag.AuthenticatedEncryptionTag)] };
  }
  const decrypt = async (who: keyof typeof rest, k: { name: string; id: string }, c: Awaited<ReturnType<typeof ciphertexts>>) => ({
    r: await rest[who].call("POST", `/v1/keys/${k.name}/decrypt`, { ciphertext: c.rest }),
    k: await one(kmip[who], "Decrypt", [
      uid(k.id),
      gcm(),
      bytes(Tag.Data, c.kmip[0]),
      bytes(Tag.IVCounterNonce, c.kmip[1]),
      bytes(Tag.AuthenticatedEncryptionTag, c.kmip[2]),
    ]),
  });
  /** Clear release: REST material and KMIP Get without wrapping. */
  const release = async (who: keyof typeof rest, k: { name: string; id: string }) => ({
    r: await rest[who].call("GET", `/v1/keys/${k.name}/material`),
    k: await one(kmip[who], "Get", [uid(k.id)]),
  });
  const check = async (what: string, expect: Expect, p: Promise<{ r: Response; k: KmipResult }>) => {
    const { r, k } = await p;
    await same(what, expect, r, k);
  };
  const patch = async (name: string, body: unknown) => {
    const r = await rest.owner.call("PATCH", `/v1/keys/${name}`, body);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };

  test("role and per-key policy: owner, listed user, unlisted user (concealed), operations, admin, auditor", async () => {
    const k = await key();
    await check("owner encrypts", "ok", encrypt("owner", k));
    await patch(k.name, { policy: { users: ["listed-user"] } });
    await check("listed user encrypts", "ok", encrypt("listed", k));
    await check("listed user reads material", "ok", release("listed", k));
    const concealed = { rest: "key_not_found", kmip: "object_not_found" } as const;
    await check("unlisted user encrypts", concealed, encrypt("other", k));
    await check("unlisted user reads material", concealed, release("other", k));
    // The policy's operations bind the listed users (the owner keeps every right).
    await patch(k.name, { policy: { users: ["listed-user"], operations: ["decrypt"] } });
    await check("listed user, operation not granted", "forbidden", encrypt("listed", k));
    await check("listed user, material not granted", "forbidden", release("listed", k));
    await check("owner, whatever the operations", "ok", encrypt("owner", k));
    // Separation of duties: admins manage keys but never use them; auditors do not even see them.
    await check("admin encrypts", "forbidden", encrypt("admin", k));
    await check("admin reads material", "forbidden", release("admin", k));
    await check("auditor encrypts", concealed, encrypt("auditor", k));
    await check("auditor reads material", concealed, release("auditor", k));
  });

  test("lifecycle: Pre-Active, Deactivated and Compromised protect nothing but process; Destroyed does neither", async () => {
    const pre = await key({ active: false });
    await check("Pre-Active encrypts", "invalid_state", encrypt("owner", pre));
    // A key is distributed before its Activation Date: release of a Pre-Active version is allowed on both.
    await check("Pre-Active is released", "ok", release("owner", pre));

    const deact = await key();
    const c1 = await ciphertexts(deact);
    assert.equal((await rest.owner.call("POST", `/v1/keys/${deact.name}/revoke`, { reason: "superseded" })).status, 200);
    await check("Deactivated encrypts", "invalid_state", encrypt("owner", deact));
    await check("Deactivated decrypts", "ok", decrypt("owner", deact, c1));

    const comp = await key();
    const c2 = await ciphertexts(comp);
    assert.equal((await rest.owner.call("POST", `/v1/keys/${comp.name}/revoke`, { reason: "key-compromise" })).status, 200);
    await check("Compromised encrypts", "invalid_state", encrypt("owner", comp));
    await check("Compromised decrypts", "ok", decrypt("owner", comp, c2));

    await kmip.owner.ok(V21, "Destroy", [uid(deact.id)]);
    await check("Destroyed encrypts", "object_destroyed", encrypt("owner", deact));
    await check("Destroyed decrypts", "object_destroyed", decrypt("owner", deact, c1));
    await check("Destroyed is released", "object_destroyed", release("owner", deact));

    // Scheduled for destruction (REST): not used over either transport while the waiting period runs.
    const doomed = await key();
    const c3 = await ciphertexts(doomed);
    assert.equal((await rest.owner.call("DELETE", `/v1/keys/${doomed.name}`, { pendingDays: 7 })).status, 200);
    await check("scheduled for destruction encrypts", "invalid_state", encrypt("owner", doomed));
    await check("scheduled for destruction decrypts", "invalid_state", decrypt("owner", doomed, c3));
  });

  test("usage mask, Protect Stop Date and Process Start Date", async () => {
    const decryptOnly = await key({ mask: U.Decrypt });
    await check("usage mask without Encrypt", "usage_not_permitted", encrypt("owner", decryptOnly));

    const now = i.clock.now().getTime();
    const stopped = await key({ extra: [dateTime(Tag.ProtectStopDate, new Date(now - 3_600_000))] });
    await check("past its Protect Stop Date", "invalid_state", encrypt("owner", stopped));

    const later = await key({ extra: [dateTime(Tag.ProcessStartDate, new Date(now + 3_600_000))] });
    const c = await ciphertexts(later);
    await check("before its Process Start Date", "invalid_state", decrypt("owner", later, c));
    i.clock.advanceDays(1);
    await check("from its Process Start Date", "ok", decrypt("owner", later, c));
  });

  test("Usage Limits: one counter, counted down by REST (single, batch, datakey) and KMIP alike", async () => {
    const k = await key({
      extra: [struct(Tag.UsageLimits, long(Tag.UsageLimitsTotal, 3n), enm(Tag.UsageLimitsUnit, Enum.UsageLimitsUnit.Object))],
    });
    assert.equal((await rest.owner.call("POST", `/v1/keys/${k.name}/encrypt`, { plaintext: b64("1") })).status, 200);
    await kmip.owner.ok(V21, "Encrypt", [uid(k.id), gcm(), bytes(Tag.Data, Buffer.from("2"))]);
    const batch = await rest.owner.call("POST", `/v1/keys/${k.name}/encrypt`, {
      batch: [{ plaintext: b64("3") }, { plaintext: b64("4") }],
    });
    assert.equal(batch.status, 200, JSON.stringify(batch.body));
    assert.ok(batch.body.batch[0].ciphertext, JSON.stringify(batch.body));
    assert.equal(batch.body.batch[1].error.code, "usage_limits_exhausted");
    await check("usage limits exhausted", "usage_limits_exhausted", encrypt("owner", k));
    const dk = await rest.owner.call("POST", `/v1/keys/${k.name}/datakey`, {});
    assert.equal(dk.body.error?.code, "usage_limits_exhausted", JSON.stringify(dk.body));
    // The count is the server's: KMIP reports it spent.
    const attrs = await kmip.owner.ok(V21, "GetAttributes", [uid(k.id)]);
    const limits = find(find(attrs, Tag.Attributes) as TtlvItem, Tag.UsageLimits) as TtlvItem;
    assert.equal(find(limits, Tag.UsageLimitsCount)?.value, 0n);
  });

  test("clear release: exportable false, Extractable false, Sensitive true, PCI mode", async () => {
    const plain = await key();
    await check("an exportable key is released", "ok", release("owner", plain));
    await patch(plain.name, { exportable: false });
    await check("exportable false", "not_extractable", release("owner", plain));

    const pinned = await key({ extra: [bool(Tag.Extractable, false)] });
    await check("Extractable false", "not_extractable", release("owner", pinned));

    const sensitive = await key({ extra: [bool(Tag.Sensitive, true)] });
    await check("Sensitive true", "sensitive", release("owner", sensitive));
    // Sensitive leaves wrapped: REST export under an AES key, KMIP Get with a Key Wrapping Specification.
    const kek = await key({ mask: U.WrapKey });
    const wrapped = {
      r: await rest.owner.call("POST", `/v1/keys/${sensitive.name}/export`, { wrappingKey: { name: kek.name } }),
      k: await one(kmip.owner, "Get", [
        uid(sensitive.id),
        struct(
          Tag.KeyWrappingSpecification,
          enm(Tag.WrappingMethod, Enum.WrappingMethod.Encrypt),
          struct(
            Tag.EncryptionKeyInformation,
            uid(kek.id),
            struct(Tag.CryptographicParameters, enm(Tag.BlockCipherMode, Enum.BlockCipherMode.AESKeyWrapPadding)),
          ),
        ),
      ]),
    };
    await same("Sensitive released wrapped", "ok", wrapped.r, wrapped.k);

    const gov = await i.as.admin1.call("PATCH", "/v1/sys/governance", { pciMode: true });
    assert.equal(gov.status, 200, JSON.stringify(gov.body));
    try {
      const k = await key();
      await check("PCI mode, clear release", "pci_cleartext_refused", release("owner", k));
    } finally {
      assert.equal((await i.as.admin1.call("PATCH", "/v1/sys/governance", { pciMode: false })).status, 200);
    }
  });
});
