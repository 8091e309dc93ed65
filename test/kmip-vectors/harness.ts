// OASIS KMIP conformance vectors: read a test-case file, play its requests against a live server, compare the responses.
//
// A vector file is a <KMIP> element holding RequestMessage/ResponseMessage pairs in the XML encoding. Placeholders
// ("$UNIQUE_IDENTIFIER_0", "$NOW-3600", "$DATA_0" …) stand for values only the server under test can produce:
//   - in an expected response, the first occurrence of a placeholder BINDS it to the value the server returned at that
//     position; a later occurrence must equal the bound value. So "$UNIQUE_IDENTIFIER_n" is the n-th distinct
//     server-generated Unique Identifier in order of appearance in the expected responses;
//   - in a request, a bound placeholder is replaced by its value; "$NOW", "$NOW+N", "$NOW-N" by the current time
//     (± N seconds). An unbound placeholder in a request is an error in the harness or the vector.
//
// Responses are compared structurally: the same tags, types and order, and equal values — except for values a
// conforming server chooses itself. Those exceptions are listed below (SERVER_CHOSEN, MATERIAL_DERIVED, the
// randomized-output rules, OPTIONAL_IN) with the reason for each; nothing else is ignored.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { basename, join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import {
  decodeTtlv,
  encodeTtlv,
  find,
  findAll,
  ItemType,
  jsonToTtlv,
  parseXml,
  Tag,
  type TtlvItem,
  tagByName,
  tagName,
  ttlvToJson,
  ttlvToXml,
  type XmlElement,
  xmlElementToTtlv,
  xmlToTtlv,
} from "../../src/kmip/codec/index.js";
import { enumName } from "../../src/kmip/codec/names.js";
import { formatValue, ITEM_TYPE_BY_NAME, ITEM_TYPE_NAME, namingTag, parseValue } from "../../src/kmip/codec/values.js";

// ---------------------------------------------------------------------------------------------------------------------
// Files

export interface VectorStep {
  request: XmlElement;
  response: XmlElement;
}

export interface VectorFile {
  /** Absolute path. */
  path: string;
  /** "SKLC-M-1-14" */
  id: string;
  /** "v1.4/mandatory/SKLC-M-1-14.xml" */
  rel: string;
  version: string;
  kind: "mandatory" | "optional";
}

/** Every vector file of the given versions under `dir` (`<dir>/<version>/<mandatory|optional>/*.xml`), sorted. */
export function listVectorFiles(dir: string, versions = ["v1.4", "v2.1"]): VectorFile[] {
  const out: VectorFile[] = [];
  for (const version of versions) {
    for (const kind of ["mandatory", "optional"] as const) {
      const sub = join(dir, version, kind);
      let names: string[];
      try {
        if (!statSync(sub).isDirectory()) continue;
        names = readdirSync(sub);
      } catch {
        continue;
      }
      for (const name of names.filter((n) => n.endsWith(".xml")).sort(byNaturalName)) {
        out.push({ path: join(sub, name), id: basename(name, ".xml"), rel: `${version}/${kind}/${name}`, version, kind });
      }
    }
  }
  return out;
}

/** "CS-BC-M-2-14" before "CS-BC-M-10-14". */
function byNaturalName(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

/** The request/response pairs of a vector file. */
export function loadSteps(path: string): VectorStep[] {
  return parseSteps(readFileSync(path, "utf8"), path);
}

/** The request/response pairs of a vector document (`<KMIP>` holding RequestMessage/ResponseMessage pairs). */
export function parseSteps(xml: string, path = "vector"): VectorStep[] {
  const root = parseXml(xml, { maxChars: 16 * 1024 * 1024 });
  if (root.name !== "KMIP") throw new Error(`${path}: root element is <${root.name}>, not <KMIP>`);
  const steps: VectorStep[] = [];
  const els = root.children;
  for (let i = 0; i < els.length; i += 2) {
    const [req, res] = [els[i], els[i + 1]];
    if (req.name !== "RequestMessage" || res?.name !== "ResponseMessage") {
      throw new Error(`${path}: expected RequestMessage/ResponseMessage pairs, found <${req.name}>/<${res?.name}>`);
    }
    steps.push({ request: req, response: res });
  }
  return steps;
}

/** Operations whose request attributes give a new or existing object a Name. */
const NAMING_OPS = new Set([
  "Create",
  "CreateKeyPair",
  "Register",
  "Import",
  "DeriveKey",
  "Certify",
  "AddAttribute",
  "ModifyAttribute",
  "SetAttribute",
]);

/**
 * Name Values a vector's requests give to objects (a server refuses a second object with the same Name). Names a
 * file only looks for (Locate) are not counted: some files locate the objects an earlier file of their group made.
 */
export function namesUsed(steps: VectorStep[]): string[] {
  const out = new Set<string>();
  const walk = (el: XmlElement) => {
    if (el.name === "NameValue" && el.attributes.value && !el.attributes.value.startsWith("$")) out.add(el.attributes.value);
    for (const c of el.children) walk(c);
  };
  for (const s of steps) {
    for (const item of s.request.children.filter((c) => c.name === "BatchItem")) {
      const op = item.children.find((c) => c.name === "Operation")?.attributes.value ?? "";
      if (NAMING_OPS.has(op)) walk(item);
    }
  }
  return [...out];
}

// ---------------------------------------------------------------------------------------------------------------------
// Transports

export interface Bundle {
  cert: string;
  key: string;
  ca: string;
}

export interface Transport {
  readonly name: string;
  exchange(request: TtlvItem): Promise<TtlvItem>;
  close(): void;
}

/** One persistent mutual-TLS connection to the KMIP port; TTLV frames, answered in order. */
export async function tlsTransport(port: number, bundle: Bundle, host = "127.0.0.1"): Promise<Transport> {
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    const s = connect({ host, port, servername: "localhost", ...bundle, minVersion: "TLSv1.2" }, () => resolve(s));
    s.once("error", reject);
  });
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  const waiting: { resolve: (b: Buffer) => void; reject: (e: Error) => void }[] = [];
  const failAll = (e: Error) => {
    for (const w of waiting.splice(0)) w.reject(e);
  };
  socket.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const total = 8 + buf.readUInt32BE(4);
      if (buf.length < total) break;
      const frame = buf.subarray(0, total);
      buf = buf.subarray(total);
      waiting.shift()?.resolve(Buffer.from(frame));
    }
  });
  socket.on("error", (e) => failAll(e));
  socket.on("close", () => failAll(new Error("KMIP connection closed by the server")));
  return {
    name: "tls",
    exchange(req) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error("no response within 30 s"));
        }, 30_000);
        waiting.push({
          resolve: (b) => {
            clearTimeout(timer);
            resolve(decodeTtlv(b));
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        socket.write(encodeTtlv(req));
      });
    },
    close() {
      socket.destroy();
    },
  };
}

export type HttpEncoding = "ttlv" | "json" | "xml";
const CONTENT_TYPE: Record<HttpEncoding, string> = { ttlv: "application/octet-stream", json: "application/json", xml: "text/xml" };

/** KMIP over HTTPS: `POST /kmip` with the TTLV, JSON or XML encoding (KMIP HTTPS and message-encoding profiles). */
export function httpsTransport(baseUrl: string, bundle: Bundle, encoding: HttpEncoding): Transport {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ...bundle, minVersion: "TLSv1.2" });
  return {
    name: `https/${encoding}`,
    exchange(req) {
      const body = encoding === "ttlv" ? encodeTtlv(req) : Buffer.from(encoding === "json" ? ttlvToJson(req) : ttlvToXml(req), "utf8");
      return new Promise((resolve, reject) => {
        const r = httpsRequest(
          new URL("/kmip", baseUrl),
          { method: "POST", agent, headers: { "content-type": CONTENT_TYPE[encoding], "content-length": String(body.length) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("error", reject);
            res.on("end", () => {
              const out = Buffer.concat(chunks);
              try {
                if (res.statusCode !== 200)
                  throw new Error(`POST /kmip answered HTTP ${res.statusCode}: ${out.toString("utf8").slice(0, 300)}`);
                const type = String(res.headers["content-type"] ?? "")
                  .split(";")[0]
                  .trim();
                if (type !== CONTENT_TYPE[encoding]) throw new Error(`POST /kmip answered ${type}, expected ${CONTENT_TYPE[encoding]}`);
                resolve(
                  encoding === "ttlv"
                    ? decodeTtlv(out)
                    : encoding === "json"
                      ? jsonToTtlv(out.toString("utf8"))
                      : xmlToTtlv(out.toString("utf8")),
                );
              } catch (e) {
                reject(e);
              }
            });
          },
        );
        r.on("error", reject);
        r.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Comparison rules

const T = (name: string): number => {
  const t = tagByName(name);
  if (t === undefined) throw new Error(`harness: unknown tag ${name}`);
  return t;
};

/**
 * Items whose presence is the server's choice in the given parent: compared (by type) when both sides have them,
 * and not required on either side.
 *   - Response Header / Client Correlation Value, Server Correlation Value: informational correlation strings (KMIP 1.4
 *     §6.20-6.21, 2.1 §6.1.9: the server "SHOULD" log them; echoing is not required);
 *   - Batch Item / Result Message: free text "to provide additional information", optional in every version.
 */
const OPTIONAL_IN: ReadonlyMap<number, ReadonlySet<number>> = new Map([
  [T("ResponseHeader"), new Set([T("ClientCorrelationValue"), T("ServerCorrelationValue")])],
  [T("BatchItem"), new Set([T("ResultMessage")])],
]);

/** Values the server chooses itself whatever the inputs: compared by tag and type only. */
const SERVER_CHOSEN: ReadonlySet<number> = new Set([
  T("ResultMessage"), // free text
  T("ServerCorrelationValue"),
  T("CorrelationValue"), // token for a multi-part (streaming) cryptographic operation
  T("ShortUniqueIdentifier"),
  T("NonceID"),
  T("NonceValue"),
  T("LeaseTime"), // server lease policy (Obtain Lease)
]);

/**
 * Values computed from key material. Compared exactly when every object the request names was registered in this
 * file with client-supplied material; when one of them was generated by the server (Create, Create Key Pair,
 * Re-key …) the reference run's value cannot be reproduced, and only tag and type are compared.
 */
const MATERIAL_DERIVED: ReadonlySet<number> = new Set(
  [
    "KeyMaterial",
    "Key",
    "KeyValue",
    "DigestValue",
    "Modulus",
    "PublicExponent",
    "PrivateExponent",
    "P",
    "Q",
    "G",
    "X",
    "Y",
    "J",
    "D",
    "QString",
    "PrimeExponentP",
    "PrimeExponentQ",
    "CRTCoefficient",
    "CertificateValue",
    "Data",
    "SignatureData",
    "MACData",
    "AuthenticatedEncryptionTag",
    "IVCounterNonce",
  ].map(T),
);

/** Operations whose response identifiers name objects with server-generated material. */
const GENERATING_OPS = new Set([
  "Create",
  "CreateKeyPair",
  "ReKey",
  "ReKeyKeyPair",
  "DeriveKey",
  "Certify",
  "ReCertify",
  "CreateSplitKey",
  "JoinSplitKey",
]);
/** Operations whose response identifiers name objects with client-supplied material. */
const REGISTERING_OPS = new Set(["Register", "Import"]);

/** Query describes the server's own capabilities (operations, object types, server information …). */
const CAPABILITY_OPS = new Set(["Query"]);

interface ObjectInfo {
  origin: "generated" | "registered";
  objectType?: string;
  algorithm?: string;
}

// ---------------------------------------------------------------------------------------------------------------------
// Running a file

export class VectorMismatch extends Error {}

export interface RunOptions {
  /** Called with the time used for "$NOW" before each request (the harness drives the server's clock with it). */
  setNow?: (ms: number) => void;
  /** Seconds a "$NOW" date may differ from the time of its request (dates set by earlier steps are older). */
  dateToleranceSeconds?: number;
}

interface ItemCtx {
  operation: string;
  request: TtlvItem | undefined;
  /** Identifiers the request's batch item names (or its ID placeholder). */
  ids: string[];
  /** Whether material-derived values can be reproduced (all named objects registered in this file). */
  deterministicMaterial: boolean;
  /** The response lists all of an object's attributes (Get Attribute List, Get Attributes naming none). */
  allAttributes: boolean;
  /** The request's Data was written out in the vector (not a value this server returned earlier). */
  literalData: boolean;
}

export class VectorRun {
  readonly bindings = new Map<string, TtlvItem>();
  readonly objects = new Map<string, ObjectInfo>();
  /** The latest value the server returned for each field (by lower-cased XML tag name). */
  private readonly lastByField = new Map<string, TtlvItem>();
  private now = 0;

  constructor(
    private readonly transport: Transport,
    private readonly options: RunOptions = {},
  ) {}

  /** Plays every step of the file; throws VectorMismatch at the first difference. Returns the number of steps. */
  async run(steps: VectorStep[]): Promise<number> {
    for (const [i, step] of steps.entries()) {
      try {
        await this.step(step);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new VectorMismatch(`step ${i} (${opsOf(step.request).join(",") || "?"}): ${msg}`);
      }
    }
    return steps.length;
  }

  private async step(step: VectorStep): Promise<void> {
    this.now = Math.floor(Date.now() / 1000) * 1000;
    this.options.setNow?.(this.now);
    const req = xmlElementToTtlv(step.request, { resolveValue: (text, { type }) => this.substitute(text, type) });
    const res = await this.transport.exchange(req);
    this.compareMessage(step, res, req);
  }

  /**
   * Some vectors name a value by the response field it came from without binding it ("$MAC_DATA" after a MAC
   * response whose MAC Data is written out, "$DATA_0" after an Encrypt): such a placeholder stands for the latest
   * value of that field ("MAC_DATA" → MACData) the server returned.
   */
  private lastOfField(text: string): TtlvItem | undefined {
    const key = text.slice(1).replace(/_\d+$/, "").replace(/_/g, "").toLowerCase();
    return this.lastByField.get(key);
  }

  private remember(item: TtlvItem): void {
    if (item.type === ItemType.Structure) {
      for (const c of item.value) this.remember(c);
      return;
    }
    this.lastByField.set(tagName(item.tag).toLowerCase(), item);
  }

  /** Request-side placeholder substitution. */
  private substitute(text: string, type: ItemType): string {
    if (!text.startsWith("$")) return text;
    const now = /^\$NOW(?:([+-])(\d+))?$/.exec(text);
    if (now) {
      if (type !== ItemType.DateTime && type !== ItemType.DateTimeExtended)
        throw new Error(`${text} used for a ${ITEM_TYPE_NAME.get(type)}`);
      return iso(this.now + (now[1] === "-" ? -1 : 1) * Number(now[2] ?? 0) * 1000);
    }
    const bound = this.bindings.get(text) ?? this.lastOfField(text);
    if (!bound) throw new Error(`request uses ${text} before any response bound it`);
    if (bound.type !== type)
      throw new Error(`${text} is bound to a ${ITEM_TYPE_NAME.get(bound.type)} but used as a ${ITEM_TYPE_NAME.get(type)}`);
    return formatValue(bound, bound.tag, " ");
  }

  private compareMessage(step: VectorStep, actual: TtlvItem, req: TtlvItem): void {
    const expected = step.response;
    const reqItems = findAll(req, Tag.BatchItem);
    let placeholder: string | undefined;
    // The header first, then each batch item with its own context.
    if (actual.tag !== Tag.ResponseMessage || actual.type !== ItemType.Structure) {
      throw new Error(`expected a ResponseMessage, got ${tagName(actual.tag)}`);
    }
    const expHeader = expected.children.find((c) => c.name === "ResponseHeader");
    const expItems = expected.children.filter((c) => c.name === "BatchItem");
    if (expected.children.length !== expItems.length + (expHeader ? 1 : 0))
      throw new Error("harness: unexpected element in ResponseMessage");
    const actHeader = find(actual, Tag.ResponseHeader);
    const actItems = findAll(actual, Tag.BatchItem);
    if (actual.value.length !== actItems.length + (actHeader ? 1 : 0)) throw new Error("unexpected item in ResponseMessage");
    if (expHeader) this.compare(expHeader, actHeader, "ResponseHeader", undefined, undefined);
    if (actItems.length !== expItems.length) {
      throw new Error(`ResponseMessage: ${actItems.length} batch items, expected ${expItems.length}${describeFailures(actItems)}`);
    }
    expItems.forEach((exp, i) => {
      const act = actItems[i];
      const reqItem = reqItems[i];
      const opEl = exp.children.find((c) => c.name === "Operation");
      const operation = opEl?.attributes.value ?? "";
      const payload = reqItem ? find(reqItem, Tag.RequestPayload) : undefined;
      const ids = payload ? idsIn(payload) : [];
      if (ids.length === 0 && placeholder) ids.push(placeholder);
      const ctx: ItemCtx = {
        operation,
        request: reqItem,
        ids,
        deterministicMaterial: ids.length > 0 && ids.every((id) => this.objects.get(id)?.origin === "registered"),
        literalData: literalDataIn(step.request, i),
        allAttributes:
          operation === "GetAttributeList" ||
          (operation === "GetAttributes" && !!payload && !find(payload, Tag.AttributeName) && !find(payload, Tag.AttributeReference)),
      };
      try {
        this.compare(exp, act, `BatchItem[${i}]`, undefined, ctx);
      } catch (e) {
        throw new Error(`${(e as Error).message}${describeFailures([act])}`);
      }
      // Learn what the server created, and the ID placeholder for the next item.
      const resPayload = find(act, Tag.ResponsePayload);
      if (!resPayload) return;
      this.remember(resPayload);
      const created = [Tag.UniqueIdentifier, Tag.PrivateKeyUniqueIdentifier, Tag.PublicKeyUniqueIdentifier]
        .flatMap((t) => findAll(resPayload, t))
        .filter((x) => x.type === ItemType.TextString)
        .map((x) => x.value as string);
      if (GENERATING_OPS.has(operation)) for (const id of created) this.objects.set(id, { origin: "generated" });
      if (REGISTERING_OPS.has(operation) && payload) {
        const ot = find(payload, Tag.ObjectType);
        const alg = findDeep(payload, Tag.CryptographicAlgorithm);
        for (const id of created) {
          this.objects.set(id, {
            origin: "registered",
            objectType: ot ? enumName(Tag.ObjectType, ot.value as number) : undefined,
            algorithm: alg ? enumName(Tag.CryptographicAlgorithm, alg.value as number) : undefined,
          });
        }
      }
      const first = created[0];
      if (first) placeholder = first;
    });
  }

  /** Compares one expected element with the actual item; throws an Error naming the path of the first difference. */
  private compare(
    exp: XmlElement,
    act: TtlvItem | undefined,
    path: string,
    attributeName: string | undefined,
    ctx: ItemCtx | undefined,
  ): void {
    const expTag = tagByName(exp.name === "TTLV" ? exp.attributes.tag : exp.name);
    if (expTag === undefined) throw new Error(`${path}: harness cannot resolve <${exp.name}>`);
    if (!act) throw new Error(`${path}: missing (expected ${exp.name})`);
    if (act.tag !== expTag) throw new Error(`${path}: got ${tagName(act.tag)}, expected ${tagName(expTag)}`);
    const expType = exp.attributes.type === undefined ? ItemType.Structure : ITEM_TYPE_BY_NAME.get(exp.attributes.type);
    if (act.type !== expType)
      throw new Error(`${path}: type ${ITEM_TYPE_NAME.get(act.type)}, expected ${exp.attributes.type ?? "Structure"}`);

    if (act.type === ItemType.Structure) {
      if (expTag === Tag.RandomNumberGenerator || (expTag === Tag.AttributeValue && attributeName === "Random Number Generator")) {
        // The server's own random number generator (like a Query answer, it describes the server, not the object's
        // inputs): RNG Parameters with an RNG Algorithm, whatever the reference server used.
        const alg = find(act, Tag.RNGAlgorithm);
        if (!alg || alg.type !== ItemType.Enumeration) throw new Error(`${path}: RNG Parameters without an RNG Algorithm`);
        return;
      }
      const optional = OPTIONAL_IN.get(expTag);
      const expChildren = exp.children.filter((c) => !optional?.has(tagByName(c.name) ?? -1));
      const actChildren = act.value.filter((c) => !optional?.has(c.tag));
      if (optional) {
        // Optional items present on both sides still have to be of the right type.
        for (const c of exp.children.filter((c) => optional.has(tagByName(c.name) ?? -1))) {
          const other = find(act, tagByName(c.name) as number);
          if (other && ITEM_TYPE_NAME.get(other.type) !== c.attributes.type) throw new Error(`${path}/${c.name}: wrong type`);
        }
      }
      if (expTag === Tag.ResponsePayload && ctx && CAPABILITY_OPS.has(ctx.operation)) {
        this.compareCapabilities(expChildren, actChildren, path);
        return;
      }
      if (
        ctx?.allAttributes &&
        (expTag === Tag.ResponsePayload || (expTag === Tag.Attributes && path.endsWith("/ResponsePayload/Attributes")))
      ) {
        if (!(expTag === Tag.ResponsePayload && ctx.operation === "GetAttributes" && exp.children.some((c) => c.name === "Attributes"))) {
          this.compareAttributeSet(expChildren, actChildren, path, ctx);
          return;
        }
      }
      const counts = new Map<string, number>();
      for (const c of expChildren) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
      const seen = new Map<string, number>();
      let name: string | undefined;
      for (let i = 0; i < Math.max(expChildren.length, actChildren.length); i++) {
        const e = expChildren[i];
        const a = actChildren[i];
        if (!e) {
          throw new Error(
            `${path}: unexpected ${tagName(a.tag)} after the last expected item${a.type === ItemType.Structure ? "" : ` (${show(a)})`}`,
          );
        }
        const n = seen.get(e.name) ?? 0;
        seen.set(e.name, n + 1);
        const childPath = `${path}/${e.name}${(counts.get(e.name) ?? 0) > 1 ? `[${n}]` : ""}`;
        this.compare(e, a, childPath, name, ctx);
        if (e.name === "AttributeName") name = e.attributes.value;
      }
      return;
    }

    const text = exp.attributes.value ?? "";
    if (text.startsWith("$")) {
      this.comparePlaceholder(text, act, path);
      return;
    }
    const want = parseValue(expType as ItemType, text, namingTag(expTag, attributeName));
    if (sameValue(want, act.value)) return;
    const why = this.tolerated(act, ctx);
    if (why) return;
    throw new Error(`${path}: got ${show(act, attributeName)}, expected ${text}`);
  }

  /**
   * All of an object's attributes (Get Attribute List, Get Attributes naming none): KMIP defines no order for them,
   * and which attributes a server keeps beyond the ones the client set and the ones the specification requires is
   * the server's business. So each expected attribute must be present (the n-th instance of a name matched with
   * the n-th) and equal, in any order; further attributes are allowed.
   */
  private compareAttributeSet(exp: XmlElement[], act: TtlvItem[], path: string, ctx: ItemCtx): void {
    const used = new Set<number>();
    const seen = new Map<string, number>();
    for (const e of exp) {
      const key = xmlAttributeKey(e);
      const n = seen.get(key) ?? 0;
      seen.set(key, n + 1);
      let k = -1;
      let count = 0;
      for (let j = 0; j < act.length; j++) {
        if (ttlvAttributeKey(act[j]) !== key) continue;
        if (count++ === n) {
          k = j;
          break;
        }
      }
      if (k < 0) throw new Error(`${path}: ${key} missing`);
      used.add(k);
      this.compare(e, act[k], `${path}/{${key}${n ? ` #${n}` : ""}}`, undefined, ctx);
    }
  }

  /** Why a differing value is acceptable, or null. */
  private tolerated(act: TtlvItem, ctx: ItemCtx | undefined): string | null {
    if (SERVER_CHOSEN.has(act.tag)) return "server-chosen";
    if (!ctx) return null;
    const req = ctx.request ? find(ctx.request, Tag.RequestPayload) : undefined;
    if (ctx.operation === "RNGRetrieve" && act.tag === Tag.Data) return "random output";
    // Data is derived output where it is ciphertext (Encrypt), or the plaintext of ciphertext the vector wrote out
    // from the reference run under a key generated there (Decrypt of a literal). The plaintext of this server's own
    // ciphertext, or a Hash of the vector's input, is reproducible and compared.
    if (act.tag === Tag.Data && ctx.operation !== "Encrypt" && !(ctx.operation === "Decrypt" && ctx.literalData)) return null;
    if (MATERIAL_DERIVED.has(act.tag)) {
      if (!ctx.deterministicMaterial) return "derived from server-generated key material";
      // Randomness even with client-supplied keys:
      if (act.tag === Tag.IVCounterNonce && req && !findDeep(req, Tag.IVCounterNonce)) return "IV chosen by the server";
      if (ctx.operation === "Encrypt" && req && !findDeep(req, Tag.IVCounterNonce) && this.randomIv(req))
        return "encrypted under a server-chosen IV";
      if ((ctx.operation === "Encrypt" || ctx.operation === "Sign") && this.randomizedAsymmetric(ctx, req))
        return "randomized asymmetric scheme";
    }
    return null;
  }

  /** Whether the server had to choose an IV: a block cipher mode other than ECB (the default for a key without parameters is CBC). */
  private randomIv(req: TtlvItem): boolean {
    const mode = findDeep(req, Tag.BlockCipherMode);
    return !mode || enumName(Tag.BlockCipherMode, mode.value as number) !== "ECB";
  }

  /** RSA encryption (OAEP, PKCS#1 v1.5 padding), ECDSA/DSA and RSA-PSS signatures are randomized. */
  private randomizedAsymmetric(ctx: ItemCtx, req: TtlvItem | undefined): boolean {
    const info = ctx.ids.map((id) => this.objects.get(id)).find((o) => o?.objectType === "PrivateKey" || o?.objectType === "PublicKey");
    const dsa = req ? findDeep(req, Tag.DigitalSignatureAlgorithm) : undefined;
    const pad = req ? findDeep(req, Tag.PaddingMethod) : undefined;
    const alg = req ? findDeep(req, Tag.CryptographicAlgorithm) : undefined;
    const names = [
      dsa && enumName(Tag.DigitalSignatureAlgorithm, dsa.value as number),
      pad && enumName(Tag.PaddingMethod, pad.value as number),
      alg && enumName(Tag.CryptographicAlgorithm, alg.value as number),
      info?.algorithm,
    ].filter(Boolean) as string[];
    if (ctx.operation === "Encrypt") return Boolean(info) || names.some((n) => /RSA|OAEP|PKCS1/i.test(n));
    return names.some((n) => /EC|DSA|PSS/.test(n));
  }

  /** Binds a response placeholder on first sight; afterwards the server must return the same value. "$NOW±N" is a time window. */
  private comparePlaceholder(text: string, act: TtlvItem, path: string): void {
    const now = /^\$NOW(?:([+-])(\d+))?$/.exec(text);
    if (now) {
      if (act.type !== ItemType.DateTime) throw new Error(`${path}: ${text} but got a ${ITEM_TYPE_NAME.get(act.type)}`);
      const want = this.now / 1000 + (now[1] === "-" ? -1 : 1) * Number(now[2] ?? 0);
      const got = Number(act.value);
      const tol = this.options.dateToleranceSeconds ?? 600;
      if (Math.abs(got - want) > tol) throw new Error(`${path}: got ${show(act)}, expected ${text} = ${iso(want * 1000)} (±${tol} s)`);
      return;
    }
    const bound = this.bindings.get(text);
    if (!bound) {
      this.bindings.set(text, act);
      return;
    }
    if (bound.type !== act.type || !sameValue(bound.value, act.value)) {
      throw new Error(`${path}: got ${show(act)}, expected ${text} = ${show(bound)}`);
    }
  }

  /**
   * A Query answer lists what this server supports, so the reference server's lists cannot be expected verbatim:
   * the answer must have the same sequence of item kinds (runs of Operation, Object Type …, each of the right type),
   * with at least one item in each run; structures in it (Server Information …) are compared by their tags only.
   */
  private compareCapabilities(exp: XmlElement[], act: TtlvItem[], path: string): void {
    const runs = <X>(list: X[], tagOf: (x: X) => number) => {
      const out: { tag: number; n: number }[] = [];
      for (const x of list) {
        const t = tagOf(x);
        if (out.length && out[out.length - 1].tag === t) out[out.length - 1].n++;
        else out.push({ tag: t, n: 1 });
      }
      return out;
    };
    const e = runs(exp, (x) => tagByName(x.name) as number);
    const a = runs(act, (x) => x.tag);
    const show = (r: { tag: number; n: number }[]) => r.map((x) => `${tagName(x.tag)}×${x.n}`).join(", ");
    if (e.length !== a.length || e.some((r, i) => r.tag !== a[i].tag))
      throw new Error(`${path}: capability lists ${show(a)}, expected ${show(e)}`);
    for (const x of exp) {
      const t = tagByName(x.name) as number;
      const other = act.find((y) => y.tag === t);
      if (!other || ITEM_TYPE_NAME.get(other.type) !== (x.attributes.type ?? "Structure")) throw new Error(`${path}/${x.name}: wrong type`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

function opsOf(req: XmlElement): string[] {
  return req.children
    .filter((c) => c.name === "BatchItem")
    .map((b) => b.children.find((c) => c.name === "Operation")?.attributes.value ?? "?");
}

function literalDataIn(req: XmlElement, i: number): boolean {
  const item = req.children.filter((c) => c.name === "BatchItem")[i];
  const data = item?.children.find((c) => c.name === "RequestPayload")?.children.find((c) => c.name === "Data");
  return data !== undefined && !(data.attributes.value ?? "").startsWith("$");
}

function idsIn(payload: TtlvItem): string[] {
  const out: string[] = [];
  const walk = (it: TtlvItem) => {
    if ((it.tag === Tag.UniqueIdentifier || it.tag === Tag.PrivateKeyUniqueIdentifier) && it.type === ItemType.TextString)
      out.push(it.value);
    if (it.type === ItemType.Structure) for (const c of it.value) walk(c);
  };
  walk(payload);
  return out;
}

/** What identifies an item in an attribute list: its tag, plus the attribute or vendor name where the tag is generic. */
function xmlAttributeKey(e: XmlElement): string {
  const child = (n: string) => e.children.find((c) => c.name === n)?.attributes.value ?? "";
  if (e.name === "AttributeName" || (e.name === "AttributeReference" && e.attributes.type)) return `${e.name}=${e.attributes.value}`;
  if (e.name === "AttributeReference" || (e.name === "Attribute" && e.children.some((c) => c.name === "VendorIdentification"))) {
    return `${e.name}=${child("VendorIdentification")}/${child("AttributeName")}`;
  }
  if (e.name === "Attribute") return `Attribute=${child("AttributeName")}`;
  return e.name;
}

function ttlvAttributeKey(a: TtlvItem): string {
  const name = tagName(a.tag);
  const child = (t: number) => String(find(a, t)?.value ?? "");
  if (a.tag === Tag.AttributeName && a.type === ItemType.TextString) return `${name}=${a.value}`;
  if (a.tag === Tag.AttributeReference && a.type === ItemType.Enumeration) return `${name}=${enumName(Tag.AttributeReference, a.value)}`;
  if (a.tag === Tag.AttributeReference || (a.tag === Tag.Attribute && find(a, Tag.VendorIdentification))) {
    return `${name}=${child(Tag.VendorIdentification)}/${child(Tag.AttributeName)}`;
  }
  if (a.tag === Tag.Attribute) return `Attribute=${child(Tag.AttributeName)}`;
  return name;
}

function findDeep(parent: TtlvItem, tag: number): TtlvItem | undefined {
  if (parent.type !== ItemType.Structure) return undefined;
  for (const c of parent.value) {
    if (c.tag === tag) return c;
    const d = findDeep(c, tag);
    if (d) return d;
  }
  return undefined;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (typeof a === "bigint" || typeof b === "bigint") return BigInt(a as bigint) === BigInt(b as bigint);
  return a === b;
}

function show(item: TtlvItem, attributeName?: string): string {
  if (item.type === ItemType.Structure) return `${tagName(item.tag)}{…}`;
  const s = formatValue(item, namingTag(item.tag, attributeName), " ");
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+00:00");
}

function describeFailures(items: TtlvItem[]): string {
  const failed = items.find((b) => find(b, Tag.ResultReason));
  if (!failed) return "";
  const reason = find(failed, Tag.ResultReason) as TtlvItem;
  const msg = find(failed, Tag.ResultMessage);
  return ` (server: ${enumName(Tag.ResultReason, reason.value as number)}${msg ? `: ${msg.value}` : ""})`;
}
