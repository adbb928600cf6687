/**
 * How long after a tunnel is up its `503` reaches Cumulocity, when 50
 * tunnels come up at once (issue 11 item 16). Side by side in one run over
 * the same connection: Outpost's operation queue, which pipelines status
 * publishes, against the sender it replaced, which waited for each PUBACK
 * before the next publish (reproduced here as the baseline).
 *
 * The broker is the emulator of tests/helpers/c8y_emulator.ts, behind a
 * proxy that delays every byte by half a round trip each way, so loopback
 * looks like a device's uplink (C8Y_BENCH_RTT_MS, default 40). The tunnels
 * are simulated: each operation's work ends at its "tunnel up" time, spread
 * over C8Y_BENCH_SPREAD_MS (default 20) after all 501s are acknowledged.
 * The latency of operation k is the time its 503 reached the emulator minus
 * its tunnel-up time. Verdicts are informational; the script exits 0.
 *
 * Run: deno run --allow-all bench/c8y_status_bench.ts
 */
import { MqttLink } from "../actors/mqtt/link.ts";
import { type OperationOutcome, OperationQueue } from "../actors/c8y/operations.ts";
import { connectSession } from "../protocols/mqtt_session.ts";
import { operationExecuting, operationSuccessful } from "../protocols/c8y_messages.ts";
import { type EmulatedOperation, startC8yEmulator } from "../tests/helpers/c8y_emulator.ts";
import { formatNumber, formatTable, median, percentile, type ResultRow } from "./measure.ts";

const TUNNELS = Number(Deno.env.get("C8Y_BENCH_TUNNELS") ?? 50);
const RTT_MS = Number(Deno.env.get("C8Y_BENCH_RTT_MS") ?? 40);
const SPREAD_MS = Number(Deno.env.get("C8Y_BENCH_SPREAD_MS") ?? 20);
const ROUNDS = 3;
const FRAGMENT = "c8y_RemoteAccessConnect";

/** What both senders offer: submit an operation, get its outcome reported. */
interface Reporter {
  submit(work: () => Promise<OperationOutcome>): Promise<void>;
  close(): void;
}

/** The sender before item 16: every line waited for the previous line's PUBACK. */
function serialReporter(link: MqttLink): Reporter {
  let out = Promise.resolve();
  let tail = Promise.resolve();
  const send = (line: string) => {
    const sent = out.then(() => link.publish("s/us", line, { qos: 1 }));
    out = sent.catch(() => {});
    return out;
  };
  return {
    submit(work) {
      const outcome = send(operationExecuting(FRAGMENT)).then(work);
      const reported = tail.then(() => outcome).then(() => send(operationSuccessful(FRAGMENT)));
      tail = reported;
      return reported;
    },
    close() {},
  };
}

function pipelinedReporter(link: MqttLink): Reporter {
  const queue = new OperationQueue(link, { cloud: "bench" });
  return {
    submit: (work) => queue.submit(FRAGMENT, work),
    close: () => queue.close(),
  };
}

/** A TCP proxy that delays every chunk by `delayMs`, each way, keeping the order. */
function startDelayProxy(targetPort: number, delayMs: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const relay = async (from: Deno.Conn, to: Deno.Conn) => {
    let last = Promise.resolve();
    try {
      for await (const chunk of from.readable) {
        const due = performance.now() + delayMs;
        last = last.then(async () => {
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          await writeAll(to, chunk);
        });
      }
    } catch { /* closed */ }
    await last.catch(() => {});
  };
  const accepting = (async () => {
    for await (const device of listener) {
      const broker = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      conns.add(device).add(broker);
      Promise.allSettled([relay(device, broker), relay(broker, device)]).then(() => {
        for (const conn of [device, broker]) {
          conns.delete(conn);
          try {
            conn.close();
          } catch { /* closed */ }
        }
      });
    }
  })().catch(() => {});
  return {
    url: `mqtt://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

const emulator = await startC8yEmulator({ users: { bench: "pw" } });
const proxy = startDelayProxy(emulator.port, RTT_MS / 2);
const link = new MqttLink("bench");
const open = await connectSession(
  { url: proxy.url, clientId: "d:bench-1", username: `${emulator.tenant}/bench`, password: "pw" },
  { onMessage: () => {}, onClose: () => {} },
);
await link.attach(open.session);

/** One round: TUNNELS operations, tunnels up once every 501 is acknowledged; latencies in ms. */
async function round(reporter: Reporter): Promise<number[]> {
  const ops: EmulatedOperation[] = [];
  for (let i = 0; i < TUNNELS; i++) {
    ops.push(await emulator.operation(["530", "bench-1", "127.0.0.1", "22", `k${i}`]));
  }
  const firstLine = emulator.lines.length;
  let allExecuting!: () => void;
  const executing = new Promise<void>((resolve) => (allExecuting = resolve));
  let started = 0;
  const upAt: number[] = [];
  const reported = ops.map((_, k) =>
    reporter.submit(async () => {
      if (++started === TUNNELS) allExecuting();
      await executing;
      await new Promise((resolve) => setTimeout(resolve, (SPREAD_MS * k) / TUNNELS));
      upAt[k] = Date.now();
      return { ok: true };
    })
  );
  await Promise.all(reported);
  await emulator.waitFor(
    "every operation to end",
    () => ops.every((op) => op.status === "SUCCESSFUL"),
    30_000,
  );
  // The k-th 503 ends the k-th operation: the oldest EXECUTING one of the fragment.
  const arrivals = emulator.lines.slice(firstLine).filter((l) => l.fields[0] === "503");
  return arrivals.map((line, k) => line.at - upAt[k]);
}

const results = { pipelined: [] as number[], serial: [] as number[] };
for (let i = 0; i < ROUNDS; i++) {
  for (
    const [name, make] of [["pipelined", pipelinedReporter], ["serial", serialReporter]] as const
  ) {
    const reporter = make(link);
    results[name].push(...await round(reporter));
    reporter.close();
  }
}
if (emulator.violations.length > 0) console.warn("violations:", emulator.violations);

const rows: ResultRow[] = [
  {
    metric: "503 after tunnel up, median",
    supervised: median(results.pipelined),
    bare: median(results.serial),
    unit: "ms",
  },
  {
    metric: "503 after tunnel up, p95",
    supervised: percentile(results.pipelined, 95),
    bare: percentile(results.serial, 95),
    unit: "ms",
  },
  {
    metric: "503 after tunnel up, max",
    supervised: Math.max(...results.pipelined),
    bare: Math.max(...results.serial),
    unit: "ms",
  },
];
console.log(
  `${TUNNELS} tunnels up within ${SPREAD_MS} ms, round trip ${RTT_MS} ms, ${ROUNDS} rounds each\n`,
);
console.log(formatTable(rows, { labels: ["pipelined", "serial (before)"] }));
console.log(
  `\nPython seed, as reported in issue 11: median 100 ms, max 300 ms; ` +
    `pipelined median ${formatNumber(median(results.pipelined), 0)} ms`,
);

await open.end();
link.detach();
await proxy.close();
await emulator.stop();
