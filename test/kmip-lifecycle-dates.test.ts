// KMIP Activation and Deactivation Dates take effect: at once when they have come, else at that time (use-time check
// and scheduler) — never answered with Success and then ignored (issue 9, finding 10).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, dateTime, enm, find, findAll, struct, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";
import { type Instance, newInstance } from "./helpers.js";
import { aesCreate1x, attr1x, KmipClient } from "./kmip-client.js";

const V14: [number, number] = [1, 4];
const V21: [number, number] = [2, 1];
const R = Enum.ResultReason;
const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const cbc = () =>
  struct(Tag.CryptographicParameters, enm(Tag.BlockCipherMode, Enum.BlockCipherMode.CBC), enm(Tag.PaddingMethod, Enum.PaddingMethod.PKCS5));
const at = (ms: number) => new Date(ms);

describe("KMIP Activation and Deactivation Dates", () => {
  let i: Instance;
  let kmip: KmipClient;
  before(async () => {
    i = await newInstance();
    kmip = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
  });
  after(async () => {
    kmip.close();
    await i.cleanup();
  });

  const create = async (extra: TtlvItem[] = []) => {
    const payload = aesCreate1x(256, 0x0c);
    const tmpl = payload[1] as TtlvItem & { value: TtlvItem[] };
    tmpl.value.push(...extra);
    return String(find(await kmip.ok(V14, "Create", payload), Tag.UniqueIdentifier)?.value);
  };
  const encrypt = (id: string) => kmip.call(V14, [["Encrypt", [uid(id), cbc(), bytes(Tag.Data, Buffer.from("hello"))]]]);
  const state = async (id: string) => {
    const p = await kmip.ok(V14, "GetAttributes", [uid(id), text(Tag.AttributeName, "State")]);
    const a = findAll(p, Tag.Attribute)[0];
    return find(a, Tag.AttributeValue)?.value;
  };
  const deactivationDate = async (id: string) => {
    const p = await kmip.ok(V14, "GetAttributes", [uid(id), text(Tag.AttributeName, "Deactivation Date")]);
    const a = findAll(p, Tag.Attribute)[0];
    return a ? Number(find(a, Tag.AttributeValue)?.value) : undefined;
  };

  test("a future Deactivation Date set with SetAttribute stops protection when it comes, and the scheduler records it", async () => {
    const id = await create([attr1x("Activation Date", dateTime(Tag.ActivationDate, at(i.clock.t - 60_000)))]);
    assert.equal((await encrypt(id))[0].status, Enum.ResultStatus.Success);
    const when = i.clock.t + 3600_000;
    await kmip.ok(V21, "SetAttribute", [uid(id), struct(Tag.NewAttribute, dateTime(Tag.DeactivationDate, at(when)))]);
    assert.equal(await deactivationDate(id), Math.floor(when / 1000), "the date is stored and reported");
    assert.equal((await encrypt(id))[0].status, Enum.ResultStatus.Success, "still Active before the date");

    i.clock.t += 2 * 3600_000;
    // Before the scheduler has run, the date already counts.
    const [refused] = await encrypt(id);
    assert.equal(refused.status, Enum.ResultStatus.OperationFailed);
    assert.equal(refused.reason, R.PermissionDenied, "1.4: Permission Denied for the object's state");
    assert.equal(await state(id), Enum.State.Deactivated);

    const run = await i.server.app.tick();
    assert.equal(run.deactivated, 1);
    const events = await i.server.app.store.all<{ action: string; outcome: string }>(
      "SELECT action, outcome FROM events WHERE action = 'key.deactivate'",
    );
    assert.deepEqual(events, [{ action: "key.deactivate", outcome: "success" }]);
    const row = await i.server.app.store.get<{ state: string }>("SELECT state FROM objects WHERE id = $1", [id]);
    assert.equal(row?.state, "Deactivated");
    assert.equal((await i.server.app.tick()).deactivated, 0, "carried out once");

    // Past its Deactivation Date an object never comes back: the date can no longer move, nor be deleted.
    const [moved] = await kmip.call(V21, [
      ["SetAttribute", [uid(id), struct(Tag.NewAttribute, dateTime(Tag.DeactivationDate, at(i.clock.t + 86400_000)))]],
    ]);
    assert.equal(moved.status, Enum.ResultStatus.OperationFailed);
    assert.equal(moved.reason, R.WrongKeyLifecycleState);
  });

  test("ModifyAttribute to a past Deactivation Date deactivates at once; deleting the date is refused", async () => {
    const id = await create([
      attr1x("Activation Date", dateTime(Tag.ActivationDate, at(i.clock.t - 60_000))),
      attr1x("Deactivation Date", dateTime(Tag.DeactivationDate, at(i.clock.t + 86400_000))),
    ]);
    assert.equal(await state(id), Enum.State.Active);
    const [del] = await kmip.call(V14, [["DeleteAttribute", [uid(id), text(Tag.AttributeName, "Deactivation Date")]]]);
    assert.equal(del.status, Enum.ResultStatus.OperationFailed);
    await kmip.ok(V14, "ModifyAttribute", [uid(id), attr1x("Deactivation Date", dateTime(Tag.DeactivationDate, at(i.clock.t - 1000)))]);
    const row = await i.server.app.store.get<{ state: string }>("SELECT state FROM objects WHERE id = $1", [id]);
    assert.equal(row?.state, "Deactivated", "written at once, not left for the scheduler");
    assert.equal((await encrypt(id))[0].status, Enum.ResultStatus.OperationFailed);
  });

  test("a Deactivation Date in the creation template is honoured; one before the Activation Date is refused", async () => {
    const id = await create([
      attr1x("Activation Date", dateTime(Tag.ActivationDate, at(i.clock.t - 60_000))),
      attr1x("Deactivation Date", dateTime(Tag.DeactivationDate, at(i.clock.t + 60_000))),
    ]);
    assert.equal(await deactivationDate(id), Math.floor((i.clock.t + 60_000) / 1000));
    i.clock.t += 120_000;
    assert.equal(await state(id), Enum.State.Deactivated);

    const [bad] = await kmip.call(V14, [
      [
        "Create",
        (() => {
          const p = aesCreate1x(256, 0x0c);
          (p[1] as TtlvItem & { value: TtlvItem[] }).value.push(
            attr1x("Activation Date", dateTime(Tag.ActivationDate, at(i.clock.t + 86400_000))),
            attr1x("Deactivation Date", dateTime(Tag.DeactivationDate, at(i.clock.t + 3600_000))),
          );
          return p;
        })(),
      ],
    ]);
    assert.equal(bad.status, Enum.ResultStatus.OperationFailed);
  });

  test("a future Activation Date activates the object when it comes", async () => {
    const id = await create();
    assert.equal(await state(id), Enum.State.PreActive);
    await kmip.ok(V21, "SetAttribute", [uid(id), struct(Tag.NewAttribute, dateTime(Tag.ActivationDate, at(i.clock.t + 3600_000)))]);
    assert.equal((await encrypt(id))[0].status, Enum.ResultStatus.OperationFailed, "Pre-Active until then");
    i.clock.t += 2 * 3600_000;
    assert.equal((await encrypt(id))[0].status, Enum.ResultStatus.Success, "usable as soon as the date has come");
    assert.equal((await i.server.app.tick()).activated, 1);
    const row = await i.server.app.store.get<{ state: string }>("SELECT state FROM objects WHERE id = $1", [id]);
    assert.equal(row?.state, "Active");
  });
});
