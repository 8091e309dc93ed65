// The server log: pino JSON lines on standard error, levels, and secret-shaped fields redacted wherever they appear.
import { type DestinationStream, pino, stdTimeFunctions } from "pino";

/** pino's levels, most severe first; `silent` logs nothing. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const isLogLevel = (v: unknown): v is LogLevel => typeof v === "string" && (LOG_LEVELS as readonly string[]).includes(v);

/**
 * Field names that may hold a secret: key material, plaintext, unseal shares, passphrases and PINs, private keys,
 * credentials in HTTP headers. Callers log only non-secret fields; this is the net under that rule.
 */
export const SECRET_FIELDS = [
  "material",
  "plaintext",
  "share",
  "shares",
  "passphrase",
  "password",
  "pin",
  "key",
  "privateKey",
  "authorization",
  "cookie",
  "set-cookie",
] as const;

/** How deep below the top of a log line a secret-shaped field is still redacted (pino's paths are explicit). */
const REDACT_DEPTH = 5;

/** pino `redact` paths: each secret field at the top of the line and under up to REDACT_DEPTH-1 levels of objects or arrays. */
export const REDACT_PATHS: string[] = SECRET_FIELDS.flatMap((f) => {
  const plain = /^[A-Za-z_$][\w$]*$/.test(f);
  return Array.from({ length: REDACT_DEPTH }, (_, depth) => {
    const above = Array<string>(depth).fill("*").join(".");
    if (!plain) return `${above}["${f}"]`;
    return above ? `${above}.${f}` : f;
  });
});

export const REDACTED = "[redacted]";

type Fields = Record<string, unknown>;

/**
 * What the rest of the code logs through: a message and flat, non-secret fields (never buffers, requests or key
 * material). A thin adapter over pino, so callers keep the message first.
 */
export interface Logger {
  fatal(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  /** The level in force. */
  readonly level: LogLevel;
  /** Applies strongroom.yaml's `log.level`, unless the level was given when the logger was made (`--log-level` wins). */
  configure(level: LogLevel): void;
}

export interface LoggerOptions {
  /** Fixed level (the command line's `--log-level`); without it the level is `info` until `configure` sets it. */
  level?: LogLevel;
}

/**
 * A logger writing JSON lines to `destination` (standard error by default; `null` logs nothing — tests). Standard
 * output stays free for what a command prints (the server's `{"event":"listening"}` line, `npm start`'s guide).
 */
export function createLogger(destination: NodeJS.WritableStream | null = process.stderr, o: LoggerOptions = {}): Logger {
  const fixed = destination === null || o.level !== undefined;
  const p = pino(
    {
      level: destination === null ? "silent" : (o.level ?? "info"),
      // ISO time and the level as a word: what a person greps for ("level":"error") and what log shippers parse.
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    (destination ?? undefined) as DestinationStream | undefined,
  );
  const at =
    (level: Exclude<LogLevel, "silent">) =>
    (msg: string, fields?: Fields): void => {
      if (fields) p[level](fields, msg);
      else p[level](msg);
    };
  return {
    fatal: at("fatal"),
    error: at("error"),
    warn: at("warn"),
    info: at("info"),
    debug: at("debug"),
    get level() {
      return p.level as LogLevel;
    },
    configure(level) {
      if (!fixed) p.level = level;
    },
  };
}
