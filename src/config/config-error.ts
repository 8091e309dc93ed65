// The error a refused strongroom.yaml raises: its own type, so that callers (the CLI's --json) map it without reading its text.

/** strongroom.yaml cannot be used: unreadable, an unknown key, a wrong type, a value out of range, a missing file. */
export class ConfigError extends Error {
  constructor(
    message: string,
    /** Absolute path of the configuration file. */
    readonly file: string,
    /** Dotted key path of the offending entry (e.g. `limits.maxBodyBytes`), or "" for the file as a whole. */
    readonly key: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}
