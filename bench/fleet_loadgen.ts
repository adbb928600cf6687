/**
 * The bare baseline of fleet_bench.ts: N plain mqtt.js connections, each
 * publishing QoS 1 telemetry of the fleet's shape as fast as the broker
 * acknowledges it, `window` publishes in flight per connection. No outbox,
 * no actors, no seqs kept: what the broker and the client library give.
 * With `subscribe` 1 each connection also subscribes, QoS 1, to what an
 * Outpost device subscribes to (its desired state and its commands): on a
 * NATS cluster each such subscription is a JetStream consumer, and they
 * cost the broker on every message.
 *
 * Usage: deno run -A bench/fleet_loadgen.ts <urls,comma,separated> <connections> [window] [subscribe]
 * Prints `connected <n>` once all are, then `acked <total>` every second,
 * until SIGTERM.
 */
import mqtt, { type MqttClient } from "mqtt";

const [urlList, connectionArg, windowArg, subscribeArg] = Deno.args;
const urls = (urlList ?? "").split(",").filter((u) => u.length > 0);
const connections = Number(connectionArg);
const window = Number(windowArg ?? 16);
const subscribe = subscribeArg === "1";
if (urls.length === 0 || !(connections >= 1) || !(window >= 1)) {
  console.error(
    "usage: fleet_loadgen.ts <urls,comma,separated> <connections> [window] [subscribe]",
  );
  Deno.exit(2);
}

let acked = 0;
let running = true;
const clients: MqttClient[] = [];

function values(seq: number) {
  return {
    load1: Math.round(Math.random() * 400) / 100,
    memUsedPercent: Math.round(Math.random() * 10_000) / 100,
    temperature: Math.round((35 + Math.random() * 20) * 100) / 100,
    uptimeTicks: seq,
  };
}

// One connection's loop: `window` publishes in flight, each ack sends the next.
function pump(client: MqttClient, id: string): void {
  let seq = 0;
  const topic = `outpost/${id}/telemetry/system`;
  const next = () => {
    if (!running || !client.connected) return;
    seq++;
    const payload = JSON.stringify({ seq, ts: new Date().toISOString(), values: values(seq) });
    client.publish(topic, payload, { qos: 1 }, (error) => {
      if (error) return;
      acked++;
      next();
    });
  };
  for (let i = 0; i < window; i++) next();
}

// One connection, subscribed as a device when asked; a broker that does not
// answer within 60 s is an error, never a hang (mqtt.js's connectAsync does
// not settle when the socket closes on its connect timeout).
function connectOne(n: number): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(urls[(n - 1) % urls.length], {
      clientId: `bare-${n}`,
      clean: true,
      keepalive: 60,
      connectTimeout: 30_000,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      writeCache: false,
    });
    const fail = (why: string) => {
      clearTimeout(timer);
      client.end(true);
      reject(new Error(`bare-${n}: ${why}`));
    };
    const timer = setTimeout(() => fail("no CONNACK and SUBACK within 60 s"), 60_000);
    client.once("close", () => fail("the connection closed"));
    client.once("error", (error) => fail(error.message));
    client.once("connect", async () => {
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      try {
        if (subscribe) {
          await client.subscribeAsync({
            [`outpost/bare-${n}/state/desired`]: { qos: 1 },
            [`outpost/bare-${n}/commands/+/+`]: { qos: 1 },
          });
        }
      } catch (error) {
        return fail(`subscribe: ${(error as Error).message}`);
      }
      clearTimeout(timer);
      client.removeAllListeners("close");
      client.removeAllListeners("error");
      client.on("error", () => {});
      resolve(client);
    });
  });
}

// A batch at a time, as a fleet ramps: a burst of thousands of SYNs
// overflows the broker's accept backlog.
const BATCH = 200;
try {
  for (let i = 0; i < connections; i += BATCH) {
    const size = Math.min(BATCH, connections - i);
    const batch = await Promise.all(Array.from({ length: size }, (_, j) => connectOne(i + j + 1)));
    clients.push(...batch);
  }
} catch (error) {
  console.error(`fleet_loadgen: ${(error as Error).message}`);
  clients.forEach((c) => c.end(true));
  Deno.exit(1);
}
console.log(`connected ${clients.length}`);
clients.forEach((client, i) => pump(client, `bare-${i + 1}`));
const report = setInterval(() => console.log(`acked ${acked}`), 1000);

await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", () => resolve()));
running = false;
clearInterval(report);
await Promise.all(clients.map((c) => c.endAsync(true)));
Deno.exit(0);
