// Connection settings for client commands: flags, then STRONGROOM_* environment variables, then a profile from DIR/profiles.json.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { CliError } from "./http-client.js";

export interface ConnectionFlags {
  addr?: string;
  cert?: string;
  key?: string;
  ca?: string;
  dir?: string;
  profile?: string;
}

export interface Connection {
  addr: string;
  /** Paths the PEM files were read from. */
  certFile: string;
  keyFile: string;
  caFile: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  /** The profile used for any setting, or null. */
  profile: string | null;
}

export interface Profile {
  addr?: string;
  cert?: string;
  key?: string;
  ca?: string;
}

export interface ProfilesFile {
  default?: string;
  profiles: Record<string, Profile>;
}

export const PROFILES_FILE = "profiles.json";
const PROFILE = { code: "profile_invalid" } as const;
const SETTINGS = { code: "connection_settings" } as const;
const DEFAULT_DIR = ".strongroom";

/** The instance directory: --dir, STRONGROOM_DIR, or ./.strongroom when it exists; null otherwise. */
export function instanceDir(flags: { dir?: string }, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | null {
  if (flags.dir) return resolve(cwd, flags.dir);
  if (env.STRONGROOM_DIR) return resolve(cwd, env.STRONGROOM_DIR);
  const local = resolve(cwd, DEFAULT_DIR);
  return existsSync(local) ? local : null;
}

function loadProfiles(file: string): ProfilesFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CliError(`cannot read profiles file ${file}: ${err.code === "ENOENT" ? "no such file" : err.message}`, PROFILE);
  }
  const p = raw as ProfilesFile;
  if (!p || typeof p !== "object" || typeof p.profiles !== "object" || p.profiles === null) {
    throw new CliError(
      `profiles file ${file} is malformed: expected {"default": NAME, "profiles": {NAME: {addr, cert, key, ca}}}`,
      PROFILE,
    );
  }
  return p;
}

/**
 * Profile paths written by `init` are absolute; older or hand-written ones may be relative. A relative
 * path is tried against the working directory, then (for paths inside the instance) against DIR.
 */
function profilePath(p: string, dir: string): string {
  if (isAbsolute(p)) return p;
  const fromCwd = resolve(p);
  if (existsSync(fromCwd)) return fromCwd;
  const i = p.lastIndexOf("bundles/");
  if (i >= 0) {
    const inDir = join(dir, p.slice(i));
    if (existsSync(inDir)) return inDir;
  }
  return resolve(dir, p);
}

/** Picks the profile named by --profile, STRONGROOM_PROFILE or the file's default. */
function selectProfile(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  cwd: string,
): { name: string; profile: Profile; dir: string } | null {
  const explicit = flags.profile ?? env.STRONGROOM_PROFILE;
  const dir = instanceDir(flags, env, cwd);
  if (!dir) {
    if (explicit)
      throw new CliError(`profile '${explicit}' requested but no instance directory: use --dir DIR or set STRONGROOM_DIR`, PROFILE);
    return null;
  }
  const file = join(dir, PROFILES_FILE);
  if (!existsSync(file)) {
    if (explicit || flags.dir || env.STRONGROOM_DIR) throw new CliError(`no profiles file at ${file} (strongroom init writes it)`, PROFILE);
    return null;
  }
  const pf = loadProfiles(file);
  const name = explicit ?? pf.default;
  if (!name) throw new CliError(`profiles file ${file} has no default profile: use --profile NAME or set STRONGROOM_PROFILE`, PROFILE);
  const profile = pf.profiles[name];
  if (!profile) throw new CliError(`no profile '${name}' in ${file} (have: ${Object.keys(pf.profiles).join(", ") || "none"})`, PROFILE);
  return {
    name,
    dir,
    profile: {
      addr: profile.addr,
      cert: profile.cert ? profilePath(profile.cert, dir) : undefined,
      key: profile.key ? profilePath(profile.key, dir) : undefined,
      ca: profile.ca ? profilePath(profile.ca, dir) : undefined,
    },
  };
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.message;
    throw new CliError(`cannot read ${what} ${file}: ${why}`, SETTINGS);
  }
}

const MISSING: Record<keyof Profile, string> = {
  addr: "no server address: use --addr URL or set STRONGROOM_ADDR",
  cert: "no client certificate: use --cert FILE or set STRONGROOM_CERT",
  key: "no client private key: use --key FILE or set STRONGROOM_KEY",
  ca: "no CA certificate: use --ca FILE or set STRONGROOM_CA",
};

/** Resolves each setting separately: flag, then environment variable, then the selected profile. */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Connection {
  const fromFlagsOrEnv: Profile = {
    addr: flags.addr ?? env.STRONGROOM_ADDR,
    cert: flags.cert ?? env.STRONGROOM_CERT,
    key: flags.key ?? env.STRONGROOM_KEY,
    ca: flags.ca ?? env.STRONGROOM_CA,
  };
  const needProfile = Object.values(fromFlagsOrEnv).some((v) => !v) || Boolean(flags.profile);
  const selected = needProfile ? selectProfile(flags, env, cwd) : null;
  const pick = (k: keyof Profile): string => {
    const v = fromFlagsOrEnv[k] || selected?.profile[k];
    if (!v) {
      const hint = selected
        ? ` (profile '${selected.name}' has no ${k})`
        : ", or use a profile (--dir DIR / STRONGROOM_DIR with profiles.json from init)";
      throw new CliError(`${MISSING[k]}${hint}`, SETTINGS);
    }
    return v;
  };
  const addr = pick("addr");
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw new CliError(`server address '${addr}' is not a URL (expected https://host:port)`, SETTINGS);
  }
  if (url.protocol !== "https:") throw new CliError(`server address '${addr}' must use https://`, SETTINGS);
  const certFile = resolve(cwd, pick("cert"));
  const keyFile = resolve(cwd, pick("key"));
  const caFile = resolve(cwd, pick("ca"));
  return {
    addr: addr.replace(/\/+$/, ""),
    certFile,
    keyFile,
    caFile,
    certPem: readPem(certFile, "client certificate"),
    keyPem: readPem(keyFile, "client private key"),
    caPem: readPem(caFile, "CA certificate"),
    profile: selected?.name ?? null,
  };
}

/** Profile names: what `--profile NAME` and STRONGROOM_PROFILE accept without quoting. */
export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Where `certs issue --save-profile` writes: DIR/profiles.json of --dir, STRONGROOM_DIR or ./.strongroom. Refuses,
 * before anything is issued, a bad name, a missing instance directory, an unreadable file or a name already taken.
 */
export function profileTarget(name: string, flags: { dir?: string }, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (!PROFILE_NAME.test(name))
    throw new CliError(`--save-profile: '${name.slice(0, 64)}' is not a profile name (letters, digits, '.', '_', '-'; at most 64)`);
  const dir = instanceDir(flags, env, cwd);
  if (!dir)
    throw new CliError("--save-profile needs the instance directory that holds profiles.json: --dir DIR or STRONGROOM_DIR", PROFILE);
  const file = join(dir, PROFILES_FILE);
  if (existsSync(file) && name in loadProfiles(file).profiles)
    throw new CliError(`profile '${name}' already exists in ${file}: choose another --save-profile name`, PROFILE);
  return file;
}

/** Adds one profile to a profiles file (created if missing), replacing the file atomically; mode 0600. */
export function saveProfile(file: string, name: string, profile: Required<Profile>): void {
  const pf: ProfilesFile = existsSync(file) ? loadProfiles(file) : { profiles: {} };
  if (name in pf.profiles) throw new CliError(`profile '${name}' already exists in ${file}`, PROFILE);
  pf.profiles[name] = profile;
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(pf, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}
