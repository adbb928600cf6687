/**
 * One MQTT connection as an MqttLink sees it, for tests that drive a link
 * with no broker: every publish is recorded; with `autoAck` it resolves at
 * once (QoS 0 or a PUBACK that needs no test to give it), otherwise it waits
 * for the test's `ack`, and `drop` fails whatever is unacknowledged, as
 * mqtt.js does when a connection is lost. `onPublish` lets a test play the
 * other side (answer a twin request on the link).
 */
import type { MqttSession } from "../../protocols/mqtt_session.ts";

/** One recorded publish. */
export interface Sent {
  topic: string;
  /** The payload as text. */
  payload: string;
  qos: 0 | 1;
  retain: boolean;
  /** Whether its promise has settled. */
  settled: boolean;
}

/** Options of {@link RecordingSession}. */
export interface RecordingSessionOptions {
  /** Resolve every publish at once. Default false: the test acknowledges. */
  autoAck?: boolean;
  /** Called after each publish is recorded. */
  onPublish?: (sent: Sent) => void;
}

interface Waiting {
  sent: Sent;
  resolve: () => void;
  reject: (error: Error) => void;
}

const decoder = new TextDecoder();

/** Records publishes and subscriptions; settles publishes by hand or at once. */
export class RecordingSession implements MqttSession {
  readonly sent: Sent[] = [];
  /** Every filter subscribed, in order. */
  readonly subscriptions: string[] = [];
  #waiting: Waiting[] = [];

  constructor(readonly options: RecordingSessionOptions = {}) {}

  publish(
    topic: string,
    payload: string | Uint8Array,
    options: { qos: 0 | 1; retain: boolean } = { qos: 1, retain: false },
  ): Promise<void> {
    const text = typeof payload === "string" ? payload : decoder.decode(payload);
    const sent: Sent = { topic, payload: text, ...options, settled: false };
    this.sent.push(sent);
    const done = new Promise<void>((resolve, reject) => {
      this.#waiting.push({ sent, resolve, reject });
    });
    this.options.onPublish?.(sent);
    if (this.options.autoAck) this.#settle(this.#waiting.at(-1)!, undefined);
    return done;
  }

  subscribe(subscriptions: readonly { filter: string; qos: 0 | 1 }[]): Promise<void> {
    this.subscriptions.push(...subscriptions.map((s) => s.filter));
    return Promise.resolve();
  }

  unsubscribe(): Promise<void> {
    return Promise.resolve();
  }

  /** The payloads published, in order. */
  lines(): string[] {
    return this.sent.map((s) => s.payload);
  }

  /** Publishes not yet acknowledged or dropped. */
  get unacknowledged(): number {
    return this.#waiting.length;
  }

  /** Acknowledges the oldest unacknowledged publish of each payload given; throws if there is none. */
  ack(...payloads: string[]): void {
    for (const payload of payloads) {
      const waiting = this.#waiting.find((w) => w.sent.payload === payload);
      if (!waiting) throw new Error(`${payload} was not published (or was acknowledged already)`);
      this.#settle(waiting, undefined);
    }
  }

  /** Fails every unacknowledged publish with `error`: the connection is gone. */
  drop(error = new Error("connection lost")): void {
    for (const waiting of [...this.#waiting]) this.#settle(waiting, error);
  }

  #settle(waiting: Waiting, error: Error | undefined): void {
    this.#waiting = this.#waiting.filter((w) => w !== waiting);
    waiting.sent.settled = true;
    if (error) waiting.reject(error);
    else waiting.resolve();
  }
}
