/**
 * A plain npm:mqtt client playing "the cloud" in tests: it records every
 * message on its subscriptions and lets a test wait for one with a
 * deadline.
 */
import mqtt, { type MqttClient } from "mqtt";

/** A message the observer saw. */
export interface Seen {
  topic: string;
  text: string;
  retain: boolean;
}

/** A connected test client. */
export interface Observer {
  readonly messages: Seen[];
  publish(topic: string, payload: string, options?: { retain?: boolean }): Promise<void>;
  /** Resolves with the first message (already seen or future) matching `match`. */
  waitFor(match: (m: Seen) => boolean, timeoutMs?: number): Promise<Seen>;
  /** Resolves once `count` messages match. */
  waitForCount(match: (m: Seen) => boolean, count: number, timeoutMs?: number): Promise<Seen[]>;
  close(): Promise<void>;
}

/** Connects to `url` and subscribes to `filters` (QoS 1). */
export async function observe(url: string, filters: string[]): Promise<Observer> {
  const client: MqttClient = await mqtt.connectAsync(url, { reconnectPeriod: 0, clean: true });
  const messages: Seen[] = [];
  const waiters = new Set<() => void>();
  client.on("message", (topic, payload, packet) => {
    messages.push({ topic, text: new TextDecoder().decode(payload), retain: packet.retain });
    for (const wake of waiters) wake();
  });
  await client.subscribeAsync(
    filters.map((f) => ({ topic: f, qos: 1 as const })).reduce(
      (all, s) => ({ ...all, [s.topic]: { qos: s.qos } }),
      {} as Record<string, { qos: 0 | 1 }>,
    ),
  );

  function waitForCount(
    match: (m: Seen) => boolean,
    count: number,
    timeoutMs = 5000,
  ): Promise<Seen[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = messages.filter(match);
        if (found.length < count) return false;
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(found);
        return true;
      };
      const wake = () => void check();
      const timer = setTimeout(() => {
        waiters.delete(wake);
        reject(
          new Error(
            `Saw ${
              messages.filter(match).length
            } of ${count} expected messages within ${timeoutMs} ms; ` +
              `last seen: ${JSON.stringify(messages.slice(-3))}`,
          ),
        );
      }, timeoutMs);
      waiters.add(wake);
      check();
    });
  }

  return {
    messages,
    async publish(topic, payload, options = {}) {
      await client.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false });
    },
    waitFor: async (match, timeoutMs) => (await waitForCount(match, 1, timeoutMs))[0],
    waitForCount,
    async close() {
      await client.endAsync();
    },
  };
}
