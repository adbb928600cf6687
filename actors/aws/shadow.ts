/**
 * The shadow sync actor: keeps one AWS IoT shadow and the device's
 * {@link ShadowReplica} in step, by version (machines/shadow_sync.ts).
 *
 * ```
 * cloud:<name>            rest_for_one
 * ├── connection
 * ├── provisioning
 * ├── shadow:<name>       ← this actor, one per configured shadow
 * └── drain
 * ```
 *
 * Owns: the shadow's response subscriptions and its requests in flight (at
 * most 10, AWS's limit per connection; more wait their turn). Receives:
 * link up/down, `get`/`update` responses, deltas, and the replica's local
 * reports. Sends: `get` on every (re)connect, an update creating the shadow
 * on 404, and reported patches with a `clientToken` (and the version they
 * answer, so a concurrent change gets 409 and a fresh `get`). Supervised
 * by: its cloud's supervisor. Nothing a peer sends can crash it: a response
 * it cannot read is logged, and an unreadable delta is answered by
 * reporting the current state.
 */
import { fromCallback } from "xstate";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import type { InboundMessage, MqttLink } from "../mqtt/link.ts";
import { type ShadowSyncEvent, shadowSyncMachine } from "../../machines/shadow_sync.ts";
import {
  diffState,
  encodeUpdate,
  newClientToken,
  type ShadowState,
  type ShadowTopics,
  shadowTopics,
} from "../../protocols/aws_shadow.ts";
import { decodeResponse } from "../../protocols/aws_shadow_response.ts";
import type { ShadowReplica } from "./shadow_replica.ts";

/** AWS's limit of requests in flight per connection. */
export const MAX_IN_FLIGHT = 10;

/** What one shadow sync actor needs. */
export interface ShadowSyncOptions {
  cloud: string;
  link: MqttLink;
  replica: ShadowReplica;
  /** The thing name, once the device has an identity. */
  thingName: () => Promise<string>;
  /** How long a request may go unanswered. Default 10 s. */
  requestTimeoutMs?: number;
}

const log = getLogger("aws");

/**
 * The `shadow:<name>` child.
 *
 * @example
 * ```ts
 * child("shadow:classic", shadowSync({ cloud: "aws", link, replica, thingName: () => identity.ready().then((i) => i.clientId) }));
 * ```
 */
export function shadowSync(options: ShadowSyncOptions): ActorLogic {
  const { cloud, replica } = options;
  const shadow = replica.name;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  // Each start of the actor is its own XState system, so runs never mix.
  const runs = new WeakMap<object, Run>();
  const runOf = (system: object) => runs.get(system);

  return shadowSyncMachine.provide({
    actors: {
      shadowLink: fromCallback<ShadowSyncEvent>(({ system, sendBack }) => {
        const run = new Run(options, requestTimeoutMs, sendBack);
        runs.set(system, run);
        run.start().catch((error) =>
          log.error("Cloud {cloud}: shadow {shadow} cannot start: {error}", {
            cloud,
            shadow,
            error: (error as Error).message,
          })
        );
        return () => run.stop();
      }),
    },
    actions: {
      requestGet: ({ system }) => runOf(system)?.requestGet(),
      createShadow: ({ system }) => runOf(system)?.sendUpdate(replica.reported, undefined),
      reconcile: ({ system }, { shadow: fetched }) => {
        replica.fetched(fetched.desired, fetched.reported, fetched.version);
        const delta = fetched.delta ?? {};
        if (Object.keys(delta).length === 0) return;
        runOf(system)?.enqueue(async () => void await replica.apply(delta, fetched.version));
      },
      applyDelta: ({ system }, { state, version }) => {
        const run = runOf(system);
        run?.enqueue(async () => {
          const patch = await replica.apply(state, version);
          if (Object.keys(patch).length > 0) run.sendUpdate(patch, version);
        });
      },
      confirmUpdate: (_, { version, reported }) => replica.confirmed(reported, version),
      reportRejection: (_, { request, code, message }) =>
        log.warn("Cloud {cloud}: shadow {shadow} {request} rejected: {code} {message}", {
          cloud,
          shadow,
          request,
          code,
          message,
        }),
      synced: ({ system }) => {
        const run = runOf(system);
        if (!run) return;
        run.synced = true;
        log.info("Cloud {cloud}: shadow {shadow} in sync at version {version}", {
          cloud,
          shadow,
          version: replica.version,
        });
        // After the fetched delta is applied: report whatever the cloud's copy
        // lacks (that answer, and changes made while offline or being created).
        run.enqueue(() => {
          const patch = diffState(replica.cloudReported, replica.reported);
          if (Object.keys(patch).length > 0) run.sendUpdate(patch, replica.version);
          return Promise.resolve();
        });
      },
      unsynced: ({ system }) => runOf(system)?.reset(),
    },
  }) as unknown as ActorLogic;
}

/** What one start of the actor holds: subscriptions and requests in flight. */
class Run {
  synced = false;
  #topics: ShadowTopics | undefined;
  #inFlight = new Map<string, ReturnType<typeof setTimeout>>();
  #queue: { topic: "get" | "update"; body: string; token: string }[] = [];
  #chain: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | undefined;
  #stopped = false;
  #stopStatus: (() => void) | undefined;

  constructor(
    private readonly options: ShadowSyncOptions,
    private readonly timeoutMs: number,
    private readonly dispatch: (event: ShadowSyncEvent) => void,
  ) {}

  async start(): Promise<void> {
    const { link, replica } = this.options;
    const thing = await this.options.thingName();
    if (this.#stopped) return;
    const topics = shadowTopics(thing, replica.name === "classic" ? undefined : replica.name);
    this.#topics = topics;
    // Responses must be subscribed before the first request: AWS does not queue them.
    const onResponse = (message: InboundMessage) =>
      this.#onResponse(message.topic, message.payload);
    // Only what the sync reads: `documents` and `delete/*` would double the traffic for nothing.
    const wanted = [
      topics.getAccepted,
      topics.getRejected,
      topics.updateAccepted,
      topics.updateRejected,
      topics.updateDelta,
    ];
    const subscriptions = await Promise.all(
      wanted.map((filter) => link.subscribe(filter, onResponse)),
    );
    this.#unsubscribe = () =>
      subscriptions.forEach((sub) => void sub.unsubscribe().catch(() => {}));
    if (this.#stopped) return this.#unsubscribe();
    replica.attach({ reported: (patch) => this.synced && this.sendUpdate(patch, undefined) });
    this.#stopStatus = link.onStatus((up) => this.dispatch({ type: up ? "link.up" : "link.down" }));
    if (link.connected) this.dispatch({ type: "link.up" });
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#stopStatus?.();
    this.options.replica.attach(undefined);
    this.reset();
  }

  /** Forgets requests in flight: their answers would come for a sync that is over. */
  reset(): void {
    this.synced = false;
    for (const timer of this.#inFlight.values()) clearTimeout(timer);
    this.#inFlight.clear();
    this.#queue = [];
  }

  /** Runs `task` after the ones before it, so deltas apply in order. */
  enqueue(task: () => Promise<void>): void {
    this.#chain = this.#chain.then(task).catch((error) =>
      log.error("Cloud {cloud}: shadow {shadow}: {error}", {
        cloud: this.options.cloud,
        shadow: this.options.replica.name,
        error,
      })
    );
  }

  sendUpdate(patch: ShadowState, version: number | undefined): void {
    const clientToken = newClientToken();
    let body: string;
    try {
      body = encodeUpdate({ reported: patch, clientToken, version });
    } catch (error) {
      log.error("Cloud {cloud}: shadow {shadow}: cannot report: {error}", {
        cloud: this.options.cloud,
        shadow: this.options.replica.name,
        error: (error as Error).message,
      });
      return;
    }
    this.#submit({ topic: "update", body, token: clientToken });
  }

  requestGet(): void {
    const clientToken = newClientToken();
    this.#submit({ topic: "get", body: JSON.stringify({ clientToken }), token: clientToken });
  }

  #submit(request: { topic: "get" | "update"; body: string; token: string }): void {
    if (this.#inFlight.size >= MAX_IN_FLIGHT) {
      this.#queue.push(request);
      return;
    }
    const topics = this.#topics;
    if (!topics) return;
    const timer = setTimeout(() => this.#settle(request.token), this.timeoutMs);
    this.#inFlight.set(request.token, timer);
    this.options.link.publish(topics[request.topic], request.body, { qos: 1 }).catch((error) => {
      this.#settle(request.token);
      log.warn("Cloud {cloud}: shadow {shadow} {request} not sent: {error}", {
        cloud: this.options.cloud,
        shadow: this.options.replica.name,
        request: request.topic,
        error: (error as Error).message,
      });
    });
  }

  #settle(token: string | undefined): void {
    if (token === undefined) return;
    const timer = this.#inFlight.get(token);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#inFlight.delete(token);
    const next = this.#queue.shift();
    if (next) this.#submit(next);
  }

  #onResponse(topic: string, payload: Uint8Array): void {
    const topics = this.#topics!;
    let response;
    try {
      response = decodeResponse(payload, topic);
    } catch (error) {
      log.error("Cloud {cloud}: shadow {shadow}: unreadable message on {topic}: {error}", {
        cloud: this.options.cloud,
        shadow: this.options.replica.name,
        topic,
        error: (error as Error).message,
      });
      // A delta that cannot be read is answered with the state in effect.
      if (topic === topics.updateDelta && this.synced) {
        this.sendUpdate(this.options.replica.reported, undefined);
      }
      return;
    }
    this.#settle(response.clientToken);
    if (topic === topics.getAccepted && response.kind === "accepted") {
      const { desired = {}, reported = {}, delta } = response.state;
      this.dispatch({
        type: "get.accepted",
        shadow: { desired, reported, delta, version: response.version },
      });
    } else if (topic === topics.getRejected && response.kind === "rejected") {
      this.dispatch({ type: "get.rejected", code: response.code, message: response.message });
    } else if (topic === topics.updateAccepted && response.kind === "accepted") {
      this.dispatch({
        type: "update.accepted",
        version: response.version,
        reported: response.state.reported,
      });
    } else if (topic === topics.updateRejected && response.kind === "rejected") {
      this.dispatch({ type: "update.rejected", code: response.code, message: response.message });
    } else if (topic === topics.updateDelta && response.kind === "delta") {
      this.dispatch({ type: "delta", state: response.state, version: response.version });
    }
  }
}
