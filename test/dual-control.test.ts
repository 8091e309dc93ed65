// Dual control over the real listeners: approve executes, deny discards, expiry, no self-approval, window mode, KMIP pending.
import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Enum } from "../src/kmip/codec/tables.js";
import { find, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";
import { type Client, client, type Instance, newInstance } from "./helpers.js";
import { aesCreate1x, KmipClient } from "./kmip-client.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Approves as `c` what `c` sees listed (its digest); a caller that may not list sends a well-formed dummy digest. */
async function approve(c: Client, id: string) {
  const listed = (await c.call("GET", "/v1/approvals")).body.approvals?.find((a: { id: string }) => a.id === id);
  return c.call("POST", `/v1/approvals/${id}/approve`, { digest: listed?.digest ?? `sha256:${"0".repeat(64)}` });
}

describe("dual control", () => {
  let i: Instance;
  let admin1bis: Client;
  let admin3: Client;
  before(async () => {
    i = await newInstance();
    // A second certificate for the same person (CN admin1), and a third admin — issued before dual control is on.
    const bis = (await i.as.admin1.call("POST", "/v1/certs", { cn: "admin1", ou: "admins", role: "admin" })).body;
    admin1bis = client(i.url, { cert: bis.certificate, key: bis.privateKey, ca: bis.ca });
    // A third person: declared a principal of its own (otherwise it would count as admin1, who asked for it).
    const a3 = (await i.as.admin1.call("POST", "/v1/certs", { cn: "admin3", ou: "admins", role: "admin", newPrincipal: true })).body;
    admin3 = client(i.url, { cert: a3.certificate, key: a3.privateKey, ca: a3.ca });
    const on = await i.as.admin1.call("PATCH", "/v1/sys/governance", { dualControl: true });
    assert.equal(on.status, 200, "turning dual control on is not itself protected");
    assert.equal(on.body.dualControl, true);
    for (const name of ["dc-1", "dc-2", "dc-3", "dc-4", "dc-5"]) await i.as.admin1.call("POST", "/v1/keys", { name, type: "aes-256" });
  });
  after(async () => {
    admin1bis.close();
    admin3.close();
    await i.cleanup();
  });

  test("a protected operation answers 202 and waits; a second admin's approval executes it", async () => {
    const r = await i.as.admin1.call("DELETE", "/v1/keys/dc-1", { pendingDays: 3 });
    assert.equal(r.status, 202);
    assert.equal(r.body.approval.status, "pending");
    assert.equal(r.body.approval.action, "key.schedule-destroy");
    const id = r.body.approval.id;
    assert.equal((await i.as.admin1.call("GET", "/v1/keys/dc-1")).body.deletionScheduledAt, null, "nothing happened yet");
    const pending = (await i.as.admin2.call("GET", "/v1/approvals?status=pending")).body.approvals;
    const mine = pending.find((a: { id: string }) => a.id === id);
    assert.equal(mine.requestedBy, "admin1");
    assert.equal(mine.target, "dc-1");
    // The requester cannot approve, nor can the same person with a second certificate.
    assert.equal((await approve(i.as.admin1, id)).status, 403);
    assert.equal((await approve(admin1bis, id)).status, 403);
    // Clients and auditors cannot approve.
    assert.equal((await approve(i.as.app, id)).status, 403);
    const ok = await approve(i.as.admin2, id);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.status, "executed");
    assert.deepEqual(ok.body.approvers, ["admin1", "admin2"]);
    assert.ok((await i.as.admin1.call("GET", "/v1/keys/dc-1")).body.deletionScheduledAt);
    // Approving again is refused: it is closed.
    assert.equal((await approve(admin3, id)).status, 409);
  });

  test("deny discards; an expired request can no longer be approved", async () => {
    const r = await i.as.admin1.call("POST", "/v1/keys/dc-2/revoke", { reason: "superseded" });
    assert.equal(r.status, 202);
    const d = await i.as.admin2.call("POST", `/v1/approvals/${r.body.approval.id}/deny`);
    assert.equal(d.body.status, "denied");
    assert.equal((await i.as.admin1.call("GET", "/v1/keys/dc-2")).body.state, "Active");
    assert.equal((await approve(admin3, r.body.approval.id)).status, 409);

    const p = await i.as.admin1.call("PATCH", "/v1/keys/dc-2", { policy: { users: ["app"] } });
    assert.equal(p.status, 202);
    i.clock.t += 61 * 60_000;
    const late = await approve(i.as.admin2, p.body.approval.id);
    assert.equal(late.status, 409);
    assert.match(late.body.error.message, /expired/);
    assert.deepEqual((await i.as.admin1.call("GET", "/v1/keys/dc-2")).body.policy.users, []);
    i.clock.t -= 61 * 60_000;
  });

  test("non-protected operations are unaffected", async () => {
    assert.equal((await i.as.admin1.call("POST", "/v1/keys", { name: "dc-free", type: "aes-256" })).status, 201);
    assert.equal((await i.as.admin1.call("POST", "/v1/keys/dc-free/rotate")).status, 200);
    assert.equal((await i.as.admin1.call("PATCH", "/v1/keys/dc-free", { description: "just words" })).status, 200);
    assert.equal((await i.as.app.call("POST", "/v1/keys/dc-free/encrypt", { plaintext: b64("x") })).status, 200);
  });

  test("a wrapped export by an admin is a two-person ceremony: the approval carries the wrapped key", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "dc-wrap", type: "aes-256" });
    await i.as.admin1.call("POST", "/v1/keys", { name: "dc-secret", type: "aes-128" });
    const r = await i.as.admin1.call("POST", "/v1/keys/dc-secret/export", { wrappingKey: { name: "dc-wrap" }, scheme: "aes-kwp" });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.approval.action, "key.export");
    const ok = await approve(i.as.admin2, r.body.approval.id);
    assert.equal(ok.body.status, "executed", JSON.stringify(ok.body));
    const wrapped = Buffer.from(ok.body.result.wrapped, "base64");
    const kek = Buffer.from((await i.as.app.call("GET", "/v1/keys/dc-wrap/material")).body.material, "base64");
    const d = createDecipheriv("id-aes256-wrap-pad", kek, Buffer.from("A65959A6", "hex"));
    const unwrapped = Buffer.concat([d.update(wrapped), d.final()]);
    assert.equal(unwrapped.toString("base64"), (await i.as.app.call("GET", "/v1/keys/dc-secret/material")).body.material);
  });

  test("authorization window: protected operations by a different admin run directly", async () => {
    const w = await i.as.admin2.call("POST", "/v1/approvals/window", { minutes: 10 });
    assert.equal(w.status, 201);
    const direct = await i.as.admin1.call("POST", "/v1/keys/dc-3/revoke", { reason: "cessation-of-operation" });
    assert.equal(direct.status, 200, "admin1 acts inside admin2's window");
    assert.equal(direct.body.state, "Deactivated");
    const own = await i.as.admin2.call("POST", "/v1/keys/dc-4/revoke", { reason: "superseded" });
    assert.equal(own.status, 202, "the admin who opened the window still needs a second admin");
    await i.as.admin1.call("POST", `/v1/approvals/${own.body.approval.id}/deny`);
    i.clock.t += 11 * 60_000;
    const closed = await i.as.admin1.call("POST", "/v1/keys/dc-5/revoke", { reason: "superseded" });
    assert.equal(closed.status, 202, "window closed");
    await i.as.admin2.call("POST", `/v1/approvals/${closed.body.approval.id}/deny`);
  });

  test("KMIP Destroy under dual control answers Operation Pending with the approval id; approval destroys", async () => {
    const kmip = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
    try {
      const created = await kmip.ok([1, 4], "Create", aesCreate1x(256));
      const id = String(find(created, Tag.UniqueIdentifier)?.value);
      const [pending] = await kmip.call([1, 4], [["Destroy", [text(Tag.UniqueIdentifier, id)]]]);
      assert.equal(pending.status, Enum.ResultStatus.OperationPending);
      assert.match(String(pending.message), /waits for approval/);
      const approvals = (await i.as.admin1.call("GET", "/v1/approvals?status=pending")).body.approvals;
      const a = approvals.find((x: { action: string; target: string }) => x.action === "kmip.destroy" && x.target === id);
      assert.ok(a, "the KMIP request is listed");
      const ok = await approve(i.as.admin2, a.id);
      assert.equal(ok.body.status, "executed", JSON.stringify(ok.body));
      const attrs = await kmip.ok([1, 4], "GetAttributes", [text(Tag.UniqueIdentifier, id), text(Tag.AttributeName, "State")]);
      const state = find(find(attrs, Tag.Attribute) as TtlvItem, Tag.AttributeValue)?.value;
      assert.equal(state, Enum.State.Destroyed);
      // A denied KMIP request leaves the object alone.
      const c2 = await kmip.ok([1, 4], "Create", aesCreate1x(128));
      const id2 = String(find(c2, Tag.UniqueIdentifier)?.value);
      const [p2] = await kmip.call([2, 0], [["Destroy", [text(Tag.UniqueIdentifier, id2)]]]);
      assert.equal(p2.status, Enum.ResultStatus.OperationPending);
      const a2 = (await i.as.admin1.call("GET", "/v1/approvals?status=pending")).body.approvals.find(
        (x: { target: string }) => x.target === id2,
      );
      await i.as.admin1.call("POST", `/v1/approvals/${a2.id}/deny`);
      const s2 = await kmip.ok([1, 4], "GetAttributes", [text(Tag.UniqueIdentifier, id2), text(Tag.AttributeName, "State")]);
      assert.equal(find(find(s2, Tag.Attribute) as TtlvItem, Tag.AttributeValue)?.value, Enum.State.PreActive);
    } finally {
      kmip.close();
    }
  });

  test("certificate issue and revoke, quorum and turning dual control off are protected too; every step is audited", async () => {
    const noCsr = await i.as.admin1.call("POST", "/v1/certs", { cn: "svc", role: "client" });
    assert.equal(noCsr.status, 400, "under dual control a certificate is issued for a CSR");
    const q = await i.as.admin1.call("PATCH", "/v1/sys/governance", { quorum: 3 });
    assert.equal(q.status, 202);
    assert.equal((await approve(i.as.admin2, q.body.approval.id)).body.status, "executed");
    assert.equal((await i.as.admin1.call("GET", "/v1/sys/governance")).body.quorum, 3);
    // With quorum 3 two other admins must approve.
    const off = await i.as.admin1.call("PATCH", "/v1/sys/governance", { dualControl: false });
    assert.equal(off.status, 202);
    const first = await approve(i.as.admin2, off.body.approval.id);
    assert.equal(first.body.status, "pending");
    const second = await approve(admin3, off.body.approval.id);
    assert.equal(second.body.status, "executed");
    assert.equal((await i.as.admin1.call("GET", "/v1/sys/governance")).body.dualControl, false);
    const ev = (await i.as.auditor.call("GET", "/v1/audit?limit=1000")).body.events.map((e: { action: string }) => e.action);
    for (const a of ["approval.request", "approval.approve", "approval.deny", "approval.window", "governance.change"])
      assert.ok(ev.includes(a), a);
    assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).body.ok, true);
  });
});
