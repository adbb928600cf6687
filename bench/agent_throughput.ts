/**
 * Telemetry throughput for agent_bench.ts: the agent's durable outbox
 * drained to a real broker against a bare mqtt.js client publishing the
 * same records, and the outbox's append rate against bare SQLite inserts.
 *
 * Every side issues its N records in batches of `batch` promises (each
 * agent `publish` resolves on commit, each `publishAsync` on PUBACK), the
 * way a producer with bounded memory would, and a delivery round ends when
 * a separate QoS 1 subscriber has received all N.
 */
import mqtt, { type MqttClient } from "mqtt";
import { type Agent, createAgent } from "../actors/agent/agent.ts";
import { parseConfig } from "../actors/agent/config.ts";
import { openDatabase } from "../actors/store/database.ts";
import { encodeTelemetry, outpostTopics } from "../protocols/outpost_topics.ts";

/** The values of every benchmark record; `index` makes each payload distinct. */
export function benchValues(index: number): Record<string, unknown> {
  return { temperature: 21.5, humidity: 48.25, pressure: 1013.2, index };
}

/** Time from the first publish to the last record delivered (or committed). */
export interface RoundResult {
  /** Records per second over the whole round. */
  perSecond: number;
  /** Milliseconds from the first publish until every publish promise resolved. */
  issuedMs: number;
  /** Milliseconds from the first publish until the end of the round. */
  totalMs: number;
}

/** Issues `count` publishes `batch` at a time; resolves when the last batch settled. */
export async function publishInBatches(
  count: number,
  batch: number,
  publish: (index: number) => Promise<unknown>,
): Promise<void> {
  for (let from = 0; from < count; from += batch) {
    const pending: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(count, from + batch); i++) pending.push(publish(i));
    await Promise.all(pending);
  }
}

/**
 * Keeps up to `window` publishes in flight, issuing the next as soon as one
 * settles: the pattern of the agent's own drain (64 in flight by default).
 */
export async function publishInWindow(
  count: number,
  window: number,
  publish: (index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await publish(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

/**
 * A QoS 1 subscriber in a process of its own (`mosquitto_sub`), so that
 * receiving does not compete with the publisher for this process's event
 * loop: an in-process mqtt.js subscriber fell behind the agent's drain.
 */
export interface Delivery {
  /** Resolves with `performance.now()` once `count` messages arrived and the subscriber exited. */
  done: Promise<number>;
}

/**
 * Subscribes to `topic` at QoS 1 and resolves once the broker acknowledged
 * the subscription. mosquitto_sub reports SUBACK only with `-d`, on stdout,
 * which it buffers when that is not a terminal: so stdout goes line-buffered
 * (`stdbuf -oL`) to a file that is read until SUBACK shows, and this process
 * never has to read the per-message lines that follow.
 */
export async function expectDelivery(
  port: number,
  topic: string,
  options: { count: number; timeoutMs: number },
): Promise<Delivery> {
  const dir = await Deno.makeTempDir({ prefix: "outpost-bench-sub-" });
  const output = `${dir}/stdout`;
  const args = [
    ...["-h", "127.0.0.1", "-p", String(port), "-q", "1", "-t", `'${topic}'`],
    ...["-C", String(options.count), "-W", String(Math.ceil(options.timeoutMs / 1000)), "-d"],
  ];
  const child = new Deno.Command("sh", {
    args: ["-c", `exec stdbuf -oL mosquitto_sub ${args.join(" ")} > ${output}`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return { code: s.code, at: performance.now() };
  });
  const failure = async (what: string, code: number) => {
    const text = await Deno.readTextFile(output).catch(() => "");
    const received = text.split("received PUBLISH").length - 1;
    await Deno.remove(dir, { recursive: true });
    return new Error(
      `mosquitto_sub on ${topic} ${what}: exit ${code}, ${received} received, ${await stderr}`,
    );
  };
  while (!(await Deno.readTextFile(output).catch(() => "")).includes("received SUBACK")) {
    if (exited) throw await failure("exited before SUBACK", (await status).code);
    // A poll interval: the loop ends on SUBACK, on exit, or at mosquitto_sub's own -W.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const done = status.then(async ({ code, at }) => {
    if (code !== 0) {
      throw await failure(
        `did not receive ${options.count} messages within ${options.timeoutMs} ms`,
        code,
      );
    }
    await stderr;
    await Deno.remove(dir, { recursive: true });
    return at;
  });
  // Reported by the round that awaits it; this only keeps an early failure from going unhandled.
  done.catch(() => {});
  return { done };
}

/** An agent with one generic MQTT cloud `bench` at `url`, no built-in sources, no control socket. */
export async function startBenchAgent(
  url: string,
  options: { deviceId: string; stateDir: string },
): Promise<Agent> {
  const config = parseConfig(
    `
[agent]
deviceId = "${options.deviceId}"
stateDir = "${options.stateDir}"

[telemetry.system]
enabled = false

[clouds.bench]
type = "mqtt"
url = "${url}"
`,
    { source: "agent bench", env: {} },
  );
  const agent = createAgent(config, { control: false });
  await agent.start();
  return agent;
}

/** Polls until `check()` holds; rejects after `timeoutMs` with `what`. */
export async function until(
  check: () => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Options shared by the delivery rounds. */
export interface DeliveryOptions {
  count: number;
  batch: number;
  /** Telemetry stream of this round: one topic per round keeps rounds apart. */
  stream: string;
  /** The broker's port on 127.0.0.1, for the subscriber. */
  port: number;
  timeoutMs: number;
}

/**
 * One round through the agent: `agent.publish` N records, timed until the
 * subscriber has them all; then waits for the outbox to be empty again, so
 * the next round starts from the same state.
 */
export async function agentDeliveryRound(
  agent: Agent,
  { count, batch, stream, port, timeoutMs }: DeliveryOptions,
): Promise<RoundResult> {
  const topic = outpostTopics(agent.config.agent.deviceId).telemetry(stream);
  const delivery = await expectDelivery(port, topic, { count, timeoutMs });
  const start = performance.now();
  await publishInBatches(count, batch, (i) => agent.publish(stream, benchValues(i)));
  const issued = performance.now();
  const end = await delivery.done;
  await until(() => agent.status().clouds[0].queued === 0, "the outbox drains", timeoutMs);
  return roundResult(count, start, issued, end);
}

/**
 * The baseline: a bare mqtt.js client, QoS 1 `publishAsync` of the same
 * topic and payload shape, in batches of `batch` or, with `window`, with
 * that many publishes in flight at any time.
 */
export async function bareDeliveryRound(
  client: MqttClient,
  deviceId: string,
  { count, batch, stream, port, timeoutMs, window }: DeliveryOptions & { window?: number },
): Promise<RoundResult> {
  const topic = outpostTopics(deviceId).telemetry(stream);
  const delivery = await expectDelivery(port, topic, { count, timeoutMs });
  const publish = (i: number) =>
    client.publishAsync(topic, encodeTelemetry(i + 1, new Date(), benchValues(i)), { qos: 1 });
  const start = performance.now();
  if (window === undefined) await publishInBatches(count, batch, publish);
  else await publishInWindow(count, window, publish);
  const issued = performance.now();
  const end = await delivery.done;
  return roundResult(count, start, issued, end);
}

/** A bare mqtt.js client for the baseline, connected like the agent's (clean, no reconnect). */
export async function connectBareClient(url: string): Promise<MqttClient> {
  return withNoDelay(
    await mqtt.connectAsync(url, {
      clientId: `outpost-bench-bare-${crypto.randomUUID().slice(0, 8)}`,
      clean: true,
      reconnectPeriod: 0,
    }),
  );
}

/**
 * Turns Nagle's algorithm off on a baseline client's socket, as Outpost's
 * own MQTT session does (docs/decisions.md 14), so a baseline is never slow
 * for a reason Outpost has already removed.
 */
export function withNoDelay<T extends MqttClient>(client: T): T {
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}

/** Outbox only: `agent.publish` N records while the cloud is unreachable, until all committed. */
export async function agentAppendRound(
  agent: Agent,
  options: { count: number; batch: number; stream: string },
): Promise<RoundResult> {
  const { count, batch, stream } = options;
  const start = performance.now();
  await publishInBatches(count, batch, (i) => agent.publish(stream, benchValues(i)));
  const end = performance.now();
  return roundResult(count, start, end, end);
}

/**
 * The floor under the outbox: the same rows (topic, JSON payload as UTF-8
 * bytes, qos, retain, time) inserted with one prepared statement, `batch`
 * rows per transaction, into a table shaped like the outbox's, in a
 * database opened with the agent's own pragmas.
 */
export class BareSqlite {
  private constructor(
    private readonly db: ReturnType<typeof openDatabase>,
    private readonly insert: ReturnType<ReturnType<typeof openDatabase>["prepare"]>,
  ) {}

  static open(stateDir: string): BareSqlite {
    const db = openDatabase(stateDir);
    db.exec(`CREATE TABLE records (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      cloud TEXT NOT NULL,
      topic TEXT NOT NULL,
      payload BLOB NOT NULL,
      qos INTEGER NOT NULL,
      retain INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    );
    CREATE INDEX records_by_cloud ON records (cloud, id)`);
    const insert = db.prepare(
      "INSERT INTO records (cloud, topic, payload, qos, retain, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    return new BareSqlite(db, insert);
  }

  round(options: { count: number; batch: number; topic: string }): RoundResult {
    const { count, batch, topic } = options;
    const encoder = new TextEncoder();
    const start = performance.now();
    for (let from = 0; from < count; from += batch) {
      this.db.exec("BEGIN IMMEDIATE");
      const now = Date.now();
      for (let i = from; i < Math.min(count, from + batch); i++) {
        const payload = encoder.encode(encodeTelemetry(i + 1, new Date(now), benchValues(i)));
        this.insert.run("bench", topic, payload, 1, 0, now);
      }
      this.db.exec("COMMIT");
    }
    const end = performance.now();
    return roundResult(count, start, end, end);
  }

  close(): void {
    this.db.close();
  }
}

function roundResult(count: number, start: number, issued: number, end: number): RoundResult {
  return {
    perSecond: count / ((end - start) / 1000),
    issuedMs: issued - start,
    totalMs: end - start,
  };
}
