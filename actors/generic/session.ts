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
 * agent's telemetry router; `tunnel.open` starts a proxy actor under the
 * cloud's `tunnels` supervisor. Supervised by: its cloud's `rest_for_one`
 * supervisor, after the connection and before the drain.
 */
import { answerCommand, encodeAnswer } from "../../protocols/outpost_commands.ts";
import { fromCallback } from "xstate";
import { holdSubscriptions, type MqttLink } from "../mqtt/link.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import { getLogger } from "../runtime/logging.ts";
import type { HandlerRegistry } from "../cloud/handlers.ts";
import type { SupportChannel } from "../cloud/support.ts";

export type { SupportChannel, SupportPort } from "../cloud/support.ts";
import type { RemoteAccessSection } from "../tunnels/types.ts";
import type { ChildSpec } from "../runtime/spec.ts";
import type { Allowlist } from "../tunnels/allowlist.ts";
import { newTunnelId, openTunnel } from "../tunnels/proxy_actor.ts";
import type { AccessCheck, TunnelObserver, TunnelTarget } from "../tunnels/types.ts";
import {
  decodeCommandPayload,
  decodeDesired,
  encodePresence,
  encodeReported,
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
  /** What the built-in `tunnel.open` needs; without it, `tunnel.open` is an unknown command. */
  tunnels?: SessionTunnels;
  /** The remote side of the support modules (`<prefix>/<id>/support/…`, docs/support.md). */
  support?: SupportChannel;
}

/** Remote access as a generic cloud session uses it. */
export interface SessionTunnels {
  remoteAccess: RemoteAccessSection;
  allowlist: Allowlist;
  accessCheck: AccessCheck;
  /** Told when a tunnel opens and ends. */
  observer?: TunnelObserver;
  /** Starts a proxy actor under this cloud's `tunnels` supervisor. */
  start: (spec: ChildSpec) => Promise<string>;
}

/** A valid `tunnel.open` payload (PROTOCOLS.md §0). */
export interface TunnelOpenRequest {
  url: string;
  token: string;
  target: TunnelTarget;
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

  constructor(private readonly o: GenericSessionOptions) {}

  start(): void {
    const { link, topics } = this.o;
    this.#cleanups.push(link.onStatus((connected) => connected && this.#announce()));
    if (link.connected) this.#announce();
    this.#cleanups.push(holdSubscriptions(link, [
      [topics.desired, (m) => this.#serial(() => this.#onDesired(m.payload))],
      [topics.commands, (m) => void this.#onCommand(m.topic, m.payload)],
    ]));
    if (this.o.support) this.#attachSupport(this.o.support);
  }

  stop(): void {
    for (const cleanup of this.#cleanups) cleanup();
    if (this.o.link.connected) {
      // QoS 0: written before the connection's DISCONNECT, which does not wait for acks.
      this.#publish(this.o.topics.status, encodePresence(false, new Date()), true, 0);
    }
  }

  #attachSupport(support: SupportChannel): void {
    const { link, cloud } = this.o;
    const attached = support.attach({
      cloud,
      base: this.o.topics.status.slice(0, -"/status".length),
      connected: () => link.connected,
      publish: (topic, payload) => link.publish(topic, payload, { qos: 1, retain: false }),
    });
    this.#cleanups.push(
      holdSubscriptions(
        link,
        attached.filters.map((f) => [f, (m) => attached.receive(m.topic, m.payload)]),
      ),
      () => attached.detach(),
    );
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
      encodeAnswer(response),
      false,
    );
  }

  async #answer(name: string, requestId: string, payload: Uint8Array): Promise<Response> {
    if (name === "tunnel.open" && this.o.tunnels && !this.o.handlers.commands.has(name)) {
      let input: unknown;
      try {
        input = decodeCommandPayload(payload);
      } catch (error) {
        return { status: 400, body: { error: (error as Error).message } };
      }
      return await this.#openTunnel(input, this.o.tunnels);
    }
    const handler = this.o.handlers.commands.get(name) ?? this.#builtin(name);
    const context = { name, requestId, cloud: this.o.cloud };
    return await answerCommand(name, payload, handler && ((input) => handler(input, context)));
  }

  #builtin(name: string): ((input: unknown) => unknown) | undefined {
    switch (name) {
      case "ping":
        return () => ({ pong: true, ts: new Date().toISOString() });
      case "tree":
        return () => this.o.tree();
    }
  }

  /** 200 `{tunnel}` once open; 400 bad payload, 403 refused, 503 too many, 502 failed. */
  async #openTunnel(input: unknown, tunnels: SessionTunnels): Promise<Response> {
    let request: TunnelOpenRequest;
    try {
      request = parseTunnelOpen(input);
    } catch (error) {
      return { status: 400, body: { error: (error as Error).message } };
    }
    const { remoteAccess } = tunnels;
    const started = await openTunnel(tunnels.start, {
      id: newTunnelId(),
      cloud: this.o.cloud,
      url: request.url,
      headers: { Authorization: `Bearer ${request.token}` },
      target: request.target,
      allowlist: tunnels.allowlist,
      accessCheck: tunnels.accessCheck,
      observer: tunnels.observer,
      bufferSize: remoteAccess.bufferSize,
      pingIntervalMs: remoteAccess.pingIntervalSec * 1000,
      dialTimeoutMs: remoteAccess.dialTimeoutSec * 1000,
      proxy: remoteAccess.proxy,
    });
    if (started.status === "open") return { status: 200, body: { tunnel: started.id } };
    const status = started.kind === "not_allowed" || started.kind === "denied"
      ? 403
      : started.kind === "busy"
      ? 503
      : 502;
    return { status, body: { error: started.reason } };
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

/**
 * Checks a `tunnel.open` payload: `{"url":"wss://…","token":"…","host":"…","port":22}`;
 * throws an Error naming the first field that is wrong.
 */
export function parseTunnelOpen(input: unknown): TunnelOpenRequest {
  const fail = (what: string): never => {
    throw new Error(`Invalid tunnel.open payload: ${what}`);
  };
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return fail(
      `expected an object like {"url","token","host","port"}, got ${JSON.stringify(input)}`,
    );
  }
  const { url, token, host, port } = input as Record<string, unknown>;
  if (typeof url !== "string" || !/^wss?:\/\/[^/\s]+/i.test(url) || !URL.canParse(url)) {
    fail(`"url" must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
  }
  if (typeof token !== "string" || token.length === 0) {
    fail(`"token" must be a non-empty string, got ${JSON.stringify(token)}`);
  }
  if (typeof host !== "string" || host.length === 0) {
    fail(`"host" must be a non-empty string, got ${JSON.stringify(host)}`);
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    fail(`"port" must be an integer from 1 to 65535, got ${JSON.stringify(port)}`);
  }
  return {
    url: url as string,
    token: token as string,
    target: { host: host as string, port: port as number },
  };
}
