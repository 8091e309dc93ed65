// `strongroom certs …`: issue client certificates (bundle or CSR), list and revoke them.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CERT_ROLES, LEAF_KEY_TYPES } from "../../pki/cert-service.js";
import { type CommandSpec, optEnum, optInt, optStr, reqStr, seg } from "../command.js";
import { profileTarget, saveProfile } from "../connection.js";
import { CliError } from "../http-client.js";
import { kv, note, Progress, print, printJson, table } from "../output.js";

interface Issued {
  serial: string;
  certificate: string;
  ca: string;
  notAfter: string;
  role: string;
  privateKey?: string;
  pkcs12?: string;
  pkcs12Password?: string;
}

interface CertRecord {
  serial: string;
  cn: string;
  ou: string;
  role: string;
  notBefore: string;
  notAfter: string;
  status: string;
  revokedAt: string | null;
  issuedBy: string;
}

/** Writes the bundle files; refuses to overwrite any existing one. Secrets get mode 0600. */
function writeBundle(dir: string, r: Issued): Record<string, string> {
  const files: [string, string | Buffer, number][] = [
    ["cert.pem", r.certificate, 0o644],
    ["ca.pem", r.ca, 0o644],
  ];
  if (r.privateKey) files.push(["key.pem", r.privateKey, 0o600]);
  if (r.pkcs12) files.push(["bundle.p12", Buffer.from(r.pkcs12, "base64"), 0o600]);
  if (r.pkcs12Password) files.push(["bundle.p12.password", `${r.pkcs12Password}\n`, 0o600]);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const written: Record<string, string> = {};
  for (const [name, data, mode] of files) {
    const p = join(dir, name);
    writeFileSync(p, data, { mode, flag: "wx" });
    chmodSync(p, mode);
    written[name] = p;
  }
  return written;
}

const BUNDLE_FILES = ["cert.pem", "key.pem", "ca.pem", "bundle.p12", "bundle.p12.password"];

const issue: CommandSpec = {
  path: ["certs", "issue"],
  summary: "Issue a client certificate (CN = user, OU = group) with a role.",
  details:
    "Without --csr the server generates the key pair: --out DIR is then required (cert.pem, key.pem, ca.pem,\n" +
    "bundle.p12 and bundle.p12.password are written; secrets with mode 0600), unless --json is given, which prints\n" +
    "the whole response including the private key.\n" +
    "--save-profile NAME also adds a profile NAME to DIR/profiles.json (--dir, STRONGROOM_DIR or ./.strongroom) with\n" +
    "the server address used now and the absolute paths of the saved cert.pem, key.pem and ca.pem: afterwards\n" +
    "`strongroom --profile NAME …` connects as the new certificate. An existing profile is never replaced.",
  options: {
    cn: { type: "string", arg: "CN", help: "common name = user (required)" },
    ou: { type: "string", arg: "OU", help: "organizational unit = group" },
    role: { type: "string", arg: "ROLE", help: `required: ${CERT_ROLES.join(", ")}` },
    days: { type: "string", arg: "N", help: "validity in days (default 365)" },
    csr: { type: "string", arg: "FILE", help: "PEM PKCS#10 request: sign its key instead of generating one" },
    "new-principal": {
      type: "boolean",
      help: "the holder is a person of their own toward dual-control quorums (default: counts as you)",
    },
    "key-type": { type: "string", arg: "T", help: `generated key type: ${LEAF_KEY_TYPES.join(", ")} (default ec-p256)` },
    out: { type: "string", arg: "DIR", help: "write the bundle files into DIR (must not contain them already)" },
    "save-profile": { type: "string", arg: "NAME", help: "with --out: add a connection profile NAME for the new bundle to profiles.json" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const cn = reqStr(v, "cn");
    reqStr(v, "role");
    const role = optEnum(v, "role", CERT_ROLES);
    const csrFile = optStr(v, "csr");
    const keyType = optEnum(v, "key-type", LEAF_KEY_TYPES);
    if (csrFile && keyType) throw new CliError("--key-type does not apply with --csr (the key is in the request)");
    const outOpt = optStr(v, "out");
    const out = outOpt === undefined ? undefined : resolve(outOpt);
    if (!csrFile && !out && !inv.json) {
      throw new CliError("the server generates the private key: give --out DIR to save the bundle (or --csr FILE, or --json)");
    }
    const profileName = optStr(v, "save-profile");
    let profilesFile: string | undefined;
    if (profileName !== undefined) {
      if (!out || csrFile)
        throw new CliError("--save-profile needs --out DIR and a generated key (not --csr): the profile points at the saved bundle files");
      profilesFile = profileTarget(profileName, { dir: optStr(v, "dir") });
    }
    if (out) {
      const clash = BUNDLE_FILES.map((f) => join(out, f)).find((p) => existsSync(p));
      if (clash) throw new CliError(`${clash} exists: choose an empty --out directory`);
    }
    let csr: string | undefined;
    if (csrFile) {
      try {
        csr = readFileSync(csrFile, "utf8");
      } catch (e) {
        throw new CliError(
          `cannot read ${csrFile}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`,
          { code: "file_error" },
        );
      }
    }
    const body = {
      cn,
      ou: optStr(v, "ou"),
      role,
      days: optInt(v, "days", 1, 3650),
      csr,
      keyType,
      ...(v["new-principal"] === true ? { newPrincipal: true } : {}),
    };
    const progress = new Progress().spin(`issuing certificate for ${cn}…`);
    let r: Issued;
    try {
      r = await inv.api().call<Issued>("POST", "/v1/certs", { body });
    } finally {
      progress.done();
    }
    const files = out ? writeBundle(out, r) : null;
    if (files && profileName !== undefined && profilesFile !== undefined) {
      if (!files["key.pem"]) throw new CliError("the server returned no private key: no profile was saved", { code: "bad_response" });
      saveProfile(profilesFile, profileName, { addr: inv.api().addr, cert: files["cert.pem"], key: files["key.pem"], ca: files["ca.pem"] });
    }
    const saved = profileName !== undefined ? { profile: profileName, profiles: profilesFile } : {};
    if (inv.json) {
      if (files) printJson({ serial: r.serial, role: r.role, notAfter: r.notAfter, files, ...saved });
      else printJson(r);
      return 0;
    }
    print(kv({ serial: r.serial, cn, ou: body.ou, role: r.role, "not after": r.notAfter, ...(files ?? {}), ...saved }));
    if (!files) print(r.certificate);
    if (profileName !== undefined) note(`connect as ${cn}: strongroom --profile ${profileName} status`);
    return 0;
  },
};

const list: CommandSpec = {
  path: ["certs", "list"],
  summary: "List issued certificates.",
  options: {
    status: { type: "string", arg: "S", help: "valid or revoked" },
    cn: { type: "string", arg: "CN", help: "only certificates with this common name" },
    limit: { type: "string", arg: "N", help: "page size (1-1000)" },
    cursor: { type: "string", arg: "C", help: "continue after this serial (the `next` of the previous page)" },
    all: { type: "boolean", help: "fetch every page" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const query = {
      status: optEnum(v, "status", ["valid", "revoked"] as const),
      cn: optStr(v, "cn"),
      limit: optInt(v, "limit", 1, 1000),
      cursor: optStr(v, "cursor"),
    };
    type Page = { certificates: CertRecord[]; next: string | null };
    let page = await inv.api().call<Page>("GET", "/v1/certs", { query });
    const certs = [...page.certificates];
    if (v.all) {
      const progress = new Progress().spin(`listing certificates… ${certs.length}`);
      try {
        while (page.next) {
          page = await inv.api().call<Page>("GET", "/v1/certs", { query: { ...query, cursor: page.next } });
          certs.push(...page.certificates);
          progress.update(`listing certificates… ${certs.length}`);
        }
      } finally {
        progress.done();
      }
    }
    if (inv.json) {
      printJson({ certificates: certs, next: page.next });
      return 0;
    }
    if (certs.length === 0) print("no certificates");
    else
      print(
        table(
          ["serial", "cn", "ou", "role", "status", "not after", "issued by"],
          certs.map((c) => [
            c.serial,
            c.cn,
            c.ou,
            c.role,
            c.status === "revoked" ? `revoked ${c.revokedAt ?? ""}`.trim() : c.status,
            c.notAfter,
            c.issuedBy,
          ]),
        ),
      );
    if (page.next) note(`more certificates: --cursor ${page.next} (or --all)`);
    return 0;
  },
};

const revoke: CommandSpec = {
  path: ["certs", "revoke"],
  summary: "Revoke a certificate immediately: its next handshake and next request are refused.",
  args: "SERIAL",
  positionals: [1, 1],
  options: {},
  client: true,
  async run(inv) {
    const c = await inv.api().call<CertRecord>("DELETE", `/v1/certs/${seg(inv.positionals[0])}`);
    if (inv.json) printJson(c);
    else print(kv({ ...c }));
    return 0;
  },
};

export const certCommands: CommandSpec[] = [issue, list, revoke];
