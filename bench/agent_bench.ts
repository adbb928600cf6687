/**
 * What the agent costs over its baselines, measured side by side in one
 * run: telemetry throughput through the durable outbox to a real mosquitto
 * against a bare mqtt.js client, the outbox's append rate against bare
 * SQLite, idle memory of `outpost run` against an empty `deno run`, and
 * start-to-connected time against Deno's own start-up. Every figure is
 * printed next to its baseline with the ratio, then checked against the
 * targets of the agent's performance issue. The verdicts are
 * informational: the script always exits 0.
 *
 * Run: deno task bench:agent (deno run --allow-all bench/agent_bench.ts); needs
 * mosquitto, mosquitto_sub and stdbuf on the PATH.
 */
import { freePort } from "../tests/helpers/brokers.ts";
import { startMosquitto } from "../tests/helpers/brokers.ts";
import { DRAIN_WINDOW } from "../actors/telemetry/drain.ts";
import {
  agentAppendRound,
  agentDeliveryRound,
  bareDeliveryRound,
  BareSqlite,
  connectBareClient,
  type RoundResult,
  startBenchAgent,
} from "./agent_throughput.ts";
import {
  extraOverFloor,
  footprintOf,
  footprintRows,
  footprintSpread,
  idleMb,
  measureFootprints,
} from "./agent_footprint.ts";
import { formatNumber, formatSpread, formatTable, median, type ResultRow } from "./measure.ts";

const RECORDS = 20_000;
const BATCH = 500;
const ROUNDS = 3;
const ROUND_TIMEOUT_MS = 60_000;
const IDLE_MS = 3_000;
const IDLE_SAMPLES = 5;
const STARTS = 10;

const TARGETS = {
  /** Agent delivery rate as a share of the bare client's in batches of BATCH. */
  throughputRatio: 0.8,
  /** Agent delivery rate as a share of the bare client's with the drain's window (issue 13). */
  windowRatio: 1.0,
  /** Idle RSS above the empty script, bundle and source (issue 13). */
  idleExtraMb: 40,
  /** Median start to connected of the agent on its embedded default (issue 13). */
  startMs: 250,
};

interface Throughput {
  agent: RoundResult[];
  bare: RoundResult[];
  /** The bare client with the drain's pattern: DRAIN_WINDOW publishes in flight. */
  window: RoundResult[];
  append: RoundResult[];
  sqlite: RoundResult[];
}

/** The delivery rounds (agent and bare, interleaved) and the append rounds. */
async function throughput(): Promise<Throughput> {
  const dir = await Deno.makeTempDir({ prefix: "outpost-bench-" });
  const result: Throughput = { agent: [], bare: [], window: [], append: [], sqlite: [] };
  try {
    await deliveryRounds(`${dir}/agent`, result);
    await appendRounds(dir, result);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return result;
}

async function deliveryRounds(stateDir: string, result: Throughput): Promise<void> {
  // Whatever fails, each thing started so far is stopped, in reverse order.
  await using cleanup = new AsyncDisposableStack();
  const broker = await startMosquitto();
  cleanup.defer(() => broker.stop());
  const agent = await startBenchAgent(broker.url, { deviceId: "bench-agent", stateDir });
  cleanup.defer(() => agent.stop());
  const bare = await connectBareClient(broker.url);
  cleanup.defer(() => bare.endAsync());
  await agent.connected();
  const options = (stream: string) => ({
    count: RECORDS,
    batch: BATCH,
    stream,
    port: broker.port,
    timeoutMs: ROUND_TIMEOUT_MS,
  });
  // Round 0 warms up every path; interleaving spreads drift over all sides.
  for (let round = 0; round <= ROUNDS; round++) {
    const a = await agentDeliveryRound(agent, options(`agent-${round}`));
    const b = await bareDeliveryRound(bare, "bench-bare", options(`bare-${round}`));
    const w = await bareDeliveryRound(bare, "bench-bare", {
      ...options(`window-${round}`),
      window: DRAIN_WINDOW,
    });
    if (round > 0) result.agent.push(a), result.bare.push(b), result.window.push(w);
  }
}

async function appendRounds(dir: string, result: Throughput): Promise<void> {
  await using cleanup = new AsyncDisposableStack();
  // A port nothing listens on: the drain never connects and every record stays in the outbox.
  const offline = await startBenchAgent(`mqtt://127.0.0.1:${freePort()}`, {
    deviceId: "bench-offline",
    stateDir: `${dir}/offline`,
  });
  cleanup.defer(() => offline.stop());
  const sqlite = BareSqlite.open(`${dir}/sqlite`);
  cleanup.defer(() => sqlite.close());
  for (let round = 0; round <= ROUNDS; round++) {
    const options = { count: RECORDS, batch: BATCH };
    const a = await agentAppendRound(offline, { ...options, stream: `append-${round}` });
    const s = sqlite.round({ ...options, topic: `outpost/bench-sqlite/telemetry/a-${round}` });
    if (round > 0) result.append.push(a), result.sqlite.push(s);
  }
}

function verdict(name: string, measured: string, pass: boolean): string {
  return `${pass ? "PASS" : "FAIL"}  ${name}: ${measured}`;
}

async function main(): Promise<void> {
  const started = performance.now();
  const [load1] = Deno.loadavg();
  console.log(
    `Outpost agent benchmark: deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ` +
      `${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores, ` +
      `load ${load1.toFixed(2)} at start`,
  );
  console.log(
    `${formatNumber(RECORDS, 0)} records per round in batches of ${BATCH}, QoS 1, ` +
      `median of ${ROUNDS} rounds after a warm-up round; idle RSS median of ${IDLE_SAMPLES}; ` +
      `${STARTS} starts after a warm-up start\n`,
  );

  const rates = await throughput();
  const footprints = await measureFootprints({
    idleMs: IDLE_MS,
    idleSamples: IDLE_SAMPLES,
    starts: STARTS,
  });

  const rate = (list: RoundResult[]) => median(list.map((r) => r.perSecond));
  const agentRate = rate(rates.agent);
  const bareRate = rate(rates.bare);
  const rows: ResultRow[] = [
    {
      metric: "delivered to a QoS 1 subscriber via mosquitto",
      supervised: agentRate,
      bare: bareRate,
      unit: "records/s",
    },
    {
      metric: `  vs bare client, ${DRAIN_WINDOW} in flight (the drain's window)`,
      supervised: agentRate,
      bare: rate(rates.window),
      unit: "records/s",
    },
    {
      metric: "  publish promises settled (agent: committed, bare: PUBACK)",
      supervised: median(rates.agent.map((r) => r.issuedMs)),
      bare: median(rates.bare.map((r) => r.issuedMs)),
      unit: "ms",
    },
    {
      metric: "outbox append, broker unreachable (vs bare SQLite)",
      supervised: rate(rates.append),
      bare: rate(rates.sqlite),
      unit: "records/s",
    },
  ];
  const processRows = footprintRows(footprints, IDLE_MS);
  console.log(formatTable(rows, { labels: ["agent", "baseline"] }));
  console.log();
  console.log(formatTable(processRows, { labels: ["agent", "baseline"], difference: true }));

  const spread = (list: RoundResult[]) => formatSpread(list.map((r) => r.perSecond), 0);
  console.log(`
spread across rounds (records/s): agent ${spread(rates.agent)}, bare ${spread(rates.bare)}, \
bare windowed ${spread(rates.window)}; outbox append ${spread(rates.append)}, \
bare SQLite ${spread(rates.sqlite)}
agent / bare windowed per round (interleaved): ${
    rates.agent.map((r, i) => `${formatNumber(r.perSecond / rates.window[i].perSecond, 2)}x`)
      .join(", ")
  }
${footprintSpread(footprints)}
load ${Deno.loadavg()[0].toFixed(2)} at the end
`);

  const windowRatio = agentRate / rate(rates.window);
  console.log(
    verdict(
      `delivery rate >= ${TARGETS.throughputRatio} of the bare mqtt.js client (batches of ${BATCH})`,
      `${formatNumber(agentRate / bareRate, 2)}x`,
      agentRate / bareRate >= TARGETS.throughputRatio,
    ),
  );
  console.log(
    verdict(
      `delivery rate >= ${TARGETS.windowRatio} of the bare client with the drain's ${DRAIN_WINDOW} in flight`,
      `${formatNumber(windowRatio, 2)}x`,
      windowRatio >= TARGETS.windowRatio,
    ),
  );
  for (
    const [program, floor] of [["agent, bundle", "floor, bundle"], [
      "agent, source",
      "floor, source",
    ]]
  ) {
    const extraMb = idleMb(footprintOf(footprints, program)) - idleMb(footprints.empty);
    console.log(
      verdict(
        `idle RSS <= ${TARGETS.idleExtraMb} MB above an empty deno run (${program})`,
        extraOverFloor(footprints, program, floor),
        extraMb <= TARGETS.idleExtraMb,
      ),
    );
    const startMs = median(footprintOf(footprints, program).startsMs);
    const floorMs = median(footprintOf(footprints, floor).startsMs);
    console.log(
      verdict(
        `start to connected median <= ${TARGETS.startMs} ms (${program})`,
        `${formatNumber(startMs, 0)} ms (its floor ${formatNumber(floorMs, 0)} ms)`,
        startMs <= TARGETS.startMs,
      ),
    );
  }
  console.log(`\ntotal ${formatNumber((performance.now() - started) / 1000, 1)} s`);
}

await main();
