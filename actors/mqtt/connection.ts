/**
 * The MQTT connection actor: the one every cloud uses.
 *
 * ```
 * cloud:<name> (rest_for_one)
 * ├── connection   ← this actor: dials, watches, backs off, closes
 * └── shadow, operations, …  hold the MqttLink, never the connection
 * ```
 *
 * Owns: at most one live MQTT session (socket, TLS, mqtt.js timers), to
 * one of its brokers. Receives: `reconnect` (credentials renewed: close and
 * dial now) and `outpost.stop` (DISCONNECT gracefully, so the broker drops
 * the will). Sends: `link.attach(session, broker)` once connected (the link
 * restores its subscriptions before it reports connected),
 * `link.detach()` when the session goes, every inbound message to
 * `link.deliver`. Supervised by: its cloud's supervisor. A broker that is
 * down means the next broker, or backoff, never an error exit; only a bug
 * makes it fail. A forced stop drops the socket without DISCONNECT, so the
 * broker publishes the will. Which broker each attempt dials is the
 * statechart's decision (fail-over, docs/failover.md).
 */
import { type AnyActorLogic, fromCallback, fromPromise } from "xstate";
import {
  type ConnectAttempt,
  type MqttConnectionInput,
  mqttConnectionMachine,
  type RetryBackoff,
} from "../../machines/mqtt_connection.ts";
import {
  connectSession,
  type MqttConnectOptions,
  type OpenSession,
} from "../../protocols/mqtt_session.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import type { MqttLink } from "./link.ts";

/** One broker of a fail-over list: where it is, and what of TLS depends on where. */
export type MqttBroker = Pick<MqttConnectOptions, "url" | "alpnProtocols" | "servername">;

/**
 * {@link MqttConnectOptions} plus what the actor adds: fail-over between
 * brokers, backoff and renewable credentials.
 */
export interface MqttConnectionOptions extends MqttConnectOptions {
  /**
   * The brokers to fail over between, in order (docs/failover.md); each
   * one's `url`, `alpnProtocols` and `servername` replace those of the
   * options for the attempts on it. The first must be `url`. Default: `url`
   * alone.
   */
  brokers?: readonly MqttBroker[];
  /**
   * Delays between attempts, waited after a whole round of the brokers
   * failed. Defaults: `{ minMs: 1000, maxMs: 60000, jitter: 0.2 }`.
   */
  backoff?: Partial<RetryBackoff>;
  /**
   * Called before every attempt; what it returns replaces those fields of
   * the login. Lets Azure renew a SAS token (and learn its hub from DPS),
   * Cumulocity use registered credentials, and AWS connect with a newly
   * provisioned certificate and thing name. `lastError` is why the previous
   * attempt of this run failed, if it did (an `MqttConnectError` carries the
   * broker's refusal code). When it rejects, the attempt fails and the actor
   * moves on as for a broker that refused. A `url` it returns replaces the
   * broker's.
   */
  credentials?: (lastError?: Error) => Promise<MqttLogin>;
}

/** The parts of a login that a `credentials` hook may supply anew for each attempt. */
export type MqttLogin = Partial<
  Pick<MqttConnectOptions, "url" | "clientId" | "username" | "password" | "cert" | "key">
>;

/** What one run (one start of the actor) keeps between its invoked actors. */
interface Run {
  /** The live session; whoever takes it out closes it. */
  open: OpenSession | undefined;
  /** Why the last session closed, for a watch that starts after the fact. */
  lossError: Error | undefined;
  /** Why the last attempt failed; cleared by a successful one. */
  dialError: Error | undefined;
  /** The URL (no credentials) of the live session, or of the last one. */
  current: string;
  /** Set by `watch` while connected. */
  onLost: ((error?: Error) => void) | undefined;
  /** The attempt in progress, so a graceful stop waits for its socket to close. */
  dialing: Promise<unknown>;
  warnedInsecure: boolean;
}

const log = getLogger("mqtt");

/** `url` as a log line may show it: a user or password in it is dropped. */
function shown(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1");
}

/** The brokers of `options`, checked: a fail-over list must start at `url`. */
function brokersOf(options: MqttConnectionOptions): readonly MqttBroker[] {
  const { url, alpnProtocols, servername, brokers } = options;
  if (brokers === undefined) return [{ url, alpnProtocols, servername }];
  if (brokers.length === 0 || brokers[0].url !== url) {
    throw new TypeError(
      `The MQTT brokers of a connection must be a list that starts with its url ${
        shown(url)
      }, got [${brokers.map((b) => shown(b.url)).join(", ")}]`,
    );
  }
  return brokers;
}

/**
 * The connection statechart (machines/mqtt_connection.ts) with real effects,
 * as logic for `child(id, logic)`. Each start of the actor is independent:
 * a restart never sees the previous run's session.
 *
 * @example
 * ```ts
 * const link = new MqttLink("c8y");
 * const cloud = supervisor("cloud:c8y", { strategy: "rest_for_one" }, [
 *   child("connection", mqttConnection(link, {
 *     url: "mqtts://example.cumulocity.com:8883",
 *     clientId: "dev-1",
 *     backoff: { minMs: 2000 },
 *   })),
 * ]);
 * ```
 */
export function mqttConnection(link: MqttLink, options: MqttConnectionOptions): ActorLogic {
  const { backoff, credentials, brokers: _, ...connect } = options;
  const brokers = brokersOf(options);
  const urls = brokers.map((b) => shown(b.url));
  // Each start of the actor is a new XState system, so runs never share a session.
  const runs = new WeakMap<object, Run>();
  function runOf(system: object): Run {
    let run = runs.get(system);
    if (!run) {
      run = {
        open: undefined,
        lossError: undefined,
        dialError: undefined,
        current: urls[0],
        onLost: undefined,
        dialing: Promise.resolve(),
        warnedInsecure: false,
      };
      runs.set(system, run);
    }
    return run;
  }

  /** Takes the live session out of the run and closes it. */
  async function release(run: Run, graceful: boolean): Promise<void> {
    const open = run.open;
    if (!open) return;
    run.open = undefined;
    link.detach();
    await open.end({ graceful });
  }

  function sessionClosed(run: Run, open: OpenSession, error: Error | undefined): void {
    if (run.open !== open) return;
    run.open = undefined;
    run.lossError = error;
    link.detach();
    log.warn("Lost the MQTT connection to {url}: {error}", {
      url: run.current,
      error: error?.message ?? "the broker closed it",
    });
    run.onLost?.(error);
  }

  async function dial(
    run: Run,
    { attempt, broker }: ConnectAttempt,
    signal: AbortSignal,
  ): Promise<void> {
    let url = urls[broker];
    if (connect.rejectUnauthorized === false && !run.warnedInsecure) {
      run.warnedInsecure = true;
      log.warn("TLS verification is OFF for {urls}: any server can pose as these brokers", {
        urls: urls.join(", "),
      });
    }
    let login: MqttLogin = {};
    if (credentials) {
      try {
        login = await credentials(run.dialError);
      } catch (error) {
        throw new Error(
          `Cannot get credentials for MQTT broker ${url}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    if (login.url !== undefined) url = shown(login.url);
    log.info("Connecting to MQTT broker {url} as {clientId} (attempt {attempt})", {
      url,
      clientId: login.clientId ?? connect.clientId,
      attempt,
    });
    let open: OpenSession | undefined = undefined;
    open = await connectSession({ ...connect, ...brokers[broker], ...login }, {
      onMessage: (message) => link.deliver(message),
      onClose: (error) => sessionClosed(run, open!, error),
      signal,
    });
    if (signal.aborted) {
      await open.end();
      throw new Error(`Connecting to MQTT broker ${url} was cancelled`);
    }
    run.open = open;
    run.lossError = undefined;
    run.current = url;
    // Stopped before the machine saw this attempt succeed: `disconnect` takes the
    // session on a graceful stop; on a forced one nobody does.
    signal.addEventListener("abort", () => dropIfAbandoned(run, open), { once: true });
    try {
      await link.attach(open.session, url);
    } catch (error) {
      if (run.open === open) await release(run, true);
      else await open.end();
      throw new Error(
        `Connected to MQTT broker ${url} but could not restore subscriptions: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    if (run.open !== open) {
      // Taken away while the subscriptions were restored: the link must not keep it.
      link.detach();
      throw new Error(`The connection to MQTT broker ${url} closed while restoring subscriptions`);
    }
    log.info("Connected to MQTT broker {url}", { url });
  }

  /**
   * Leaves `open` to whoever starts next in the same step: `connect` (after a
   * reconnect) or `disconnect` (a graceful stop) take it synchronously as they
   * start. If it is still here after that, the actor was stopped by force, so
   * the socket is dropped without DISCONNECT, as a crash would, and the broker
   * publishes the will.
   */
  function dropIfAbandoned(run: Run, open: OpenSession): void {
    queueMicrotask(() => {
      if (run.open === open) void release(run, false);
    });
  }

  const provided = mqttConnectionMachine.provide({
    actors: {
      connect: fromPromise<void, ConnectAttempt>(({ input, system, signal }) => {
        const run = runOf(system);
        // Synchronously, before `dropIfAbandoned` looks: a `reconnect` leaves the
        // previous session here, and it is closed politely first.
        const previous = release(run, true);
        const attempt = previous.then(() => dial(run, input, signal));
        run.dialing = attempt.then(
          () => void (run.dialError = undefined),
          (error) => void (run.dialError = error as Error),
        );
        return attempt;
      }),
      watch: fromCallback(({ system, sendBack }) => {
        const run = runOf(system);
        if (!run.open) {
          sendBack({ type: "lost", error: run.lossError });
          return;
        }
        run.onLost = (error) => sendBack({ type: "lost", error });
        return () => {
          run.onLost = undefined;
          if (run.open) dropIfAbandoned(run, run.open);
        };
      }),
      disconnect: fromPromise<void, void>(async ({ system }) => {
        const run = runOf(system);
        const closing = release(run, true);
        await run.dialing;
        await closing;
        await release(run, true);
        log.info("Disconnected from MQTT broker {url}", { url: run.current });
      }),
    },
    actions: {
      reportFailover: (_, { error, failed, broker }) =>
        log.warn("MQTT broker {url}: {error}; trying the next broker, {next}, now", {
          url: urls[failed],
          error: error ?? "connection lost",
          next: urls[broker],
        }),
      reportRetry: (_, { attempt, error, failed, broker, withinMs }) =>
        log.warn(
          brokers.length === 1
            ? "MQTT broker {url}: {error}; retry {attempt} within {withinMs} ms"
            : "MQTT broker {url}: {error}; every broker failed, retry {attempt} on {next} within {withinMs} ms",
          {
            url: urls[failed],
            error: error ?? "connection lost",
            attempt,
            next: urls[broker],
            withinMs,
          },
        ),
      reportCloseFailure: ({ system }, { error }) =>
        log.warn("Closing the MQTT connection to {url} failed: {error}", {
          url: runOf(system).current,
          error,
        }),
    },
  });
  return withInput(provided, { backoff, brokers: brokers.length });
}

/**
 * The runtime starts a worker with its child spec's input; a connection's
 * backoff belongs to the connection, so it is bound to the logic here.
 */
function withInput<T extends AnyActorLogic>(logic: T, input: MqttConnectionInput): T {
  const bound = Object.create(logic) as T;
  bound.getInitialSnapshot = (scope, given) =>
    logic.getInitialSnapshot.call(bound, scope, given ?? input);
  return bound;
}
