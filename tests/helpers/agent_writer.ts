/**
 * A whole agent as a telemetry producer for crash tests: it runs the agent
 * of `testAgent` (cloud "test", device "dev-1") on `<stateDir>` against
 * `<brokerUrl>`, publishes `count` records `{ i }` on stream "kill" one at
 * a time, and after each `publish` resolved (the record is on disk) prints
 * `committed <seq> <i>`; then stops the agent and prints `done`.
 *
 * A test kills this process at any point, typically while the broker is
 * down, and checks that every record it reported reaches the cloud later.
 *
 * Usage: deno run -A tests/helpers/agent_writer.ts <stateDir> <brokerUrl> <count>
 */
import { testAgent } from "./agent.ts";

const [stateDir, url, countArg] = Deno.args;
const count = Number(countArg);
if (!stateDir || !url || !Number.isSafeInteger(count) || count < 0) {
  console.error("Usage: agent_writer.ts <stateDir> <brokerUrl> <count>");
  Deno.exit(2);
}

const { agent } = await testAgent({ url, stateDir });
await agent.start();
for (let i = 0; i < count; i++) {
  const seq = await agent.publish("kill", { i });
  console.log(`committed ${seq} ${i}`);
}
await agent.stop();
console.log("done");
