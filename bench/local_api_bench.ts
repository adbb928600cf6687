/**
 * Values per second from one app to the generic cloud, side by side in one
 * run: through Outpost's local API (LocalApiClient → mutual TLS → the
 * sensor/metric module → TelemetryRouter → durable outbox → drain →
 * mosquitto) against the same app publishing the same values straight to
 * the cloud broker with a plain mqtt.js client. Both keep WINDOW requests
 * in flight; a round ends when the cloud's subscriber has seen all of its
 * values. Prints the rates, their spread over the rounds and the ratio.
 *
 * Run: deno task bench:local-api (deno run --allow-all bench/local_api_bench.ts);
 * needs mosquitto on the PATH.
 */
import mqtt, { type MqttClient } from "mqtt";
import { createAgent } from "../actors/agent/agent.ts";
import { parseConfig } from "../actors/agent/config.ts";
import { LocalApiClient } from "../actors/local_api/client.ts";
import { startMosquitto } from "../tests/helpers/brokers.ts";
import { withNoDelay } from "./agent_throughput.ts";
import { formatSpread, formatTable, median } from "./measure.ts";

const VALUES = Number(Deno.env.get("LOCAL_API_VALUES") ?? 5000);
/** The issue's target: the local API at half the rate of a direct publish or better. */
const TARGET_RATIO = 0.5;
const WINDOW = 64;
const ROUNDS = 3;
const TIMEOUT_MS = 120_000;

/** Counts messages on `filter` and resolves when `count` have arrived since `expect`. */
async function counter(url: string, filter: string) {
  const client: MqttClient = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  let seen = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  client.on("message", () => {
    seen++;
    if (waiter && seen >= waiter.target) {
      waiter.resolve();
      waiter = undefined;
    }
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    expect(count: number): Promise<void> {
      const target = seen + count;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`Saw ${seen} of ${target} messages in ${TIMEOUT_MS} ms`)),
          TIMEOUT_MS,
        );
        waiter = {
          target,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
    close: () => client.endAsync(),
  };
}

/** Runs `send(i)` for i < VALUES with WINDOW in flight. */
async function windowed(send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: WINDOW }, async () => {
    while (next < VALUES) await send(next++);
  }));
}

const cloud = await startMosquitto();
const stateDir = await Deno.makeTempDir({ prefix: "outpost-bench-local-api-" });
const agent = createAgent(
  parseConfig(
    `
[agent]
deviceId = "bench"
stateDir = "${stateDir}"
[telemetry.system]
enabled = false
[log]
level = "warning"
[localApi]
enabled = true
provisioningPort = 0
apiPort = 0
[clouds.cloud]
type = "mqtt"
url = "${cloud.url}"
`,
    { source: "local_api_bench", env: {} },
  ),
  { control: false },
);
await agent.start();
await agent.connected();
await agent.localApi().ready();
const ports = agent.localApi().ports();
const app = new LocalApiClient({
  caFile: `${stateDir}/local-api/ca.crt`,
  certFolder: `${stateDir}/app`,
  provisionPort: ports.provisioning,
  port: ports.api,
});
await app.provision("bench");
await app.connect();
const sensorId = await app.createSensor("bench");
const [{ metricId }] = await app.createMetrics(sensorId, [
  { matchingId: "v", name: "value", valueType: "double" },
]);
const direct: MqttClient = withNoDelay(await mqtt.connectAsync(cloud.url, { reconnectPeriod: 0 }));
const topic = `outpost/bench/telemetry/local.${sensorId}`;
const seen = await counter(cloud.url, topic);

const viaApi: number[] = [];
const straight: number[] = [];
const loadAtStart = Deno.loadavg()[0];
try {
  // Round 0 warms up both paths (the JIT, the outbox's tail, the sockets) and is not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    let arrived = seen.expect(VALUES);
    let start = performance.now();
    await windowed((i) => app.pushValues(sensorId, [{ metricId, value: i }]));
    await arrived;
    if (round > 0) viaApi.push(VALUES / ((performance.now() - start) / 1000));

    arrived = seen.expect(VALUES);
    start = performance.now();
    await windowed((i) =>
      direct.publishAsync(
        topic,
        JSON.stringify({ seq: i, ts: new Date().toISOString(), values: { [metricId]: i } }),
        { qos: 1 },
      )
    );
    await arrived;
    if (round > 0) straight.push(VALUES / ((performance.now() - start) / 1000));
  }
} finally {
  await seen.close();
  await direct.endAsync();
  await app.close();
  await agent.stop();
  await cloud.stop();
  await Deno.remove(stateDir, { recursive: true });
}

console.log(
  `${VALUES} values per round, ${WINDOW} in flight, ${ROUNDS} rounds after a warm-up round; ` +
    `medians (spread):\n`,
);
console.log(formatTable([{
  metric: "values/s to the cloud",
  supervised: median(viaApi),
  bare: median(straight),
  unit: "values/s",
}], { labels: ["via local API", "direct mqtt.js"] }));
console.log(`\nvia local API: ${formatSpread(viaApi, 0)} values/s`);
console.log(`direct:        ${formatSpread(straight, 0)} values/s`);
const pairs = viaApi.map((rate, i) => rate / straight[i]);
console.log(
  `ratio per round (each against the direct round after it): ${
    pairs.map((r) => `${r.toFixed(2)}x`).join(", ")
  }`,
);
console.log(`load ${loadAtStart.toFixed(2)} at start, ${Deno.loadavg()[0].toFixed(2)} at the end`);
const ratio = median(viaApi) / median(straight);
console.log(
  `\n${
    ratio >= TARGET_RATIO ? "PASS" : "FAIL"
  }  local API >= ${TARGET_RATIO}x of a direct publish: ` +
    `${ratio.toFixed(2)}x`,
);
