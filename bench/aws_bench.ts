/**
 * AWS IoT benchmarks (`deno task bench:aws`), on the emulator of
 * tests/helpers/aws_emulator.ts (mosquitto with mutual TLS on loopback):
 *
 * 1. Shadow round trip: the cloud publishes a desired change, the device
 *    applies it and reports; measured from the desired update until the
 *    report reaches the emulator's shadow service. Outpost's shadow actor against a
 *    bare mqtt.js client that answers every delta by echoing it.
 * 2. Telemetry rate: N records through Outpost's durable outbox to Basic
 *    Ingest at QoS 1 (envelope, SQLite, drain), against a bare mqtt.js
 *    client publishing the same envelopes over the same kind of mTLS
 *    connection, 500 promises at a time; a round ends when the emulator
 *    received all N.
 *
 * Both sides run in the same process and the same run, alternating.
 */
import mqtt from "mqtt";
import { encodeEnvelope } from "../protocols/aws_ingest.ts";
import { startAwsEmulator } from "../tests/helpers/aws_emulator.ts";
import { startAwsAgent, THING } from "../tests/helpers/aws_agent.ts";
import { formatNumber, formatTable, median, percentile, type ResultRow } from "./measure.ts";
import { publishInBatches, withNoDelay } from "./agent_throughput.ts";

const ROUND_TRIPS = Number(Deno.env.get("AWS_BENCH_ROUND_TRIPS") ?? 300);
const RECORDS = Number(Deno.env.get("AWS_BENCH_RECORDS") ?? 5000);
const ROUNDS = 3;
const BARE_THING = "bare-thing";

const emulator = await startAwsEmulator();
const stateDir = await Deno.makeTempDir({ prefix: "outpost-aws-bench-" });
const { agent } = await startAwsAgent(emulator, stateDir);
await agent.connected();
const reportedOf = (thing: string) => emulator.shadow(thing)?.reported ?? {};
await emulator.until(
  "the agent's shadow",
  () => reportedOf(THING).event_publishing_enabled === true,
);

// The baseline device: mqtt.js with the test client certificate, echoing deltas into reported.
const bare = await mqtt.connectAsync(emulator.url, {
  clientId: BARE_THING,
  ca: emulator.pki.ca.cert,
  cert: emulator.pki.client.cert,
  key: emulator.pki.client.key,
  reconnectPeriod: 0,
});
withNoDelay(bare);
const bareBase = `$aws/things/${BARE_THING}/shadow`;
await bare.subscribeAsync(`${bareBase}/update/delta`, { qos: 1 });
bare.on("message", (topic, payload) => {
  if (topic !== `${bareBase}/update/delta`) return;
  const delta = JSON.parse(new TextDecoder().decode(payload));
  void bare.publishAsync(
    `${bareBase}/update`,
    JSON.stringify({ state: { reported: delta.state }, clientToken: crypto.randomUUID() }),
    { qos: 1 },
  );
});

async function roundTrips(thing: string, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const value = [`${thing}-${i}`];
    const started = performance.now();
    await emulator.setDesired(thing, { event_type_blacklist: value });
    await emulator.until(
      `round trip ${i} of ${thing}`,
      () => (reportedOf(thing).event_type_blacklist as string[] | undefined)?.[0] === value[0],
    );
    // Until the report reached the shadow service, not until the service finished answering it.
    const report = emulator.requests.findLast((r) =>
      r.topic === `$aws/things/${thing}/shadow/update` && JSON.stringify(r.body).includes(value[0])
    )!;
    times.push(report.at - started);
  }
  return times;
}

async function telemetryRound(publish: (i: number) => Promise<unknown>): Promise<number> {
  const before = emulator.ingest.length;
  const started = performance.now();
  await publishInBatches(RECORDS, 500, publish);
  await emulator.until("every record", () => emulator.ingest.length >= before + RECORDS, 120_000);
  return RECORDS / ((performance.now() - started) / 1000);
}

const envelope = (i: number) =>
  encodeEnvelope({
    payloadVersion: "1",
    assetType: "outpost",
    senderType: "outpost",
    eventType: "bench",
    eventSubtype: "telemetry",
    assetTimestamp: new Date(),
    assetId: BARE_THING,
    senderId: BARE_THING,
    connectionDeviceId: BARE_THING,
    payload: { temperature: 21.5, humidity: 48.25, index: i },
  });

try {
  // Warm both paths (JIT, TLS sessions, SQLite pages) before measuring.
  await roundTrips(THING, 20);
  await roundTrips(BARE_THING, 20);
  const outpostTrips: number[] = [];
  const bareTrips: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    outpostTrips.push(...await roundTrips(THING, ROUND_TRIPS / ROUNDS));
    bareTrips.push(...await roundTrips(BARE_THING, ROUND_TRIPS / ROUNDS));
  }

  const outpostRates: number[] = [];
  const bareRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    outpostRates.push(
      await telemetryRound((i) =>
        agent.publish("bench", { temperature: 21.5, humidity: 48.25, index: i })
      ),
    );
    bareRates.push(
      await telemetryRound((i) =>
        bare.publishAsync("$aws/rules/telemetry", envelope(i), { qos: 1 })
      ),
    );
  }

  const rows: ResultRow[] = [
    {
      metric: "shadow round trip p50",
      supervised: median(outpostTrips),
      bare: median(bareTrips),
      unit: "ms",
      digits: 2,
    },
    {
      metric: "shadow round trip p99",
      supervised: percentile(outpostTrips, 99),
      bare: percentile(bareTrips, 99),
      unit: "ms",
      digits: 2,
    },
    {
      metric: `telemetry to Basic Ingest, QoS 1 (median of ${ROUNDS})`,
      supervised: median(outpostRates),
      bare: median(bareRates),
      unit: "records/s",
    },
  ];
  console.log(
    `AWS IoT on the emulator (mosquitto, mutual TLS, loopback): ${ROUND_TRIPS} round trips, ` +
      `${ROUNDS} rounds of ${formatNumber(RECORDS, 0)} records`,
  );
  console.log(formatTable(rows, { labels: ["outpost", "bare mqtt.js"] }));
} finally {
  await bare.endAsync(true);
  await agent.stop();
  await emulator.stop();
  await Deno.remove(stateDir, { recursive: true });
}
