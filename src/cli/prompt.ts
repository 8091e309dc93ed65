// Terminal input for secrets: prompts without echo, and reading standard input when it is a pipe or file.
import { CliError } from "./http-client.js";

/** Reads one line from the terminal without echoing it. Ctrl-C aborts the command. */
export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return Promise.reject(new CliError("standard input is not a terminal: cannot prompt"));
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = "";
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    stdin.resume();
    const finish = (err: Error | null) => {
      stdin.off("data", onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return finish(null);
        if (ch === "\u0003") return finish(new CliError("interrupted", { code: "interrupted", exitCode: 130 }));
        if (ch === "\u0004") {
          if (value.length === 0) return finish(new CliError("no input"));
          return finish(null);
        }
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else if (ch === "\u0015") value = "";
        else if (ch >= " ") value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/** All of standard input as bytes. */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** The first line of standard input, trimmed; a terminal gets a prompt without echo. */
export async function readSecretLine(prompt: string): Promise<string> {
  const text = process.stdin.isTTY ? await promptHidden(prompt) : (await readStdin()).toString("utf8").split(/\r?\n/)[0];
  const line = text.trim();
  if (!line) throw new CliError("no input on standard input");
  return line;
}

/**
 * The passphrase from STRONGROOM_PASSPHRASE, or asked for on the terminal (twice when `confirm`).
 * Never accepted as a command-line argument: arguments are visible to other local users.
 */
export async function readPassphrase(o: { confirm: boolean }): Promise<string> {
  const env = process.env.STRONGROOM_PASSPHRASE;
  if (env) return env;
  if (!process.stdin.isTTY) throw new CliError("no passphrase: set STRONGROOM_PASSPHRASE or run on a terminal to be asked");
  const first = await promptHidden("Passphrase: ");
  if (!first) throw new CliError("empty passphrase");
  if (o.confirm) {
    const second = await promptHidden("Repeat passphrase: ");
    if (first !== second) throw new CliError("the passphrases do not match");
  }
  return first;
}
