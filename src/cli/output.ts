// Output helpers for the CLI: aligned tables, key: value lines, JSON documents and stderr progress lines.

type Cell = string | number | boolean | null | undefined;

/** Text of one table cell or value: empty values become "-". */
export function cellText(v: unknown): string {
  if (v === null || v === undefined || v === "") return "-";
  if (Array.isArray(v)) return v.length ? v.map(cellText).join(",") : "-";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v).replace(/[\u0000-\u001f\u007f]/g, " ");
}

/** An aligned table with an upper-case header row; the last column is not padded. */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => headers.map((_, i) => cellText(r[i])));
  const head = headers.map((h) => h.toUpperCase());
  const widths = head.map((h, i) => Math.max(h.length, ...text.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return `${[line(head), ...text.map(line)].join("\n")}\n`;
}

/** Flattens nested objects into dotted keys ({a:{b:1}} → a.b). Arrays of scalars stay one value. */
export function flatten(obj: Record<string, unknown>, prefix = ""): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, key));
    else if (Array.isArray(v) && v.some((x) => x && typeof x === "object")) out.push([key, `${v.length} item(s)`]);
    else out.push([key, Array.isArray(v) ? (v.length ? v.map(cellText).join(", ") : "-") : v]);
  }
  return out;
}

/** `key: value` lines with the values aligned. */
export function kv(obj: Record<string, unknown>): string {
  const pairs = flatten(obj);
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)} ${cellText(v)}`).join("\n") + (pairs.length ? "\n" : "");
}

/** Exactly one JSON document on stdout. */
export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** A note for humans on stderr (keeps stdout clean for the result). */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** A single rewritable status line on stderr, shown only when stderr is a terminal. */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private timer: NodeJS.Timeout | null = null;
  private frame = 0;
  private text = "";
  private static readonly FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

  /** Starts a spinner in front of `text`. */
  spin(text: string): this {
    if (!this.tty) return this;
    this.text = text;
    this.draw();
    this.timer ??= setInterval(() => this.draw(), 100);
    this.timer.unref();
    return this;
  }

  /** Replaces the status text (e.g. a running count). */
  update(text: string): void {
    if (!this.tty) return;
    this.text = text;
    this.draw();
  }

  /** Clears the line; prints `final` (on stderr) if given. */
  done(final?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.tty) return;
    process.stderr.write("\r\x1b[2K");
    if (final) process.stderr.write(`${final}\n`);
  }

  private draw(): void {
    const f = Progress.FRAMES[this.frame++ % Progress.FRAMES.length];
    const cols = process.stderr.columns || 80;
    process.stderr.write(`\r\x1b[2K${`${f} ${this.text}`.slice(0, cols - 1)}`);
  }
}
