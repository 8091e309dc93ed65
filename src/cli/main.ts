// Entry point of the `strongroom` command: dispatches subcommands and turns every failure into one stderr line (and, with --json, one JSON error object on stdout).
import { VERSION } from "../version.js";
import type { CommandSpec, OptSpec } from "./command.js";
import { CliError, errorDocument, errorLine, exitStatus } from "./http-client.js";

/**
 * Whether failures are also reported as `{"error":{…}}` on stdout. Set from the raw arguments first, so that a
 * command line too broken to parse still answers a script in JSON; the parsed `--json` value replaces it.
 */
let jsonErrors = false;

/** `--json` among the arguments before a `--` terminator. */
const wantsJson = (argv: string[]): boolean => {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).includes("--json");
};

function topUsage(commands: CommandSpec[]): string {
  const width = Math.max(...commands.map((c) => c.path.join(" ").length + (c.args ? c.args.length + 1 : 0))) + 2;
  const lines = commands.map(
    (c) => `  ${`${c.path.join(" ")}${c.args ? ` ${c.args}` : ""}`.padEnd(width)}${c.summary.split(/(?<=\.) /)[0]}`,
  );
  return [
    `strongroom ${VERSION}: self-hosted encryption key manager`,
    "",
    "Usage: strongroom <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    'Every command takes --json (one JSON document on stdout; a failure is {"error":{code,message,requestId}}',
    "with a non-zero exit status) and --help. Client commands connect with",
    "--addr/--cert/--key/--ca, STRONGROOM_ADDR/CERT/KEY/CA, or a profile from DIR/profiles.json",
    "(--dir/STRONGROOM_DIR, default ./.strongroom; --profile/STRONGROOM_PROFILE).",
    "",
  ].join("\n");
}

function groupUsage(commands: CommandSpec[], groups: Record<string, string>, group: string): string {
  const cmds = commands.filter((c) => c.path[0] === group);
  const width = Math.max(...cmds.map((c) => c.path[1].length + (c.args ? c.args.length + 1 : 0))) + 2;
  return [
    `Usage: strongroom ${group} <command> [options]`,
    "",
    groups[group],
    "",
    "Commands:",
    ...cmds.map((c) => `  ${`${c.path[1]}${c.args ? ` ${c.args}` : ""}`.padEnd(width)}${c.summary.split(/(?<=\.) /)[0]}`),
    "",
    `Run strongroom ${group} <command> --help for its options.`,
    "",
  ].join("\n");
}

/**
 * Splits leading global options (`strongroom --profile app keys list`) from the command words; they are
 * passed on after the command, where the command's parser accepts or refuses them.
 */
function hoistGlobals(
  argv: string[],
  globals: Record<string, OptSpec>,
  groups: Record<string, string>,
): { argv: string[]; hoisted: string[] } {
  const lead: string[] = [];
  const hoisted: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i].startsWith("-") && argv[i] !== "--help" && argv[i] !== "-h" && argv[i] !== "--version") {
    const a = argv[i];
    const name = a.replace(/^--?/, "").split("=")[0];
    const spec = globals[name];
    if (!spec) throw new CliError(`unknown option ${a.split("=")[0]} (see strongroom --help)`);
    hoisted.push(name);
    lead.push(a);
    if (spec.type === "string" && !a.includes("=")) {
      if (i + 1 >= argv.length) throw new CliError(`option ${a} needs a value`);
      lead.push(argv[++i]);
    }
    i++;
  }
  const rest = argv.slice(i);
  if (lead.length && (rest.length === 0 || rest[0].startsWith("-"))) throw new CliError("no command given (see strongroom --help)");
  const n = rest.length === 0 ? 0 : rest[0] in groups && rest[1] !== undefined && !rest[1].startsWith("-") ? 2 : 1;
  return { argv: [...rest.slice(0, n), ...lead, ...rest.slice(n)], hoisted };
}

async function main(argvIn: string[]): Promise<number> {
  jsonErrors = wantsJson(argvIn);
  // Loaded here, not statically, so that even a broken build is reported as one line.
  const { didYouMean, invocation, parse, usage, COMMON_OPTIONS, CONNECTION_OPTIONS } = await import("./command.js");
  const { COMMANDS, GROUPS } = await import("./commands/index.js");
  const { argv, hoisted } = hoistGlobals(argvIn, { ...CONNECTION_OPTIONS, ...COMMON_OPTIONS }, GROUPS);
  const [first, second] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(topUsage(COMMANDS));
    return 0;
  }
  if (first === "--version" || first === "version") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (first.startsWith("-")) throw new CliError(`unknown option ${first} (see strongroom --help)`);
  let spec: CommandSpec | undefined;
  let rest: string[];
  if (first in GROUPS) {
    if (second === undefined || second.startsWith("-")) {
      if (second !== undefined && !argv.includes("--help") && !argv.includes("-h")) {
        const names = COMMANDS.filter((c) => c.path[0] === first).map((c) => c.path[1]);
        throw new CliError(`'${first}' needs a command: ${names.join(", ")} (see strongroom ${first} --help)`);
      }
      process.stdout.write(groupUsage(COMMANDS, GROUPS, first));
      return 0;
    }
    spec = COMMANDS.find((c) => c.path[0] === first && c.path[1] === second);
    if (!spec) {
      const names = COMMANDS.filter((c) => c.path[0] === first).map((c) => c.path[1]);
      const hint = didYouMean(second, names, (c) => `\`${first} ${c}\``);
      throw new CliError(`unknown command '${first} ${second}'${hint || ` (see strongroom ${first} --help)`}`);
    }
    rest = argv.slice(2);
  } else {
    spec = COMMANDS.find((c) => c.path.length === 1 && c.path[0] === first);
    if (!spec) {
      const names = [...new Set(COMMANDS.map((c) => c.path[0]))];
      throw new CliError(`unknown command '${first}'${didYouMean(first, names) || " (see strongroom --help)"}`);
    }
    rest = argv.slice(1);
  }
  // `strongroom --key FILE audit query`: there --key names a key, so the connection key cannot go first.
  const clash = hoisted.find((n) => n in CONNECTION_OPTIONS && n in spec.options);
  if (clash)
    throw new CliError(
      `--${clash} means ${spec.options[clash].arg ?? clash} for '${spec.path.join(" ")}': give the connection's ${clash} with STRONGROOM_${clash.toUpperCase()} or a profile`,
    );
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(spec, rest);
  } catch (e) {
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(usage(spec));
      return 0;
    }
    throw e;
  }
  if (parsed.values.help) {
    process.stdout.write(usage(spec));
    return 0;
  }
  jsonErrors = parsed.values.json === true;
  const inv = invocation(spec, parsed.values, parsed.positionals);
  try {
    return (await spec.run(inv)) ?? 0;
  } finally {
    inv.close();
  }
}

/** Reports a failure: one line on stderr for people; with --json also exactly one JSON object on stdout. */
function report(e: unknown): number {
  process.stderr.write(`${errorLine(e)}\n`);
  if (jsonErrors) process.stdout.write(`${JSON.stringify(errorDocument(e), null, 2)}\n`);
  return exitStatus(e);
}

function fatal(e: unknown): void {
  const code = report(e);
  // Exit once stdout is flushed (it may be a pipe), never later than the deadline.
  process.stdout.write("", () => process.exit(code));
  setTimeout(() => process.exit(code), 1000).unref();
}

process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);
// A closed stdout (e.g. `| head`) ends the command quietly.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
});

function finish(code: number): void {
  process.exitCode = code;
  // Exit once output is flushed; do not wait for anything left running (e.g. a paused terminal).
  setTimeout(() => process.exit(code), 1000).unref();
}

main(process.argv.slice(2)).then(finish, (e) => finish(report(e)));
