// The CLI's command model: option specs for node:util parseArgs, usage text, typed option readers, lazy API client.
import { parseArgs } from "node:util";
import { type ConnectionFlags, resolveConnection } from "./connection.js";
import { CliError, createHttpClient, type HttpClient } from "./http-client.js";

export interface OptSpec {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder in usage text, e.g. "N" for `--limit N`. */
  arg?: string;
  help: string;
}

export type Values = Record<string, string | boolean | undefined>;

export interface Invocation {
  values: Values;
  positionals: string[];
  json: boolean;
  /** The API client (connection resolved on first use). */
  api(): HttpClient;
}

export interface CommandSpec {
  /** Words after `strongroom`, e.g. ["keys", "create"]. */
  path: string[];
  summary: string;
  /** Positional arguments in usage text, e.g. "NAME". */
  args?: string;
  /** Minimum and maximum number of positional arguments. */
  positionals?: [number, number];
  options: Record<string, OptSpec>;
  /** Talks to a server: accepts the connection flags. */
  client?: boolean;
  /** Extra paragraphs for --help. */
  details?: string;
  /** Returns the exit status (default 0). */
  run(inv: Invocation): Promise<number | undefined>;
}

export const COMMON_OPTIONS: Record<string, OptSpec> = {
  json: { type: "boolean", help: 'print exactly one JSON document on stdout (for scripts), {"error":{…}} on failure' },
  help: { type: "boolean", short: "h", help: "show this help" },
};

export const CONNECTION_OPTIONS: Record<string, OptSpec> = {
  addr: { type: "string", arg: "URL", help: "server API address, e.g. https://localhost:8443 (env STRONGROOM_ADDR)" },
  cert: { type: "string", arg: "FILE", help: "client certificate PEM (env STRONGROOM_CERT)" },
  key: { type: "string", arg: "FILE", help: "client private key PEM (env STRONGROOM_KEY)" },
  ca: { type: "string", arg: "FILE", help: "Strongroom CA certificate PEM (env STRONGROOM_CA)" },
  dir: { type: "string", arg: "DIR", help: "instance directory holding profiles.json (env STRONGROOM_DIR; default ./.strongroom)" },
  profile: { type: "string", arg: "NAME", help: "profile in DIR/profiles.json (env STRONGROOM_PROFILE; default: the file's default)" },
  timeout: { type: "string", arg: "SECONDS", help: "connect and request timeout (default 10)" },
};

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for "did you mean" hints; inputs are short. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** " (did you mean `x`?)" for the nearest candidates to a mistyped word, or "" when none is close. */
export function didYouMean(word: string, candidates: string[], quote = (c: string) => `\`${c}\``): string {
  if (word.length > 64) return "";
  const w = word.toLowerCase();
  const scored = candidates
    .map((c) => ({ c, d: c.startsWith(w) && w.length >= 3 ? 0.5 : distance(w, c) }))
    .filter((x) => x.d <= Math.max(1, Math.min(2, Math.floor(x.c.length / 3))));
  if (!scored.length) return "";
  const best = Math.min(...scored.map((x) => x.d));
  const near = scored.filter((x) => x.d === best).map((x) => quote(x.c));
  return ` (did you mean ${near.slice(0, 3).join(" or ")}?)`;
}

function optionLines(opts: Record<string, OptSpec>): string[] {
  const left = Object.entries(opts).map(([name, o]) => `${o.short ? `-${o.short}, ` : "    "}--${name}${o.arg ? ` ${o.arg}` : ""}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return Object.values(opts).map((o, i) => `  ${left[i].padEnd(width)}${o.help}`);
}

/** The connection flags a command accepts: all of them, except names the command uses for its own options. */
function connectionOptions(spec: CommandSpec): Record<string, OptSpec> {
  return Object.fromEntries(Object.entries(CONNECTION_OPTIONS).filter(([n]) => !(n in spec.options)));
}

export function usage(spec: CommandSpec): string {
  const lines = [`Usage: strongroom ${spec.path.join(" ")}${spec.args ? ` ${spec.args}` : ""} [options]`, "", spec.summary];
  if (spec.details) lines.push("", spec.details);
  if (Object.keys(spec.options).length) lines.push("", "Options:", ...optionLines(spec.options));
  if (spec.client) {
    const shadowed = Object.keys(CONNECTION_OPTIONS).filter((n) => n in spec.options);
    lines.push("", "Connection (flags, then STRONGROOM_* variables, then the profile):", ...optionLines(connectionOptions(spec)));
    for (const n of shadowed)
      lines.push(
        `  (--${n} is this command's own option here; give the connection's ${n} with STRONGROOM_${n.toUpperCase()} or a profile)`,
      );
  }
  lines.push("", "Common:", ...optionLines(COMMON_OPTIONS));
  return `${lines.join("\n")}\n`;
}

/** Parses the arguments after the command words. Unknown flags are an error. */
export function parse(spec: CommandSpec, args: string[]): { values: Values; positionals: string[] } {
  const options = { ...(spec.client ? connectionOptions(spec) : {}), ...spec.options, ...COMMON_OPTIONS };
  const parseOptions = Object.fromEntries(
    Object.entries(options).map(([n, o]) => [n, { type: o.type, ...(o.short ? { short: o.short } : {}) }]),
  );
  const cmd = spec.path.join(" ");
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: parseOptions, allowPositionals: true, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const m = /'(-[^' ]+)/.exec(err.message);
    if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const given = m ? m[1] : "";
      const hint = didYouMean(given.replace(/^--?/, "").split("=")[0], Object.keys(options), (c) => `--${c}`);
      throw new CliError(`unknown option ${given} for '${cmd}'${hint || ` (see strongroom ${cmd} --help)`}`);
    }
    if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      throw new CliError(`${err.message.split("\n")[0].replace(/\.$/, "")} (see strongroom ${cmd} --help)`);
    }
    throw new CliError(err.message.split("\n")[0]);
  }
  const values = parsed.values as Values;
  if (!values.help) {
    const [min, max] = spec.positionals ?? [0, 0];
    const n = parsed.positionals.length;
    if (n < min) throw new CliError(`'${cmd}' needs ${spec.args ?? "arguments"} (see strongroom ${cmd} --help)`);
    if (n > max) throw new CliError(`unexpected argument '${parsed.positionals[max]}' for '${cmd}' (see strongroom ${cmd} --help)`);
  }
  return { values, positionals: parsed.positionals };
}

/** Builds the invocation; the API client connects on first use and is closed by `close`. */
export function invocation(spec: CommandSpec, values: Values, positionals: string[]): Invocation & { close(): void } {
  let client: HttpClient | null = null;
  return {
    values,
    positionals,
    json: values.json === true,
    api() {
      if (!client) {
        const t = values.timeout === undefined ? 10 : Number(values.timeout);
        if (!Number.isFinite(t) || t <= 0 || t > 3600) throw new CliError("--timeout must be a number of seconds between 0 and 3600");
        const flags: ConnectionFlags = {};
        for (const n of Object.keys(connectionOptions(spec)) as (keyof ConnectionFlags)[]) {
          if (typeof values[n] === "string") flags[n] = values[n] as string;
        }
        client = createHttpClient(resolveConnection(flags), { timeoutMs: t * 1000 });
      }
      return client;
    },
    close() {
      client?.close();
    },
  };
}

// ---- typed readers for option values ----

export function optStr(v: Values, name: string): string | undefined {
  const x = v[name];
  return typeof x === "string" ? x : undefined;
}

export function reqStr(v: Values, name: string): string {
  const x = optStr(v, name);
  if (x === undefined || x === "") throw new CliError(`--${name} is required`);
  return x;
}

export function optInt(v: Values, name: string, min: number, max: number): number | undefined {
  const x = optStr(v, name);
  if (x === undefined) return undefined;
  if (!/^\d+$/.test(x) || Number(x) < min || Number(x) > max) throw new CliError(`--${name} must be a whole number from ${min} to ${max}`);
  return Number(x);
}

export function optEnum<T extends string>(v: Values, name: string, allowed: readonly T[]): T | undefined {
  const x = optStr(v, name);
  if (x === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(x)) throw new CliError(`--${name} must be one of ${allowed.join(", ")}`);
  return x as T;
}

/** A comma-separated list; an empty string gives an empty list (to clear a setting). */
export function optList(v: Values, name: string): string[] | undefined {
  const x = optStr(v, name);
  if (x === undefined) return undefined;
  return x
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The path segment for a key name or serial. */
export const seg = (s: string): string => encodeURIComponent(s);
