// The four layers hold: imports only point downward, and transports reach services only — never the store or audit log.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import type { Identity } from "../src/auth/identity.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { enm, int, struct, Tag, text } from "../src/kmip/codec/ttlv.js";
import { newInstance } from "./helpers.js";
import { KmipClient } from "./kmip-client.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Violations tolerated while a transport is moved onto the services. Each entry is one violation exactly as this
 * test reports it. Remove an entry as soon as its violation is gone — the second test fails on an entry that no
 * longer matches anything, so the list can only shrink. Empty since KMIP's handlers receive KmipServices (issue 10).
 */
const KNOWN_LAYER_EXCEPTIONS: readonly string[] = [];

type Layer = "interfaces" | "service" | "core" | "storage" | "shared";
const RANK: Record<Exclude<Layer, "shared">, number> = { interfaces: 3, service: 2, core: 1, storage: 0 };

/** DESIGN.md "Architecture" (and docs/architecture.md): each top-level entry of src/ belongs to one layer. */
const LAYERS: Record<string, Layer> = {
  cli: "interfaces",
  http: "interfaces",
  kmip: "interfaces",
  transport: "interfaces",
  "server.ts": "interfaces",
  "app.ts": "interfaces", // the composition root
  "init.ts": "interfaces",
  "instance-lock.ts": "interfaces", // one server per instance directory, taken by server.ts
  keys: "service",
  auth: "service",
  audit: "service",
  pki: "service",
  sys: "service",
  mirror: "service",
  backup: "service",
  config: "service", // the settings the services run with; read by the composition root
  crypto: "core",
  seal: "core",
  store: "storage",
  errors: "shared", // the one error registry, used by every layer
  "logger.ts": "shared",
  "version.ts": "shared",
};

/**
 * Transports: translate wire format to service calls — the REST routes, the listeners, the CLI and every KMIP file
 * (src/kmip/**: the handler, the operations, the codec). Only the composition root (app.ts, server.ts) wires the App.
 */
const TRANSPORT = (f: string) => /^src\/(http|transport|cli|kmip)\//.test(f);
const COMPOSITION_ROOTS = new Set(["src/app.ts", "src/server.ts", "src/init.ts"]);

interface Import {
  target: string;
  typeOnly: boolean;
  names: string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

const rel = (p: string) => relative(root, p).split("\\").join("/");

function layerOf(file: string): Layer {
  const top = file.replace(/^src\//, "").split("/")[0];
  const l = LAYERS[top];
  assert.ok(l, `${file}: src/${top} belongs to no layer — add it to LAYERS in test/layers.test.ts (and to DESIGN.md)`);
  return l;
}

/** Relative imports, re-exports and `import("…")` types of one file, resolved to src/… .ts paths. */
function importsOf(file: string, sf: ts.SourceFile): Import[] {
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean, names: string[]) => {
    if (!spec.startsWith(".")) return;
    out.push({ target: rel(resolve(dirname(join(root, file)), spec)).replace(/\.js$/, ".ts"), typeOnly, names });
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      const names = [
        ...(c?.name ? [c.name.text] : []),
        ...(named ?? []).filter((e) => !e.isTypeOnly).map((e) => (e.propertyName ?? e.name).text),
      ];
      add(n.moduleSpecifier.text, typeOnly, names);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n.isTypeOnly, []);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal.text, true, []);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && ts.isStringLiteral(n.arguments[0])) {
      add((n.arguments[0] as ts.StringLiteral).text, false, []);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The container's internals no transport reaches: the store and the audit log. */
const INTERNALS: ReadonlySet<string> = new Set(["store", "audit"]);
/**
 * KMIP receives its services (KmipServices), not the container: it reaches neither the App nor the barrier either.
 * (The CLI's `server start` runs the composition root's server and may read `server.app`.)
 */
const KMIP_INTERNALS: ReadonlySet<string> = new Set([...INTERNALS, "app", "barrier"]);

/**
 * `x.store`, `x.audit` and `{ store } = x` / `{ audit } = x` (and the other `names`): a transport reaching into the
 * container's internals.
 */
function internalsUsed(sf: ts.SourceFile, names: ReadonlySet<string> = INTERNALS): Set<string> {
  const used = new Set<string>();
  const visit = (n: ts.Node) => {
    if (ts.isPropertyAccessExpression(n) && names.has(n.name.text)) used.add(n.name.text);
    if (ts.isBindingElement(n) && ts.isObjectBindingPattern(n.parent)) {
      const key = n.propertyName ?? n.name;
      if (ts.isIdentifier(key) && names.has(key.text)) used.add(key.text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return used;
}

function violations(): string[] {
  const found: string[] = [];
  for (const abs of sourceFiles(join(root, "src"))) {
    const file = rel(abs);
    const sf = ts.createSourceFile(file, readFileSync(abs, "utf8"), ts.ScriptTarget.ES2022, true);
    const from = layerOf(file);
    for (const imp of importsOf(file, sf)) {
      const to = layerOf(imp.target);
      // Import direction: interfaces → service → core → storage; shared modules are used by every layer and use none.
      if (from === "shared" ? to !== "shared" : to !== "shared" && RANK[to] > RANK[from])
        found.push(`${file}: ${from} imports ${to} (${imp.target})`);
      if (imp.target === "src/app.ts" && !COMPOSITION_ROOTS.has(file)) found.push(`${file}: imports the App container (src/app.ts)`);
      if (!TRANSPORT(file)) continue;
      // Transports never touch the store or the audit log; shared types (Actor, Role, OpScope) may be named.
      if (imp.target.startsWith("src/store/")) found.push(`${file}: imports the store (${imp.target})`);
      // Nor the seal barrier: whether the server is sealed is SysService's answer, what sealing drops the root binds.
      if (imp.target.startsWith("src/seal/")) found.push(`${file}: imports the seal barrier (${imp.target})`);
      if ((imp.target === "src/audit/audit-log.ts" || imp.target === "src/audit/operation.ts") && !imp.typeOnly)
        found.push(`${file}: imports ${imp.names.join(", ") || "values"} from ${imp.target}`);
    }
    if (TRANSPORT(file))
      for (const name of internalsUsed(sf, file.startsWith("src/kmip/") ? KMIP_INTERNALS : INTERNALS)) found.push(`${file}: uses .${name}`);
  }
  return found;
}

test("imports point only downward, and transports use services — never the store or the audit log", () => {
  const unexpected = violations().filter((v) => !KNOWN_LAYER_EXCEPTIONS.includes(v));
  assert.deepEqual(unexpected, [], `layer violations (docs/architecture.md):\n${unexpected.join("\n")}`);
});

test("every known layer exception still exists (remove fixed ones from KNOWN_LAYER_EXCEPTIONS)", () => {
  const found = new Set(violations());
  const stale = KNOWN_LAYER_EXCEPTIONS.filter((e) => !found.has(e));
  assert.deepEqual(stale, [], `fixed, remove from KNOWN_LAYER_EXCEPTIONS in test/layers.test.ts:\n${stale.join("\n")}`);
});

test("the checker sees what it must: a route reaching into the store or the audit log is reported", () => {
  const src = [
    'import { audited } from "../../audit/operation.js";',
    'import type { Store } from "../../store/store.js";',
    "export const r = (ctx: any, s: Store) => audited(ctx.app.audit, ctx, 'x', {}, async () => ctx.app.store.get('', []));",
  ].join("\n");
  const file = "src/http/routes/example.ts";
  const sf = ts.createSourceFile(file, src, ts.ScriptTarget.ES2022, true);
  const imps = importsOf(file, sf);
  assert.deepEqual(
    imps.map((i) => [i.target, i.typeOnly]),
    [
      ["src/audit/operation.ts", false],
      ["src/store/store.ts", true],
    ],
  );
  assert.deepEqual([...internalsUsed(sf)].sort(), ["audit", "store"]);
});

test("the checker covers KMIP: an operation reaching through the App container or the barrier is reported", () => {
  const src = [
    'import type { App } from "../../app.js";',
    'import { Barrier } from "../../seal/barrier.js";',
    "export const op = { handle: (c: { app: App }) => (c.app.barrier.sealed ? c.app.store.get('', []) : null) };",
  ].join("\n");
  const file = "src/kmip/operations/example.ts";
  assert.ok(TRANSPORT(file), "src/kmip/** is a transport");
  assert.ok(TRANSPORT("src/kmip/handle-kmip.ts") && TRANSPORT("src/kmip/codec/ttlv.ts"));
  const sf = ts.createSourceFile(file, src, ts.ScriptTarget.ES2022, true);
  assert.deepEqual(
    importsOf(file, sf).map((i) => i.target),
    ["src/app.ts", "src/seal/barrier.ts"],
  );
  assert.deepEqual([...internalsUsed(sf, KMIP_INTERNALS)].sort(), ["app", "barrier", "store"]);
});

/** node:crypto's cipher, MAC and signature primitives: used through src/crypto/ only (hashing and key parsing are not listed). */
const PRIMITIVES = new Set([
  "createCipheriv",
  "createDecipheriv",
  "publicEncrypt",
  "publicDecrypt",
  "privateEncrypt",
  "privateDecrypt",
  "createHmac",
  "createSign",
  "createVerify",
  "sign",
  "verify",
]);

test("one cryptographic core: KMIP and the key services run ciphers, MACs and signatures through src/crypto/ only", () => {
  const found: string[] = [];
  for (const abs of [...sourceFiles(join(root, "src/kmip")), ...sourceFiles(join(root, "src/keys"))]) {
    const file = rel(abs);
    const sf = ts.createSourceFile(file, readFileSync(abs, "utf8"), ts.ScriptTarget.ES2022, true);
    for (const st of sf.statements) {
      if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
      if (st.moduleSpecifier.text !== "node:crypto" && st.moduleSpecifier.text !== "crypto") continue;
      const named = st.importClause?.namedBindings;
      if (named && ts.isNamespaceImport(named)) found.push(`${file}: imports all of node:crypto`);
      if (named && ts.isNamedImports(named))
        for (const e of named.elements) {
          const n = (e.propertyName ?? e.name).text;
          if (!e.isTypeOnly && PRIMITIVES.has(n)) found.push(`${file}: ${n} from node:crypto`);
        }
    }
  }
  assert.deepEqual(found, [], `use the primitives of src/crypto/ (sym-cipher, rsa-cipher, signature, mac, key-wrap):\n${found.join("\n")}`);
});

/** An identity as the listeners produce it; the services decide on its role alone. */
const as = (role: Identity["role"], cn: string): Identity => ({ cn, ou: "test", role, serial: "0A", address: "127.0.0.1" });

test("audit query and verify, governance read and the API description are authorized and audited by their services", async () => {
  const i = await newInstance();
  try {
    const app = i.server.app;
    const ctx = (role: Identity["role"]) => ({ actor: as(role, `svc-${role}`), requestId: `req-${role}` });
    const checker = { actor: as("auditor", "checker"), requestId: "req-check" };
    const calls: Record<string, (c: ReturnType<typeof ctx>) => Promise<unknown>> = {
      "audit.query": (c) => app.auditQuery.query(c, {}),
      "audit.verify": (c) => app.auditQuery.verify(c),
      "governance.read": (c) => app.governance.read(c),
      "sys.openapi": (c) => app.sys.describeApi(c, { openapi: "3.1.0" }),
    };
    const allowed: Record<string, Identity["role"][]> = {
      "audit.query": ["auditor"],
      "audit.verify": ["auditor"],
      "governance.read": ["admin", "auditor", "client"],
      "sys.openapi": ["admin", "auditor", "client"],
    };
    for (const [action, call] of Object.entries(calls)) {
      for (const role of ["admin", "auditor", "client", "peer"] as const) {
        const c = ctx(role);
        if (allowed[action].includes(role)) await call(c);
        else await assert.rejects(call(c), { code: "forbidden" }, `${action} as ${role}`);
        const { events } = await app.auditQuery.query(checker, { action, actor: c.actor.cn as string });
        assert.equal(events.length, 1, `${action} as ${role}: one event`);
        assert.equal(events[0].outcome, allowed[action].includes(role) ? "success" : "denied", `${action} as ${role}`);
        assert.equal(events[0].requestId, c.requestId);
      }
    }
  } finally {
    await i.cleanup();
  }
});

test("GET /v1/audit refuses an impossible time as invalid input, not as an internal error", async () => {
  const i = await newInstance();
  try {
    const r = await i.as.auditor.call("GET", "/v1/audit?from=2024-13-45");
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "validation");
    const ok = await i.as.auditor.call("GET", "/v1/audit?from=2024-01-01&limit=1");
    assert.equal(ok.status, 200);
    assert.equal(ok.body.events.length, 1);
  } finally {
    await i.cleanup();
  }
});

test("KMIP through its services: each batch item is authorized and audited on its own, an undone batch and an unreadable message too", async () => {
  const i = await newInstance();
  const app = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
  const auditor = await KmipClient.open(i.server.kmipPort, i.bundle("auditor"));
  try {
    const V: [number, number] = [2, 1];
    const aes = [
      enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
      struct(Tag.Attributes, enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES), int(Tag.CryptographicLength, 128)),
    ];
    const cont = enm(Tag.BatchErrorContinuationOption, Enum.BatchErrorContinuationOption.Continue);
    const undo = enm(Tag.BatchErrorContinuationOption, Enum.BatchErrorContinuationOption.Undo);
    // One message, three items: each its own event with its own outcome.
    const rs = await app.call(
      V,
      [
        ["Create", aes],
        ["Certify", []],
        ["Query", [enm(Tag.QueryFunction, Enum.QueryFunction.QueryOperations)]],
      ],
      [cont],
    );
    assert.deepEqual(
      rs.map((r) => r.status),
      [Enum.ResultStatus.Success, Enum.ResultStatus.OperationFailed, Enum.ResultStatus.Success],
    );
    // The role gate is the service's: an auditor may not create.
    const [denied] = await auditor.call(V, [["Create", aes]]);
    assert.equal(denied.status, Enum.ResultStatus.OperationFailed);
    // Undo: the Create is reverted once the Get of an unknown object fails, as one kmip.undo event.
    const ur = await app.call(
      V,
      [
        ["Create", aes],
        ["Get", [text(Tag.UniqueIdentifier, "no-such-object")]],
      ],
      [undo],
    );
    assert.deepEqual(
      ur.map((r) => r.status),
      [Enum.ResultStatus.OperationUndone, Enum.ResultStatus.OperationFailed],
    );
    // An unreadable message.
    assert.ok((await app.sendRaw(Buffer.from("420078010000000842007c0100000000", "hex"))).length > 0);

    const checker = { actor: as("auditor", "checker"), requestId: "req-check" };
    const events = async (action: string, actor: string) =>
      (await i.server.app.auditQuery.query(checker, { action, actor })).events.map((e) => e.outcome);
    assert.deepEqual(await events("kmip.create", "app"), ["success", "success"]);
    assert.deepEqual(await events("kmip.create", "auditor"), ["denied"]);
    assert.deepEqual(await events("kmip.certify", "app"), ["error"]);
    assert.deepEqual(await events("kmip.query", "app"), ["success"]);
    assert.deepEqual(await events("kmip.get", "app"), ["error"]);
    assert.deepEqual(await events("kmip.undo", "app"), ["success"]);
    assert.deepEqual(await events("kmip.message", "app"), ["error"]);
  } finally {
    app.close();
    auditor.close();
    await i.cleanup();
  }
});
