/**
 * The `outpost` command line. It parses, configures logging, builds the
 * supervision tree, starts it, waits for SIGINT or SIGTERM, and stops it.
 */
import { parseArgs } from "node:util";
import denoJson from "./deno.json" with { type: "json" };
import {
  configureLogging,
  getLogger,
  type LogFormat,
  type LogLevel,
} from "./actors/runtime/logging.ts";
import { createSystem, supervisor } from "./actors/runtime/mod.ts";

const USAGE = `Usage: outpost <command> [options]

Commands:
  run        run the agent until SIGINT or SIGTERM
  version    print the version

Options of run:
  --log-level <level>    trace, debug, info (default), warning, error, fatal
  --log-format <format>  text (default) or json`;

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "log-level": { type: "string", default: "info" },
      "log-format": { type: "string", default: "text" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command] = positionals;
  if (values.help || command === undefined || command === "help") {
    console.log(USAGE);
    return 0;
  }
  if (command === "version") {
    console.log(`outpost ${denoJson.version}`);
    return 0;
  }
  if (command !== "run") {
    console.error(`Unknown command "${command}".\n\n${USAGE}`);
    return 2;
  }
  await configureLogging({
    level: values["log-level"] as LogLevel,
    format: values["log-format"] as LogFormat,
  });
  return await run();
}

async function run(): Promise<number> {
  const log = getLogger("agent");
  const system = createSystem(supervisor("agent", { strategy: "one_for_one" }, []));
  await system.start();
  log.info("Outpost {version} running", { version: denoJson.version });
  const signalled = new Promise<string>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
  });
  const ended = await Promise.race([signalled, system.exited.then(() => "exit")]);
  if (ended === "exit") {
    log.fatal("The agent's supervision tree gave up");
    return 1;
  }
  log.info("Received {signal}; stopping", { signal: ended });
  await system.stop();
  return 0;
}

try {
  Deno.exit(await main(Deno.args));
} catch (error) {
  console.error(`outpost: ${error instanceof Error ? error.message : error}`);
  Deno.exit(2);
}
