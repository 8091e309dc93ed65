// Structured JSON-lines server log. Callers pass only non-secret fields; never buffers, requests or key material.

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(stream: NodeJS.WritableStream | null = process.stderr): Logger {
  const write = (level: string, msg: string, fields?: Record<string, unknown>) => {
    if (!stream) return;
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
  };
  return {
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}
