/**
 * The baseline of the fail-over benchmark: a bare mqtt.js publisher with
 * the agent's fail-over policy and session shape, and nothing else. It
 * makes a record `{"seq","ts","values":{}}` every `intervalMs` into a
 * memory queue, and publishes the queue in order at QoS 1 with up to
 * `window` in flight, dropping a record only on its PUBACK. Brokers: the
 * first URL first, sticky while connected, on a loss or a failed attempt
 * the next URL at once (wrapping), a backoff only after a whole round
 * failed. On every connect it subscribes `filters` at QoS 1 and treats a
 * refused filter as a failed attempt, as the agent's link does.
 */
import type { MqttClient } from "mqtt";
import { connectMqtt } from "./cluster_mqtt.ts";

/** Options of {@link startFailoverPublisher}. */
export interface FailoverPublisherOptions {
  urls: readonly string[];
  clientId: string;
  /** Where records go, e.g. `outpost/<id>/telemetry/bare`. */
  topic: string;
  intervalMs: number;
  /** Topic filters subscribed (QoS 1) on every connect. */
  filters: readonly string[];
  /** Default false: a persistent session, as the test configures the agent. */
  clean?: boolean;
  /** Default 128, the agent's DRAIN_WINDOW. */
  window?: number;
  /** Waited after a whole round failed, doubling from `minMs` to `maxMs`. Default 200..2000. */
  backoff?: { minMs: number; maxMs: number };
}

/** A running baseline publisher. */
export interface FailoverPublisher {
  /** Records made so far (their seqs are 1..made). */
  made(): number;
  /** Each successful connect: the broker and when (ms since the epoch). */
  connects(): { url: string; at: number }[];
  /** Stops making records and closes the connection (what is queued stays unsent). */
  stop(): Promise<void>;
}

interface Pending {
  seq: number;
  payload: string;
}

/** Starts making and publishing records. */
export function startFailoverPublisher(options: FailoverPublisherOptions): FailoverPublisher {
  const { urls, window = 128, backoff = { minMs: 200, maxMs: 2000 } } = options;
  const queue: Pending[] = [];
  const connects: { url: string; at: number }[] = [];
  let made = 0;
  let stopped = false;
  let current: MqttClient | undefined;
  let wake = () => {};
  const maker = setInterval(() => {
    made++;
    const payload = JSON.stringify({ seq: made, ts: new Date().toISOString(), values: {} });
    queue.push({ seq: made, payload });
    wake();
  }, options.intervalMs);

  async function attempt(url: string): Promise<MqttClient> {
    const client = await connectMqtt(url, {
      clientId: options.clientId,
      clean: options.clean ?? false,
      connectTimeout: 10_000,
      keepalive: 30,
    });
    try {
      const granted = await client.subscribeAsync(
        Object.fromEntries(options.filters.map((f) => [f, { qos: 1 as const }])),
      );
      const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length) throw new Error(`refused ${refused.join(", ")}`);
      return client;
    } catch (error) {
      await client.endAsync(true);
      throw error;
    }
  }

  /** Publishes the queue in order until the connection closes or the publisher stops. */
  async function pump(client: MqttClient): Promise<void> {
    const closed = Promise.withResolvers<void>();
    let open = client.connected;
    client.once("close", () => {
      open = false;
      closed.resolve();
    });
    let sent = 0;
    const acked = new Set<number>();
    while (!stopped && open && client.connected) {
      // Records acknowledged at the head leave the queue; the rest are resent after a switch.
      while (queue.length && acked.has(queue[0].seq)) {
        acked.delete(queue.shift()!.seq);
        sent--;
      }
      if (sent < Math.min(queue.length, window)) {
        const { seq, payload } = queue[sent++];
        client.publish(options.topic, payload, { qos: 1 }, (error) => {
          if (!error) acked.add(seq);
          wake();
        });
        continue;
      }
      const woken = Promise.withResolvers<void>();
      wake = woken.resolve;
      await Promise.race([woken.promise, closed.promise]);
    }
  }

  const running = (async () => {
    let index = 0;
    let failedInRound = 0;
    let delay = backoff.minMs;
    while (!stopped) {
      const url = urls[index];
      try {
        current = await attempt(url);
      } catch {
        index = (index + 1) % urls.length;
        if (++failedInRound < urls.length) continue;
        failedInRound = 0;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, backoff.maxMs);
        continue;
      }
      failedInRound = 0;
      delay = backoff.minMs;
      connects.push({ url, at: Date.now() });
      await pump(current);
      await current.endAsync(true);
      current = undefined;
      index = (index + 1) % urls.length;
    }
  })();

  return {
    made: () => made,
    connects: () => [...connects],
    async stop() {
      stopped = true;
      clearInterval(maker);
      wake();
      await current?.endAsync(true);
      await running;
    },
  };
}
