// `strongroom server`: runs the HTTPS API for an instance until SIGINT/SIGTERM.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CONFIG_FILE } from "../../config/config.js";
import { createLogger, LOG_LEVELS } from "../../logger.js";
import { type CommandSpec, optEnum, optInt, optStr } from "../command.js";
import { instanceDir } from "../connection.js";
import { CliError } from "../http-client.js";

export const serverCommand: CommandSpec = {
  path: ["server"],
  summary: 'Run the server for an instance directory; prints one JSON line {"event":"listening",…} on stdout when ready.',
  details:
    "The file seal unseals at start; the passphrase seal does when STRONGROOM_PASSPHRASE is set. Otherwise the\n" +
    "server starts sealed: submit shares with `strongroom unseal`. The server log is JSON lines (pino) on stderr:\n" +
    "config loaded, migrations, listeners, unseal and seal, fatal start-up errors; secret-shaped fields are redacted.",
  options: {
    dir: { type: "string", arg: "DIR", help: "instance directory (env STRONGROOM_DIR; default ./.strongroom)" },
    "api-port": { type: "string", arg: "P", help: "HTTPS API port (default: from strongroom.yaml)" },
    "kmip-port": { type: "string", arg: "P", help: "KMIP over TLS port (default from the configuration, 5696)" },
    listen: { type: "string", arg: "ADDR", help: "listen address (default: from strongroom.yaml)" },
    "log-level": {
      type: "string",
      arg: "L",
      help: `server log level: ${LOG_LEVELS.join(", ")} (default: log.level in strongroom.yaml, info)`,
    },
  },
  async run(inv) {
    const v = inv.values;
    const dir = instanceDir({ dir: optStr(v, "dir") });
    if (!dir) throw new CliError("no instance directory: use --dir DIR or set STRONGROOM_DIR");
    if (!existsSync(join(dir, CONFIG_FILE)))
      throw new CliError(`${dir} is not a Strongroom instance (no ${CONFIG_FILE}; create one with strongroom init)`, {
        code: "config_invalid",
      });
    const apiPort = optInt(v, "api-port", 0, 65535);
    const kmipPort = optInt(v, "kmip-port", 0, 65535);
    const log = createLogger(process.stderr, { level: optEnum(v, "log-level", LOG_LEVELS) });
    // Loaded here: the whole server is not needed to start every other command.
    const { startServer } = await import("../../server.js");
    const running = await startServer({ dir, apiPort, kmipPort, address: optStr(v, "listen"), log });
    process.stdout.write(
      `${JSON.stringify({ event: "listening", api: running.apiUrl, kmipPort: running.kmipPort, sealed: running.app.barrier.sealed })}\n`,
    );

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    // A second signal while closing stops at once.
    const force = () => process.exit(1);
    process.once("SIGINT", force);
    process.once("SIGTERM", force);
    log.info("stopping", { signal });
    await running.close();
    log.info("stopped");
    return 0;
  },
};
