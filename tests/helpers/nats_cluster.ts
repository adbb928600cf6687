/**
 * A real clustered MQTT broker for system tests and benchmarks: N
 * `nats-server` processes (Debian's 2.9.10 is what CI installs) forming one
 * NATS cluster with JetStream, each serving MQTT 3.1.1. Everything listens
 * on 127.0.0.1 on ports the OS handed out; each node's JetStream store, log
 * and config live in one temporary directory (`cluster-*`) that `stop()`
 * removes. docs/cluster.md records what this cluster does when nodes die.
 *
 * ```
 *            routes (full mesh, loopback)
 *   A ─────────────────── B ─────────────────── C
 *   mqtt  client  http     mqtt  client  http     mqtt  client  http
 *   store: <dir>/A/        store: <dir>/B/        store: <dir>/C/
 * ```
 *
 * MQTT state (sessions, retained messages, QoS 1 messages and each QoS 1
 * subscription's consumer) lives in JetStream streams replicated to
 * `min(3, nodes)` nodes, so a 3-node cluster keeps serving QoS 1 with any
 * one node down and stops (no quorum) with two down.
 *
 * @example
 * ```ts
 * await using cluster = await startNatsCluster({ nodes: 3 });
 * await cluster.ready();                       // QoS 1 round trip through every node
 * const urls = cluster.nodes.map((n) => n.mqttUrl);
 * await cluster.kill(0);                       // SIGKILL node A
 * await cluster.ready();                       // B and C still serve QoS 1
 * await cluster.restart(0);                    // same ports, same store
 * await cluster.ready();
 * ```
 */
import { mqttRoundTrip } from "./cluster_mqtt.ts";
import { type NatsMqttTuning, natsNodeConfig, natsServerBinary } from "./nats_config.ts";

export { type NatsMqttTuning, natsNodeConfig, natsServerBinary } from "./nats_config.ts";

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  /** How many nodes; default 3 (the smallest cluster that survives a node loss). */
  nodes?: number;
  /** Where the cluster's own temporary directory is made; default the system's temp dir. */
  dir?: string;
  /** The `mqtt {}` tuning of every node; see {@link NatsMqttTuning} for the defaults. */
  mqtt?: NatsMqttTuning;
  /** The nats-server program; default {@link natsServerBinary}. */
  binary?: string;
  /** How long a start waits for a node's MQTT port; default 10 000 ms. */
  startTimeoutMs?: number;
}

/** One node's fixed facts: they stay the same across kills and restarts. */
export interface NatsNode {
  /** Position in `cluster.nodes` (0 = A). */
  readonly index: number;
  /** `server_name`: "A", "B", "C", … */
  readonly name: string;
  /** `mqtt://127.0.0.1:<mqttPort>`. */
  readonly mqttUrl: string;
  readonly mqttPort: number;
  /** NATS client port (`nats://127.0.0.1:<clientPort>`). */
  readonly clientPort: number;
  /** Route port that the other nodes dial. */
  readonly clusterPort: number;
  /** Monitoring port (`/healthz`, `/connz`, `/jsz`). */
  readonly httpPort: number;
  /** The node's directory: its config, log file and JetStream store. */
  readonly dir: string;
}

/** Options of {@link NatsCluster.ready}. */
export interface ReadyOptions {
  /** Default 30 000 ms. */
  timeoutMs?: number;
  /** Which nodes must serve; default every running node. */
  nodes?: readonly number[];
}

interface Process {
  child: Deno.ChildProcess;
  exited: Promise<Deno.CommandStatus>;
  stderr: Promise<string>;
}

/** Starts the nodes and resolves once each one's MQTT port accepts TCP (not yet `ready()`). */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 26) {
    throw new RangeError(`A NATS cluster needs 1 to 26 nodes, got ${count}`);
  }
  const root = await Deno.makeTempDir({ dir: options.dir, prefix: "cluster-" });
  const ports = distinctFreePorts(count * 4);
  const nodes: NatsNode[] = Array.from({ length: count }, (_, index) => {
    const name = String.fromCharCode(65 + index);
    const [mqttPort, clientPort, clusterPort, httpPort] = ports.splice(0, 4);
    return {
      index,
      name,
      mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      mqttPort,
      clientPort,
      clusterPort,
      httpPort,
      dir: `${root}/${name}`,
    };
  });
  const cluster = new NatsCluster(root, nodes, {
    binary: options.binary ?? natsServerBinary(),
    startTimeoutMs: options.startTimeoutMs ?? 10_000,
  });
  try {
    for (const node of nodes) {
      await Deno.mkdir(node.dir);
      await Deno.writeTextFile(
        `${node.dir}/nats.conf`,
        natsNodeConfig(node, nodes.map((n) => n.clusterPort), options.mqtt),
      );
    }
    await Promise.all(nodes.map((node) => cluster.restart(node.index)));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/**
 * A running cluster: kill, restart and check its nodes; `stop()` (or
 * `await using`) kills every node and removes the directory.
 */
export class NatsCluster {
  readonly #processes = new Map<number, Process>();
  readonly #options: { binary: string; startTimeoutMs: number };
  #stopped: Promise<void> | undefined;
  // A test that crashes past its `finally` still must not leave servers behind.
  readonly #onUnload = () => {
    for (const { child } of this.#processes.values()) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  };

  /** Use {@link startNatsCluster}. */
  constructor(
    /** The cluster's temporary directory. */
    readonly dir: string,
    /** The nodes, A first. */
    readonly nodes: readonly NatsNode[],
    options: { binary: string; startTimeoutMs: number },
  ) {
    this.#options = options;
    globalThis.addEventListener("unload", this.#onUnload);
  }

  /** Every node's MQTT URL, A first (what an agent's `urls` lists). */
  get mqttUrls(): string[] {
    return this.nodes.map((n) => n.mqttUrl);
  }

  /** Whether node `i` has a live process. */
  running(i: number): boolean {
    return this.#processes.has(this.#node(i).index);
  }

  /** The indexes of the running nodes. */
  runningNodes(): number[] {
    return this.nodes.map((n) => n.index).filter((i) => this.running(i));
  }

  /** Sends `signal` to node `i` and resolves once the process exited. */
  async kill(i: number, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const node = this.#node(i);
    const process = this.#processes.get(i);
    if (!process) throw new Error(`Node ${node.name} is not running`);
    try {
      process.child.kill(signal);
    } catch { /* it exited by itself; the status says how */ }
    await process.exited;
    await process.stderr;
    this.#processes.delete(i);
  }

  /**
   * Starts node `i` again (or for the first time) with the same ports,
   * config and JetStream store; resolves once its MQTT port accepts TCP.
   * Call {@link ready} before relying on it: JetStream catches up after.
   */
  async restart(i: number): Promise<void> {
    const node = this.#node(i);
    if (this.#processes.has(i)) throw new Error(`Node ${node.name} is already running`);
    if (this.#stopped) throw new Error("The cluster was stopped");
    const child = new Deno.Command(this.#options.binary, {
      args: ["-c", `${node.dir}/nats.conf`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let gone = false;
    const exited = child.status.finally(() => void (gone = true));
    this.#processes.set(i, { child, exited, stderr });
    try {
      await acceptingTcp(node.mqttPort, () => gone, this.#options.startTimeoutMs);
    } catch (error) {
      const why = (error as Error).message;
      if (!gone) await this.kill(i);
      this.#processes.delete(i);
      throw new Error(
        `nats-server node ${node.name} did not open MQTT port ${node.mqttPort}: ${why}\n` +
          `stderr: ${(await stderr).trim() || "(empty)"}\n${await this.log(i)}`,
      );
    }
  }

  /**
   * Resolves once a QoS 1 message published on each node in `options.nodes`
   * (default: every running one) reaches a clean-session QoS 1 subscriber on
   * each of them: CONNECT, SUBSCRIBE and PUBLISH all need JetStream, so this
   * proves the MQTT streams have leaders and a quorum. Retries until the
   * deadline, then rejects with the last reason, each node's `/healthz` and
   * the tail of every node's log. (`/healthz` alone is no readiness signal:
   * under load it reports streams "not current" for many seconds while MQTT
   * works; docs/cluster.md.)
   */
  async ready(options: ReadyOptions = {}): Promise<void> {
    const { timeoutMs = 30_000 } = options;
    const which = options.nodes ?? this.runningNodes();
    const stopped = which.filter((i) => !this.running(i));
    if (which.length === 0 || stopped.length > 0) {
      throw new Error(`Cannot wait for nodes [${which}]: not running: [${stopped}]`);
    }
    const urls = which.map((i) => this.nodes[i].mqttUrl);
    const deadline = Date.now() + timeoutMs;
    let reason = "no attempt finished";
    while (Date.now() < deadline) {
      try {
        await mqttRoundTrip(urls, { timeoutMs: Math.min(deadline - Date.now(), 5000) });
        return;
      } catch (error) {
        reason = (error as Error).message;
      }
      // A retry interval while JetStream elects leaders, not a settle delay.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const health = await Promise.all(
      which.map(async (i) => `${this.nodes[i].name}: ${await this.health(i)}`),
    );
    const logs = await Promise.all(this.nodes.map((n) => this.log(n.index, 25)));
    throw new Error(
      `The NATS cluster (nodes ${which.map((i) => this.nodes[i].name)}) was not ready ` +
        `within ${timeoutMs} ms: ${reason}\n/healthz: ${health.join("; ")}\n${logs.join("\n")}`,
    );
  }

  /**
   * Node `i`'s `/healthz` verdict: `"ok"`, or the server's reason (no meta
   * leader, a stream or consumer not current), or why it did not answer.
   */
  async health(i: number): Promise<string> {
    try {
      const body = await this.monitor(i, "/healthz");
      return body.status === "ok" ? "ok" : `${body.status}: ${body.error ?? "no reason given"}`;
    } catch (error) {
      return `no answer: ${(error as Error).message}`;
    }
  }

  /** The node whose MQTT listener holds client `clientId` now, or undefined (`/connz`). */
  async mqttClientNode(clientId: string): Promise<number | undefined> {
    for (const i of this.runningNodes()) {
      const connz = await this.monitor(i, `/connz?mqtt_client=${encodeURIComponent(clientId)}`)
        .catch(() => ({ num_connections: 0 }));
      if (Number(connz.num_connections) > 0) return i;
    }
    return undefined;
  }

  /** GETs a monitoring endpoint of node `i` (`/varz`, `/jsz`, `/connz?…`) as JSON. */
  async monitor(i: number, path: string): Promise<Record<string, unknown>> {
    const response = await fetch(`http://127.0.0.1:${this.#node(i).httpPort}${path}`, {
      signal: AbortSignal.timeout(2000),
    });
    return await response.json();
  }

  /** Node `i`'s log file (every run of it), or its last `lines` lines, headed by the node's name. */
  async log(i: number, lines?: number): Promise<string> {
    const node = this.#node(i);
    const text = await Deno.readTextFile(`${node.dir}/nats.log`).catch(() => "(no log yet)");
    const kept = lines === undefined ? text : text.trimEnd().split("\n").slice(-lines).join("\n");
    return `--- node ${node.name} (${this.running(i) ? "running" : "down"}) log ---\n${kept}`;
  }

  /** Kills every running node with SIGKILL and removes the cluster's directory. */
  stop(): Promise<void> {
    return this.#stopped ??= (async () => {
      try {
        await Promise.all([...this.#processes.keys()].map((i) => this.kill(i)));
      } finally {
        globalThis.removeEventListener("unload", this.#onUnload);
        await Deno.remove(this.dir, { recursive: true }).catch(() => {});
      }
    })();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #node(i: number): NatsNode {
    const node = this.nodes[i];
    if (!node) throw new RangeError(`No node ${i}: the cluster has ${this.nodes.length}`);
    return node;
  }
}

/**
 * `count` different ports that were free a moment ago. All are held at once
 * before any is released: one at a time (brokers.ts's `freePort`), the OS
 * may hand the same port out twice, and two nodes would share it.
 */
function distinctFreePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** Resolves once 127.0.0.1:`port` accepts TCP; rejects at the deadline or when `gone()`. */
async function acceptingTcp(port: number, gone: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (gone()) throw new Error("the process exited");
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`nothing accepted within ${timeoutMs} ms`, { cause: error });
      }
    }
    // A retry interval while the process starts, not a settle delay.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
