/**
 * The floor under `outpost run` on its embedded default: the libraries it
 * cannot do without, doing the least the agent does, and nothing of
 * Outpost's own. An aedes broker on a TCP port, an mqtt.js client connected
 * to it with one subscription and one QoS 1 publish, a node:sqlite database
 * with one table, an XState actor, a zod schema, a TOML parse, a commander
 * program and LogTape configured. It prints the line bench:agent waits for
 * (`mosquitto_sub`) once the publish is acknowledged, then idles.
 *
 * Run by bench/agent_bench.ts, from source and bundled, beside the agent, so
 * the agent's start time and idle memory are read against what its
 * dependencies alone cost on this machine.
 */
import { createServer } from "node:net";
import { DatabaseSync } from "node:sqlite";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { createActor, createMachine } from "xstate";
import { z } from "zod";
import { parse } from "smol-toml";
import { Command } from "commander";
import { configure, getConsoleSink, getLogger } from "@logtape/logtape";

const program = new Command("floor").option("-c, --config <file>");
program.parse(["node", "floor"]);
const config = z.strictObject({ agent: z.strictObject({ deviceId: z.string().default("floor") }) })
  .parse(parse("[agent]\n"));
await configure({
  sinks: { console: getConsoleSink() },
  loggers: [
    { category: "floor", lowestLevel: "info", sinks: ["console"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
  ],
});
const db = new DatabaseSync(`${Deno.makeTempDirSync({ prefix: "outpost-floor-" })}/floor.db`);
db.exec("CREATE TABLE records (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)");
db.prepare("INSERT INTO records (payload) VALUES (?)").run("{}");
const actor = createActor(createMachine({ initial: "idle", states: { idle: {} } })).start();

const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
const port = Number(Deno.env.get("OUTPOST_BROKER__PORT") ?? 0);
await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
  clientId: `floor-${config.agent.deviceId}`,
  reconnectPeriod: 0,
});
await new Promise<void>((resolve) => client.once("connect", () => resolve()));
await client.subscribeAsync("outpost/floor/#", { qos: 1 });
await client.publishAsync("outpost/floor/status", "{}", { qos: 1 });
getLogger("floor").info("connected ({state})", { state: String(actor.getSnapshot().value) });
console.log(`Connected; watch it with: mosquitto_sub -h 127.0.0.1 -p ${port} -t 'outpost/#'`);
