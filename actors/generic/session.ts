/**
 * The session of a generic MQTT cloud (PROTOCOLS.md §0) on top of its link:
 * presence, desired/reported state with versions, and commands with
 * responses. Telemetry and events do not pass here: they go through the
 * outbox and its drain.
 *
 * Owns: the reported state and the last applied desired version (for this
 * run). Receives: desired-state and command messages from the link, and
 * link status changes. Sends: presence (retained), reported state
 * (retained), command responses, and `state.rejected` events through the
 * agent's telemetry router. Supervised by: its cloud's `rest_for_one`
 * supervisor, after the connection and before the drain.
 */
import { fromCallback } from "xstate";
import type { MqttLink } from "../mqtt/link.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import { getLogger } from "../runtime/logging.ts";
import type { HandlerRegistry } from "../agent/handlers.ts";
import {
  decodeCommandPayload,
  decodeDesired,
  encodePresence,
  encodeReported,
  encodeResponse,
  type OutpostTopics,
  parseCommandTopic,
} from "../../protocols/outpost_topics.ts";

/** What a generic cloud session needs from the agent. */
export interface GenericSessionOptions {
  cloud: string;
  link: MqttLink;
  topics: OutpostTopics;
  handlers: HandlerRegistry;
  /** The live supervision tree, for the built-in `tree` command. */
  tree: () => ActorTreeNode;
  /** Reports a problem as an event through the outbox. */
  reportEvent: (type: string, text: string, data: Record<string, unknown>) => Promise<unknown>;
}

interface Response {
  status: number;
  body: unknown;
}

const log = getLogger("generic");

/** The session actor's logic, for `child("session", genericSession(...))`. */
export function genericSession(options: GenericSessionOptions) {
  return fromCallback(() => {
    const session = new GenericSession(options);
    session.start();
    return () => session.stop();
  });
}

class GenericSession {
  #reported: Record<string, unknown> = {};
  #version = -1;
  #queue: Promise<void> = Promise.resolve();
  #cleanups: (() => void)[] = [];
  #stopped = false;

  constructor(private readonly o: GenericSessionOptions) {}

  start(): void {
    const { link, topics } = this.o;
    this.#cleanups.push(link.onStatus((connected) => connected && this.#announce()));
    if (link.connected) this.#announce();
    for (
      const [filter, handle] of [
        [topics.desired, (payload: Uint8Array) => this.#serial(() => this.#onDesired(payload))],
        [
          topics.commands,
          (payload: Uint8Array, topic: string) => void this.#onCommand(topic, payload),
        ],
      ] as const
    ) {
      link.subscribe(filter, (m) => handle(m.payload, m.topic)).then(
        (sub) =>
          this.#stopped
            ? void sub.unsubscribe().catch(ignore)
            : this.#cleanups.push(() => void sub.unsubscribe().catch(ignore)),
        (error) =>
          log.error("Cloud {cloud}: cannot subscribe to {filter}: {error}", {
            cloud: this.o.cloud,
            filter,
            error,
          }),
      );
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const cleanup of this.#cleanups) cleanup();
    if (this.o.link.connected) {
      // QoS 0: written before the connection's DISCONNECT, which does not wait for acks.
      this.#publish(this.o.topics.status, encodePresence(false, new Date()), true, 0);
    }
  }

  /** On every connect: presence, and the reported state the broker may have lost. */
  #announce(): void {
    this.#publish(this.o.topics.status, encodePresence(true, new Date()), true);
    if (this.#version >= 0) this.#publishReported();
  }

  async #onDesired(payload: Uint8Array): Promise<void> {
    const { cloud } = this.o;
    let desired;
    try {
      desired = decodeDesired(payload);
    } catch (error) {
      await this.#reject(400, `Malformed desired state: ${(error as Error).message}`);
      return;
    }
    if (desired.version <= this.#version) {
      log.debug("Cloud {cloud}: desired version {version} is not newer than {applied}; ignored", {
        cloud,
        version: desired.version,
        applied: this.#version,
      });
      return;
    }
    let applied: Record<string, unknown>;
    try {
      applied = await this.o.handlers.applyDesired(desired.state, desired.version);
    } catch (error) {
      await this.#reject(
        500,
        `Desired state version ${desired.version} failed: ${(error as Error).message}`,
      );
      return;
    }
    for (const [key, value] of Object.entries(applied)) {
      if (value === null) delete this.#reported[key];
      else this.#reported[key] = value;
    }
    this.#version = desired.version;
    log.info("Cloud {cloud}: applied desired version {version} ({keys})", {
      cloud,
      version: desired.version,
      keys: Object.keys(applied).join(", ") || "no keys",
    });
    this.#publishReported();
  }

  async #onCommand(topic: string, payload: Uint8Array): Promise<void> {
    const { topics, cloud } = this.o;
    const address = parseCommandTopic(topic, topics);
    if (!address) {
      log.warn("Cloud {cloud}: ignored a message on {topic}: not a command topic", {
        cloud,
        topic,
      });
      return;
    }
    const response = await this.#answer(address.name, address.requestId, payload);
    if (response.status >= 400) {
      log.warn("Cloud {cloud}: command {name} ({requestId}) answered {status}", {
        cloud,
        ...address,
        status: response.status,
      });
    }
    this.#publish(
      topics.response(address.name, address.requestId),
      encodeResponse(response.status, response.body),
      false,
    );
  }

  async #answer(name: string, requestId: string, payload: Uint8Array): Promise<Response> {
    let input: unknown;
    try {
      input = decodeCommandPayload(payload);
    } catch (error) {
      return { status: 400, body: { error: (error as Error).message } };
    }
    const handler = this.o.handlers.commands.get(name) ?? this.#builtin(name);
    if (!handler) return { status: 404, body: { error: `Unknown command "${name}"` } };
    try {
      return {
        status: 200,
        body: (await handler(input, { name, requestId, cloud: this.o.cloud })) ?? null,
      };
    } catch (error) {
      return {
        status: 500,
        body: { error: error instanceof Error ? error.message : String(error) },
      };
    }
  }

  #builtin(name: string): ((input: unknown) => unknown) | undefined {
    switch (name) {
      case "ping":
        return () => ({ pong: true, ts: new Date().toISOString() });
      case "tree":
        return () => this.o.tree();
    }
  }

  #publishReported(): void {
    this.#publish(this.o.topics.reported, encodeReported(this.#version, this.#reported), true);
  }

  async #reject(status: number, text: string): Promise<void> {
    log.warn("Cloud {cloud}: {text}", { cloud: this.o.cloud, text });
    await this.o.reportEvent("state.rejected", text, { status }).catch((error) =>
      log.error("Cloud {cloud}: cannot store the rejection event: {error}", {
        cloud: this.o.cloud,
        error,
      })
    );
  }

  #publish(topic: string, payload: string, retain: boolean, qos: 0 | 1 = 1): void {
    if (!this.o.link.connected) return;
    this.o.link.publish(topic, payload, { qos, retain }).catch((error) =>
      log.warn("Cloud {cloud}: publish to {topic} failed: {error}", {
        cloud: this.o.cloud,
        topic,
        error,
      })
    );
  }

  /** Desired documents apply one after another, in arrival order. */
  #serial(op: () => Promise<void>): void {
    this.#queue = this.#queue.then(op).catch((error) =>
      log.error("Cloud {cloud}: desired state handling failed: {error}", {
        cloud: this.o.cloud,
        error,
      })
    );
  }
}

function ignore(): void {}
