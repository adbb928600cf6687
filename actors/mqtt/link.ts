/**
 * The link is what a cloud's other actors hold on to while its MQTT
 * connection comes and goes: it outlives every connection attempt and every
 * restart of the connection actor.
 *
 * Owns: the set of subscriptions (restored on every connect, whichever
 * broker of a fail-over list it is to), status listeners, message routing
 * by topic filter, the URL of the broker in use. Receives:
 * `attach(session, broker)` and `detach()` from the connection actor, inbound messages through
 * `deliver`. Sends: publishes through the current session; status changes
 * and messages to whoever subscribed. Supervised: it is not an actor; the
 * connection actor that drives it is.
 */
import { getLogger } from "../runtime/logging.ts";
import { filterProblem, topicMatches, topicNameProblem } from "../../protocols/mqtt_topic.ts";
import {
  type InboundMessage,
  type MqttSession,
  SubscriptionRefusedError,
} from "../../protocols/mqtt_session.ts";

export type { InboundMessage, MqttSession } from "../../protocols/mqtt_session.ts";

/** How a message is published. */
export interface PublishOptions {
  /** 0: fire and forget; 1 (default): the promise resolves on the broker's PUBACK. */
  qos?: 0 | 1;
  /** Default false. */
  retain?: boolean;
}

/** Receives the messages of one subscription. */
export type MessageHandler = (message: InboundMessage) => void;

/** A publish attempted while the link has no connection. */
export class NotConnectedError extends Error {
  /** Builds the error for the link named `link`. */
  constructor(link: string) {
    super(`MQTT link "${link}" is not connected`);
    this.name = "NotConnectedError";
  }
}

interface Registration {
  qos: 0 | 1;
  handlers: Set<MessageHandler>;
}

const log = getLogger("mqtt");

/**
 * Filters a broker refused on connect are asked for again on the same
 * session after this delay, doubling up to {@link RESUBSCRIBE_MAX_MS}.
 */
export const RESUBSCRIBE_MIN_MS = 1000;
/** The longest wait between two requests for a refused filter. */
export const RESUBSCRIBE_MAX_MS = 30_000;

/** The stable face of one cloud's MQTT connection. */
export class MqttLink {
  #session: MqttSession | undefined;
  #broker: string | undefined;
  #subscriptions = new Map<string, Registration>();
  #statusListeners = new Set<(connected: boolean) => void>();
  #resubscribeTimer: ReturnType<typeof setTimeout> | undefined;

  /** A link with no connection yet; `name` is the cloud's name, for logs. */
  constructor(readonly name: string) {}

  /** Whether a connection is up and its subscriptions are in place. */
  get connected(): boolean {
    return this.#session !== undefined;
  }

  /** The URL (no credentials) of the broker the link is connected to; undefined while down. */
  get broker(): string | undefined {
    return this.#session && this.#broker;
  }

  /** Publishes now; rejects with {@link NotConnectedError} when there is no connection. */
  publish(
    topic: string,
    payload: string | Uint8Array,
    options: PublishOptions = {},
  ): Promise<void> {
    const problem = topicNameProblem(topic);
    if (problem) return Promise.reject(new TypeError(`Cannot publish: ${problem}`));
    const session = this.#session;
    if (!session) return Promise.reject(new NotConnectedError(this.name));
    return session.publish(topic, payload, {
      qos: options.qos ?? 1,
      retain: options.retain ?? false,
    });
  }

  /**
   * Adds `handler` for messages matching `filter`. The subscription is made
   * now if connected and again after every reconnect; it lasts until the
   * returned `unsubscribe`.
   */
  async subscribe(
    filter: string,
    handler: MessageHandler,
    qos: 0 | 1 = 1,
  ): Promise<{ unsubscribe(): Promise<void> }> {
    const problem = filterProblem(filter);
    if (problem) throw new TypeError(`Cannot subscribe: ${problem}`);
    let registration = this.#subscriptions.get(filter);
    const first = registration === undefined;
    if (!registration) {
      registration = { qos, handlers: new Set() };
      this.#subscriptions.set(filter, registration);
    }
    registration.handlers.add(handler);
    if (first && this.#session) await this.#session.subscribe([{ filter, qos }]);
    const entry = registration;
    return {
      unsubscribe: async () => {
        entry.handlers.delete(handler);
        if (entry.handlers.size > 0 || this.#subscriptions.get(filter) !== entry) return;
        this.#subscriptions.delete(filter);
        await this.#session?.unsubscribe([filter]);
      },
    };
  }

  /** Calls `listener(connected)` on every change; returns a function to stop listening. */
  onStatus(listener: (connected: boolean) => void): () => void {
    this.#statusListeners.add(listener);
    return () => void this.#statusListeners.delete(listener);
  }

  /**
   * For the connection actor: restores subscriptions on a new session (to
   * the broker at URL `broker`, shown without credentials), then reports
   * connected. Filters the broker refused (a cluster that cannot place a
   * subscription while a node is down refuses it) do not fail the session:
   * the link reports connected with the others and asks for the refused
   * ones again on this session, waiting {@link RESUBSCRIBE_MIN_MS} and then
   * twice as long each time, until granted or the session ends. Any other
   * failure rejects, and the connection tries again.
   */
  async attach(session: MqttSession, broker?: string): Promise<void> {
    const subscriptions = [...this.#subscriptions].map(([filter, { qos }]) => ({ filter, qos }));
    let refused: readonly string[] = [];
    if (subscriptions.length > 0) {
      try {
        await session.subscribe(subscriptions);
      } catch (error) {
        if (!(error instanceof SubscriptionRefusedError)) throw error;
        refused = error.refused;
        this.#warnRefused(error, RESUBSCRIBE_MIN_MS);
      }
    }
    this.#session = session;
    this.#broker = broker;
    this.#notify(true);
    if (refused.length > 0) this.#resubscribeLater(session, refused, RESUBSCRIBE_MIN_MS);
  }

  /** For the connection actor: the session is gone. */
  detach(): void {
    clearTimeout(this.#resubscribeTimer);
    this.#resubscribeTimer = undefined;
    if (!this.#session) return;
    this.#session = undefined;
    this.#notify(false);
  }

  #resubscribeLater(session: MqttSession, filters: readonly string[], delayMs: number): void {
    clearTimeout(this.#resubscribeTimer);
    this.#resubscribeTimer = setTimeout(async () => {
      this.#resubscribeTimer = undefined;
      // Still wanted: an actor may have let go of a filter meanwhile.
      const wanted = filters.flatMap((filter) => {
        const registration = this.#subscriptions.get(filter);
        return registration ? [{ filter, qos: registration.qos }] : [];
      });
      if (this.#session !== session || wanted.length === 0) return;
      try {
        await session.subscribe(wanted);
        log.info("Link {link}: the broker granted {filters} this time", {
          link: this.name,
          filters: wanted.map((w) => w.filter).join(", "),
        });
      } catch (error) {
        if (this.#session !== session) return;
        const next = Math.min(delayMs * 2, RESUBSCRIBE_MAX_MS);
        this.#warnRefused(error as Error, next);
        const still = error instanceof SubscriptionRefusedError
          ? error.refused
          : wanted.map((w) => w.filter);
        this.#resubscribeLater(session, still, next);
      }
    }, delayMs);
  }

  #warnRefused(error: Error, retryMs: number): void {
    log.warn("Link {link}: {error}; asking again in {retryMs} ms", {
      link: this.name,
      error: error.message,
      retryMs,
    });
  }

  /** For the connection actor: routes an inbound message to every matching handler. */
  deliver(message: InboundMessage): void {
    for (const [filter, { handlers }] of this.#subscriptions) {
      if (!topicMatches(filter, message.topic)) continue;
      for (const handler of handlers) {
        try {
          handler(message);
        } catch (error) {
          log.error("A handler for {filter} on link {link} threw: {error}", {
            filter,
            link: this.name,
            error,
          });
        }
      }
    }
  }

  #notify(connected: boolean): void {
    for (const listener of this.#statusListeners) {
      try {
        listener(connected);
      } catch (error) {
        log.error("A status listener of link {link} threw: {error}", { link: this.name, error });
      }
    }
  }
}

/**
 * Subscriptions an actor holds for as long as it runs: made now (and on
 * every reconnect, by the link), all removed by the returned function, even
 * those whose SUBACK has not arrived yet. A refused subscription is logged.
 */
export function holdSubscriptions(
  link: MqttLink,
  entries: readonly (readonly [filter: string, handler: MessageHandler])[],
): () => void {
  let released = false;
  const held: { unsubscribe(): Promise<void> }[] = [];
  const drop = (sub: { unsubscribe(): Promise<void> }) => void sub.unsubscribe().catch(() => {});
  for (const [filter, handler] of entries) {
    link.subscribe(filter, handler).then(
      (sub) => released ? drop(sub) : held.push(sub),
      (error) =>
        log.error("Link {link}: cannot subscribe to {filter}: {error}", {
          link: link.name,
          filter,
          error,
        }),
    );
  }
  return () => {
    released = true;
    held.splice(0).forEach(drop);
  };
}
