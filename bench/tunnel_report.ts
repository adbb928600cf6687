/**
 * The report of bench/tunnel_bench.ts: its measurements side by side, the
 * tunnel next to the TCP relay and (when it ran) next to the seed's
 * `c8ydp.DeviceProxy`, then the spread of the rounds, the per-round
 * ratios, and verdicts against issue 13's targets. Prints; measures
 * nothing. Verdicts are informational: nothing here fails the run.
 */
import { formatNumber, formatTable, median, percentile, type ResultRow } from "./measure.ts";

const MB = 1024 * 1024;
/** Issue 13's targets: ratios to the relay and to the seed, aggregate of many, idle heap. */
const TARGETS = {
  relayRatio: 0.7,
  seedDown: 5,
  seedUp: 2.5,
  manyVsOne: 1.0,
  idleHeapBytes: 50 * 1024,
};

/** One transfer: its rate, and the CPU it took. */
export interface Transfer {
  mbps: number;
  /** CPU of this (device) process and of the world process, ms per 100 MB. */
  deviceCpu: number;
  worldCpu: number;
}

/** One throughput round: each way through a tunnel, the TCP relay and, when it ran, the seed. */
export interface Round {
  down: Transfer;
  relayDown: Transfer;
  up: Transfer;
  relayUp: Transfer;
  seedDown?: Transfer;
  seedUp?: Transfer;
}

/** Bytes per idle tunnel: the tunnel's, the bare sockets', and the relay emulator's per session. */
export interface IdleMemory {
  heap: number;
  rss: number;
  bareHeap: number;
  bareRss: number;
  relayHeap: number;
  relayRss: number;
}

/** What one run of the benchmark measured, and with which parameters. */
export interface TunnelMeasurements {
  /** Rounds of one tunnel each way, bytes per round, tunnels at once, idle tunnels, set-ups. */
  plan: { rounds: number; bytes: number; many: number; idle: number; setups: number };
  rounds: Round[];
  /** All tunnels at once cloud → device, and as many connections through the TCP relay. */
  many: { tunnel: Transfer; relay: Transfer };
  memory: IdleMemory;
  /** Set-up times in ms: `connect()` to open, and the bare sockets dialed in parallel. */
  setup: { tunnel: number[]; bare: number[] };
  /** Why the seed was not measured; undefined when it was. */
  seedSkipped?: string;
}

/** Prints the tables, the spread and ratios of the rounds, and the verdicts. */
export function printTunnelReport(measurements: TunnelMeasurements): void {
  const { plan, rounds, many, memory, setup, seedSkipped } = measurements;
  const seed = seedSkipped === undefined;
  const pick = (name: keyof Round, field: keyof Transfer) =>
    median(rounds.map((r) => r[name]![field]));

  const rows: ResultRow[] = [
    {
      metric: `1 tunnel cloud → device (MB/s, median of ${plan.rounds} × ${plan.bytes / MB} MB)`,
      supervised: pick("down", "mbps"),
      bare: pick("relayDown", "mbps"),
      unit: "MB/s",
      digits: 1,
    },
    {
      metric: "1 tunnel device → cloud",
      supervised: pick("up", "mbps"),
      bare: pick("relayUp", "mbps"),
      unit: "MB/s",
      digits: 1,
    },
    {
      metric: `${plan.many} at once cloud → device, aggregate (${plan.many} × 5 MB)`,
      supervised: many.tunnel.mbps,
      bare: many.relay.mbps,
      unit: "MB/s",
      digits: 1,
    },
    {
      metric: "device CPU per 100 MB, cloud → device",
      supervised: pick("down", "deviceCpu"),
      bare: pick("relayDown", "deviceCpu"),
      unit: "ms",
      digits: 0,
    },
    {
      metric: "device CPU per 100 MB, device → cloud",
      supervised: pick("up", "deviceCpu"),
      bare: pick("relayUp", "deviceCpu"),
      unit: "ms",
      digits: 0,
    },
    {
      metric: "world CPU per 100 MB, cloud → device (emulator + client + target)",
      supervised: pick("down", "worldCpu"),
      bare: pick("relayDown", "worldCpu"),
      unit: "ms",
      digits: 0,
    },
    {
      metric: "world CPU per 100 MB, device → cloud",
      supervised: pick("up", "worldCpu"),
      bare: pick("relayUp", "worldCpu"),
      unit: "ms",
      digits: 0,
    },
    {
      metric: `device CPU per 100 MB, ${plan.many} at once cloud → device`,
      supervised: many.tunnel.deviceCpu,
      bare: many.relay.deviceCpu,
      unit: "ms",
      digits: 0,
    },
    {
      metric: `world CPU per 100 MB, ${plan.many} at once cloud → device`,
      supervised: many.tunnel.worldCpu,
      bare: many.relay.worldCpu,
      unit: "ms",
      digits: 0,
    },
    {
      metric: `heap per idle tunnel (${plan.idle}, after GC; bare: WS client + TCP conn)`,
      supervised: memory.heap,
      bare: memory.bareHeap,
      unit: "B",
      digits: 0,
    },
    {
      metric: "RSS per idle tunnel",
      supervised: memory.rss,
      bare: memory.bareRss,
      unit: "B",
      digits: 0,
    },
    {
      metric: `set-up p50, connect() to open (${plan.setups}; bare: WS + TCP in parallel)`,
      supervised: median(setup.tunnel),
      bare: median(setup.bare),
      unit: "ms",
      digits: 2,
    },
    {
      metric: "set-up p95",
      supervised: percentile(setup.tunnel, 95),
      bare: percentile(setup.bare, 95),
      unit: "ms",
      digits: 2,
    },
  ];
  console.log(formatTable(rows, { labels: ["tunnel", "tcp relay"] }));
  if (seed) {
    const seedRows: ResultRow[] = [
      {
        metric: "1 tunnel cloud → device (MB/s, median)",
        supervised: pick("down", "mbps"),
        bare: pick("seedDown", "mbps"),
        unit: "MB/s",
        digits: 1,
      },
      {
        metric: "1 tunnel device → cloud",
        supervised: pick("up", "mbps"),
        bare: pick("seedUp", "mbps"),
        unit: "MB/s",
        digits: 1,
      },
      {
        metric: "device CPU per 100 MB, cloud → device (seed: its process)",
        supervised: pick("down", "deviceCpu"),
        bare: pick("seedDown", "deviceCpu"),
        unit: "ms",
        digits: 0,
      },
      {
        metric: "device CPU per 100 MB, device → cloud",
        supervised: pick("up", "deviceCpu"),
        bare: pick("seedUp", "deviceCpu"),
        unit: "ms",
        digits: 0,
      },
      {
        metric: "world CPU per 100 MB, cloud → device",
        supervised: pick("down", "worldCpu"),
        bare: pick("seedDown", "worldCpu"),
        unit: "ms",
        digits: 0,
      },
      {
        metric: "world CPU per 100 MB, device → cloud",
        supervised: pick("up", "worldCpu"),
        bare: pick("seedUp", "worldCpu"),
        unit: "ms",
        digits: 0,
      },
    ];
    console.log();
    console.log(formatTable(seedRows, { labels: ["tunnel", "seed c8ydp"] }));
  }
  const fmt = (v: number[]) =>
    `${formatNumber(Math.min(...v), 1)}..${formatNumber(Math.max(...v), 1)}`;
  const spread = (name: keyof Round) => fmt(rounds.map((r) => r[name]!.mbps));
  const ratios = (a: keyof Round, b: keyof Round) => {
    const v = rounds.map((r) => r[a]!.mbps / r[b]!.mbps);
    return `${formatNumber(Math.min(...v), 2)}x..${formatNumber(Math.max(...v), 2)}x`;
  };
  console.log(`
Spread of the ${plan.rounds} rounds (MB/s): cloud → device tunnel ${spread("down")}, relay ${
    spread("relayDown")
  }${seed ? `, seed ${spread("seedDown")}` : ""}; device → cloud tunnel ${spread("up")}, relay ${
    spread("relayUp")
  }${seed ? `, seed ${spread("seedUp")}` : ""}.
Per-round ratios: cloud → device ${ratios("down", "relayDown")} of the relay${
    seed ? `, ${ratios("down", "seedDown")} of the seed` : ""
  }; device → cloud ${ratios("up", "relayUp")} of the relay${
    seed ? `, ${ratios("up", "seedUp")} of the seed` : ""
  }.
Relay emulator (world process) per idle session: heap ${formatNumber(memory.relayHeap, 0)} B, RSS ${
    formatNumber(memory.relayRss, 0)
  } B.
`);
  const downRatio = pick("down", "mbps") / pick("relayDown", "mbps");
  const upRatio = pick("up", "mbps") / pick("relayUp", "mbps");
  const manyRatio = many.tunnel.mbps / pick("down", "mbps");
  const x = (v: number) => `${formatNumber(v, 2)}x`;
  console.log(
    verdict(
      `tunnel cloud → device ≥ ${TARGETS.relayRatio}x of the TCP relay`,
      x(downRatio),
      downRatio >= TARGETS.relayRatio,
    ),
  );
  console.log(
    verdict(
      `tunnel device → cloud ≥ ${TARGETS.relayRatio}x of the TCP relay`,
      x(upRatio),
      upRatio >= TARGETS.relayRatio,
    ),
  );
  if (seed) {
    const seedDown = pick("down", "mbps") / pick("seedDown", "mbps");
    const seedUp = pick("up", "mbps") / pick("seedUp", "mbps");
    console.log(
      verdict(
        `tunnel cloud → device ≥ ${TARGETS.seedDown}x the seed`,
        x(seedDown),
        seedDown >= TARGETS.seedDown,
      ),
    );
    console.log(
      verdict(
        `tunnel device → cloud ≥ ${TARGETS.seedUp}x the seed`,
        x(seedUp),
        seedUp >= TARGETS.seedUp,
      ),
    );
  } else {
    console.log(`SKIP  ratios to the seed c8ydp: ${seedSkipped}`);
  }
  console.log(
    verdict(
      `${plan.many} tunnels aggregate ≥ ${TARGETS.manyVsOne}x of one tunnel`,
      x(manyRatio),
      manyRatio >= TARGETS.manyVsOne,
    ),
  );
  console.log(
    verdict(
      "heap per idle tunnel ≤ 50 KB",
      `${formatNumber(memory.heap / 1024, 1)} KB`,
      memory.heap <= TARGETS.idleHeapBytes,
    ),
  );
  console.log(`RSS per idle tunnel (information): ${formatNumber(memory.rss / 1024, 1)} KB`);
}

function verdict(name: string, measured: string, pass: boolean): string {
  return `${pass ? "PASS" : "FAIL"}  ${name}: ${measured}`;
}
