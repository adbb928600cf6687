/**
 * What supervision costs over bare XState actors, measured side by side in
 * one run: spawn rate, retained heap per idle worker, and restart latency
 * (crash to running again with zero backoff). Every figure is printed next
 * to its bare `createActor` baseline with the ratio supervised / bare, then
 * checked against the targets of the runtime's performance issue. The
 * verdicts are informational: the script always exits 0.
 *
 * Run: deno task bench
 * (deno run --allow-all --v8-flags=--expose-gc bench/runtime_bench.ts)
 */
import { type AnyActorRef, createActor, setup } from "xstate";
import { bareRestartLatencies, supervisedRestartLatencies } from "./restart_latency.ts";
import { child, createSystem, supervisor } from "../actors/runtime/mod.ts";
import {
  collectGarbage,
  formatNumber,
  formatTable,
  heapUsedAfterGc,
  median,
  percentile,
  type ResultRow,
} from "./measure.ts";

const WORKERS = 10_000;
const WARMUP_WORKERS = 2_000;
const SPAWN_ROUNDS = 5;
const HEAP_ROUNDS = 3;
/** Spawn rate is also reported per slice of this size, to show growth with the child count. */
const SLICE = 1_000;
const RESTART_WARMUP = 500;
const RESTART_SAMPLES = 2_000;

const TARGETS = {
  spawnsPerSecond: 20_000,
  bytesPerWorker: 10 * 1024,
  restartP99Ms: 2,
};

const SUPERVISOR_ID = "bench";

/** An idle worker: two states, waiting for an event that never comes. */
const idleMachine = setup({
  types: { events: {} as { type: "wake" } },
}).createMachine({
  id: "idle",
  initial: "waiting",
  states: {
    waiting: { on: { wake: "awake" } },
    awake: {},
  },
});

/** A set of idle workers that grows by `spawn` and is torn down by `stop`. */
interface Pool {
  /** Resolves with `performance.now()` after every `SLICE` spawns (first entry: the start). */
  spawn(count: number): Promise<number[]>;
  stop(): Promise<void>;
}

/** Idle workers as `temporary` children of one dynamic root supervisor. */
async function supervisedPool(mode: "sequential" | "concurrent"): Promise<Pool> {
  const system = createSystem(supervisor(SUPERVISOR_ID, { dynamic: true }, []));
  await system.start();
  let next = 0;
  const spec = () => child(`w-${next++}`, idleMachine, { restart: "temporary" });
  return {
    async spawn(count) {
      const marks = [performance.now()];
      if (mode === "sequential") {
        for (let i = 1; i <= count; i++) {
          await system.startChild(SUPERVISOR_ID, spec());
          if (i % SLICE === 0) marks.push(performance.now());
        }
      } else {
        const started: Promise<string>[] = [];
        for (let i = 0; i < count; i++) started.push(system.startChild(SUPERVISOR_ID, spec()));
        await Promise.all(started);
        marks.push(performance.now());
      }
      return marks;
    },
    stop: () => system.stop(),
  };
}

/** The baseline: root actors from `createActor`, observed the way a worker observes its actor. */
function barePool(): Pool {
  const actors: AnyActorRef[] = [];
  return {
    spawn(count) {
      const marks = [performance.now()];
      for (let i = 1; i <= count; i++) {
        const actor = createActor(idleMachine);
        actor.subscribe({ error() {}, complete() {} });
        actor.start();
        actors.push(actor);
        if (i % SLICE === 0) marks.push(performance.now());
      }
      return Promise.resolve(marks);
    },
    stop() {
      for (const actor of actors) actor.stop();
      actors.length = 0;
      return Promise.resolve();
    },
  };
}

interface SpawnRound {
  perSecond: number;
  firstSlicePerSecond: number;
  lastSlicePerSecond: number;
  stopMs: number;
}

/** One timed round of `count` spawns into a fresh pool, then its teardown (timed apart). */
async function spawnRound(
  makePool: () => Pool | Promise<Pool>,
  count: number,
): Promise<SpawnRound> {
  collectGarbage();
  const pool = await makePool();
  const marks = await pool.spawn(count);
  const stopStart = performance.now();
  await pool.stop();
  const stopMs = performance.now() - stopStart;
  const rate = (from: number, to: number, n: number) => n / ((marks[to] - marks[from]) / 1000);
  return {
    perSecond: rate(0, marks.length - 1, count),
    firstSlicePerSecond: rate(0, 1, SLICE),
    lastSlicePerSecond: rate(marks.length - 2, marks.length - 1, SLICE),
    stopMs,
  };
}

/** Heap retained by `count` idle workers, per worker, with the pool itself already allocated. */
async function retainedBytesPerWorker(
  makePool: () => Pool | Promise<Pool>,
  count: number,
): Promise<number> {
  const pool = await makePool();
  const before = heapUsedAfterGc();
  await pool.spawn(count);
  const after = heapUsedAfterGc();
  await pool.stop();
  return (after - before) / count;
}

/**
 * The samples split into consecutive restarts 1..n/2 and n/2+1..n of the
 * same worker, so latency that grows with the restart count shows up.
 */
function halves(
  supervised: number[],
  bare: number[],
): [label: string, supervised: number[], bare: number[]][] {
  const half = Math.floor(supervised.length / 2);
  const label = (from: number, to: number) =>
    `restarts ${formatNumber(from, 0)}-${formatNumber(to, 0)}`;
  return [
    [label(1, half), supervised.slice(0, half), bare.slice(0, half)],
    [label(half + 1, supervised.length), supervised.slice(half), bare.slice(half)],
  ];
}

function verdict(name: string, measured: string, pass: boolean): string {
  return `${pass ? "PASS" : "FAIL"}  ${name}: ${measured}`;
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `Outpost runtime benchmark: deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ` +
      `${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores`,
  );
  console.log(
    `${formatNumber(WORKERS, 0)} idle workers per round, ${SPAWN_ROUNDS} spawn rounds ` +
      `(median), ${HEAP_ROUNDS} heap rounds (median), ${formatNumber(RESTART_SAMPLES, 0)} ` +
      `restart samples after ${RESTART_WARMUP} warm-up crashes\n`,
  );

  const sequential = () => supervisedPool("sequential");
  const concurrent = () => supervisedPool("concurrent");

  // Warm up every path once so both sides run JIT-compiled code.
  for (const makePool of [sequential, concurrent, barePool]) {
    await spawnRound(makePool, WARMUP_WORKERS);
  }

  // Interleaved, so drift (GC pressure, CPU frequency) hits both sides alike.
  const rounds = {
    sequential: [] as SpawnRound[],
    concurrent: [] as SpawnRound[],
    bare: [] as SpawnRound[],
  };
  for (let r = 0; r < SPAWN_ROUNDS; r++) {
    rounds.sequential.push(await spawnRound(sequential, WORKERS));
    rounds.bare.push(await spawnRound(barePool, WORKERS));
    rounds.concurrent.push(await spawnRound(concurrent, WORKERS));
  }
  const med = (list: SpawnRound[], key: keyof SpawnRound) => median(list.map((r) => r[key]));

  const heap = { supervised: [] as number[], bare: [] as number[] };
  for (let r = 0; r < HEAP_ROUNDS; r++) {
    heap.supervised.push(await retainedBytesPerWorker(sequential, WORKERS));
    heap.bare.push(await retainedBytesPerWorker(barePool, WORKERS));
  }

  await supervisedRestartLatencies(RESTART_WARMUP);
  await bareRestartLatencies(RESTART_WARMUP);
  collectGarbage();
  const restartSupervised = await supervisedRestartLatencies(RESTART_SAMPLES);
  collectGarbage();
  const restartBare = await bareRestartLatencies(RESTART_SAMPLES);

  const spawnSequential = med(rounds.sequential, "perSecond");
  const bytesPerWorker = median(heap.supervised);
  const restartP99 = percentile(restartSupervised, 99);
  const rows: ResultRow[] = [
    {
      metric: "spawn, await each startChild",
      supervised: spawnSequential,
      bare: med(rounds.bare, "perSecond"),
      unit: "spawns/s",
    },
    {
      metric: "spawn, all issued then Promise.all",
      supervised: med(rounds.concurrent, "perSecond"),
      bare: med(rounds.bare, "perSecond"),
      unit: "spawns/s",
    },
    {
      metric: `  await each, workers 1-${formatNumber(SLICE, 0)}`,
      supervised: med(rounds.sequential, "firstSlicePerSecond"),
      bare: med(rounds.bare, "firstSlicePerSecond"),
      unit: "spawns/s",
    },
    {
      metric: `  await each, last ${formatNumber(SLICE, 0)} of ${formatNumber(WORKERS, 0)}`,
      supervised: med(rounds.sequential, "lastSlicePerSecond"),
      bare: med(rounds.bare, "lastSlicePerSecond"),
      unit: "spawns/s",
    },
    {
      metric: `stop ${formatNumber(WORKERS, 0)} idle workers`,
      supervised: med(rounds.sequential, "stopMs"),
      bare: med(rounds.bare, "stopMs"),
      unit: "ms",
      digits: 1,
    },
    {
      metric: "retained heap per idle worker",
      supervised: bytesPerWorker,
      bare: median(heap.bare),
      unit: "bytes",
    },
    {
      metric: "restart latency p50 (crash to running)",
      supervised: percentile(restartSupervised, 50),
      bare: percentile(restartBare, 50),
      unit: "ms",
      digits: 3,
    },
    {
      metric: "restart latency p99 (crash to running)",
      supervised: restartP99,
      bare: percentile(restartBare, 99),
      unit: "ms",
      digits: 3,
    },
    ...halves(restartSupervised, restartBare).flatMap(([label, supervised, bare]) =>
      [50, 99].map((p): ResultRow => ({
        metric: `  p${p}, ${label}`,
        supervised: percentile(supervised, p),
        bare: percentile(bare, p),
        unit: "ms",
        digits: 3,
      }))
    ),
    {
      metric: "restart latency max",
      supervised: Math.max(...restartSupervised),
      bare: Math.max(...restartBare),
      unit: "ms",
      digits: 3,
    },
  ];
  console.log(formatTable(rows));

  const spread = (values: number[], digits: number) =>
    `${formatNumber(Math.min(...values), digits)}..${formatNumber(Math.max(...values), digits)}`;
  console.log(
    `\nspread across rounds: await-each ${
      spread(rounds.sequential.map((r) => r.perSecond), 0)
    } spawns/s, Promise.all ${spread(rounds.concurrent.map((r) => r.perSecond), 0)}, bare ${
      spread(rounds.bare.map((r) => r.perSecond), 0)
    }; heap ${spread(heap.supervised, 0)} vs ${spread(heap.bare, 0)} bytes/worker\n`,
  );

  console.log(
    verdict(
      `spawn rate >= ${formatNumber(TARGETS.spawnsPerSecond, 0)}/s (await each startChild)`,
      `${formatNumber(spawnSequential, 0)}/s`,
      spawnSequential >= TARGETS.spawnsPerSecond,
    ),
  );
  console.log(
    verdict(
      `retained heap <= 10 KB (${formatNumber(TARGETS.bytesPerWorker, 0)} bytes) per idle worker`,
      `${formatNumber(bytesPerWorker, 0)} bytes`,
      bytesPerWorker <= TARGETS.bytesPerWorker,
    ),
  );
  console.log(
    verdict(
      `restart latency p99 < ${TARGETS.restartP99Ms} ms (zero backoff)`,
      `${formatNumber(restartP99, 3)} ms`,
      restartP99 < TARGETS.restartP99Ms,
    ),
  );
  console.log(`\ntotal ${formatNumber((performance.now() - started) / 1000, 1)} s`);
}

await main();
