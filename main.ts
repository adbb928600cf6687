/**
 * The `outpost` command line: parse, load the configuration, build the
 * agent, start it, wait for SIGINT or SIGTERM, stop it. Nothing else lives
 * here.
 *
 * Exit codes: 0 done, 1 the agent failed or could not be reached, 2 bad
 * configuration or usage.
 */
import { Command, CommanderError, Option } from "commander";
import { type Agent, createAgent, VERSION } from "./actors/agent/agent.ts";
import { ConfigError, loadConfig } from "./actors/agent/config.ts";
import { askControl } from "./actors/agent/control_client.ts";
import { formatTree } from "./actors/agent/control_format.ts";
import { configureLogging, type LogFormat, type LogLevel } from "./actors/runtime/logging.ts";
import type { ActorTreeNode } from "./actors/runtime/node.ts";
import { RestartIntensityError } from "./actors/runtime/supervisor.ts";
import type { LocalApiClientRecord } from "./actors/local_api/client_registry.ts";

const LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"];
let exitCode = 0;

function program(): Command {
  const cli = new Command("outpost")
    .description("Outpost: an IoT device agent with supervised actors")
    .exitOverride()
    .showHelpAfterError();

  cli.command("run")
    .description("run the agent until SIGINT or SIGTERM (no --config: the embedded default)")
    .option("-c, --config <file>", "TOML configuration file")
    .addOption(new Option("--log-level <level>", "lowest level logged").choices(LEVELS))
    .addOption(new Option("--log-format <format>", "log line format").choices(["text", "json"]))
    .action(async (options) => {
      const config = await loadConfig(options.config);
      await configureLogging({
        level: (options.logLevel ?? config.log.level) as LogLevel,
        format: (options.logFormat ?? config.log.format) as LogFormat,
      });
      exitCode = await run(createAgent(config));
    });

  for (const command of ["tree", "status"] as const) {
    cli.command(command)
      .description(
        command === "tree"
          ? "print the running agent's supervision tree"
          : "print the running agent's status",
      )
      .option("-c, --config <file>", "configuration of the agent to ask (finds its control socket)")
      .option("-s, --socket <path>", "control socket of the agent to ask")
      .option("--json", "print JSON for scripts")
      .action(async (options) => {
        const socket = options.socket ?? (await loadConfig(options.config)).control.socket;
        const result = await askControl(socket, command);
        if (options.json) console.log(JSON.stringify(result, null, 2));
        else if (command === "tree") console.log(formatTree(result as ActorTreeNode));
        else console.log(formatStatus(result as ReturnType<Agent["status"]>));
      });
  }

  cli.command("clients")
    .description("list the local API's clients (pending ones wait for approve or reject)")
    .option("-c, --config <file>", "configuration of the agent to ask (finds its control socket)")
    .option("-s, --socket <path>", "control socket of the agent to ask")
    .option("--json", "print JSON for scripts")
    .action(async (options) => {
      const socket = options.socket ?? (await loadConfig(options.config)).control.socket;
      const clients = await askControl(socket, "clients") as LocalApiClientRecord[];
      if (options.json) console.log(JSON.stringify(clients, null, 2));
      else console.log(formatClients(clients));
    });
  for (const command of ["approve", "reject"] as const) {
    cli.command(`${command} <clientId>`)
      .description(
        command === "approve"
          ? "let a pending local API client have its certificate"
          : "refuse a pending local API client, or revoke an active one (its connection closes)",
      )
      .option("-c, --config <file>", "configuration of the agent to ask (finds its control socket)")
      .option("-s, --socket <path>", "control socket of the agent to ask")
      .action(async (clientId, options) => {
        const socket = options.socket ?? (await loadConfig(options.config)).control.socket;
        const client = await askControl(socket, command, { args: [clientId] }) as
          | LocalApiClientRecord
          | undefined;
        console.log(`${clientId}: ${client?.state ?? "unknown"}`);
      });
  }

  cli.command("console")
    .description("the running agent's web console ([console] enabled = true)")
    .command("url")
    .description("print a one-time login link to the console (valid for 10 minutes)")
    .option("-c, --config <file>", "configuration of the agent to ask (finds its control socket)")
    .option("-s, --socket <path>", "control socket of the agent to ask")
    .action(async (options) => {
      const socket = options.socket ?? (await loadConfig(options.config)).control.socket;
      console.log((await askControl(socket, "consoleLink") as { link: string }).link);
    });

  cli.command("config")
    .description("work with configuration files")
    .command("check <file>")
    .description("validate a configuration file without running")
    .action(async (file) => {
      const config = await loadConfig(file);
      console.log(
        `${file}: valid (device ${config.agent.deviceId}, ${
          Object.keys(config.clouds).length
        } cloud(s))`,
      );
    });

  cli.command("version")
    .description("print the version")
    .action(() => console.log(`outpost ${VERSION}`));

  return cli;
}

async function run(agent: Agent): Promise<number> {
  const signalled = new Promise<string>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
  });
  await agent.start();
  const { broker } = agent.config;
  if (broker.enabled) {
    // The hint is useful once the broker answers, which the local cloud's
    // first connection proves.
    agent.connected().then(() => {
      console.log(
        `Outpost is publishing on its embedded broker ${broker.host}:${broker.port}. Watch it with:`,
      );
      console.log(`  mosquitto_sub -h ${broker.host} -p ${broker.port} -t 'outpost/#' -v`);
    });
  }
  const ended = await Promise.race([signalled, agent.exited]);
  if (typeof ended !== "string") {
    const cause = ended.reason === "gave_up" ? `: ${rootCause(ended.error)}` : "";
    console.error(`outpost: the agent's supervision tree gave up${cause}; see the log above`);
    return 1;
  }
  await agent.stop();
  return 0;
}

// Each supervisor's "gave up" error wraps the child error that caused it.
function rootCause(error: Error): string {
  let cause: Error = error;
  while (cause instanceof RestartIntensityError && cause.cause instanceof Error) {
    cause = cause.cause;
  }
  return cause.message;
}

function formatClients(clients: LocalApiClientRecord[]): string {
  if (clients.length === 0) return "no local API clients";
  return clients.map((c) =>
    `${c.clientId}  ${c.state.padEnd(8)}  ${c.name}  ${new Date(c.createdAt).toISOString()}`
  ).join("\n");
}

function formatStatus(status: ReturnType<Agent["status"]>): string {
  const lines = [
    `outpost ${status.version}, device ${status.deviceId}, up ${
      Math.round(status.uptimeMs / 1000)
    }s`,
  ];
  for (const cloud of status.clouds) {
    lines.push(
      `  cloud ${cloud.name}: ${cloud.connected ? "connected" : "disconnected"}` +
        (cloud.broker ? ` to ${cloud.broker}` : "") +
        `, ${cloud.queued} queued, ${cloud.dropped} dropped`,
    );
  }
  return lines.join("\n");
}

try {
  await program().parseAsync(Deno.args, { from: "user" });
} catch (error) {
  if (error instanceof CommanderError) {
    exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof ConfigError) {
    console.error(error.message);
    exitCode = 2;
  } else {
    console.error(`outpost: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = 1;
  }
}
// Signal listeners and the like must not keep a finished command alive.
Deno.exit(exitCode);
