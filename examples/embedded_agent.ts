/**
 * Outpost embedded in an app: the agent runs on its embedded default broker,
 * the app publishes its own readings, applies desired state, answers a
 * command, and adds a custom actor to the agent's tree.
 *
 * Run: deno run -A examples/embedded_agent.ts
 * Watch: mosquitto_sub -h 127.0.0.1 -p 1883 -t 'outpost/#' -v
 * Try:  mosquitto_pub -h 127.0.0.1 -t 'outpost/<deviceId>/state/desired' -r \
 *         -m '{"version":1,"state":{"fan":"high"}}'
 *       mosquitto_pub -h 127.0.0.1 -t 'outpost/<deviceId>/commands/blink/r1' -m '{"times":3}'
 * Stop with Ctrl-C.
 */
import { fromCallback } from "xstate";
import { child, configureLogging, createAgent, parseConfig } from "../mod.ts";

await configureLogging({ level: "info" });

const config = parseConfig(
  `
[agent]
stateDir = ".outpost-embedded"

[telemetry.system]
intervalSec = 10

[broker]
enabled = true
port = 1883
`,
  { source: "embedded_agent.ts" },
);

/** The app's own worker: reads a (pretend) thermometer every 2 s. */
const thermometer = fromCallback(() => {
  const timer = setInterval(() => {
    agent.publish("climate", { celsius: 20 + Math.random() * 2 }).catch(console.error);
  }, 2000);
  return () => clearInterval(timer);
});

const agent = createAgent(config, {
  actors: [child("thermometer", thermometer, { restart: "permanent" })],
});

let fan = "off";
agent.onDesired((desired) => {
  if (typeof desired.fan !== "string") return {};
  fan = desired.fan;
  console.log(`fan set to ${fan}`);
  return { fan };
});
agent.onCommand("blink", (payload) => {
  const times = (payload as { times?: number })?.times ?? 1;
  return { blinked: times, fan };
});

await agent.start();
console.log(`Device ${config.agent.deviceId} is up. Tree:`);
console.log(JSON.stringify(agent.tree(), (k, v) => (k === "uptimeMs" ? undefined : v), 2));

await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
await agent.stop();
Deno.exit(0);
