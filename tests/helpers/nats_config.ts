/**
 * The configuration of one node of a loopback NATS cluster with JetStream
 * and MQTT (what nats_cluster.ts writes), and where the nats-server program
 * is. Pure apart from the PATH lookup; docs/cluster.md explains each key.
 */

/**
 * The `mqtt {}` block's tuning. Defaults are what the failover test needs:
 * everything replicated to `min(3, nodes)` nodes and kept on disk, so a
 * persistent session survives the loss of any one node of three.
 */
export interface NatsMqttTuning {
  /**
   * `stream_replicas` of `$MQTT_sess`, `$MQTT_msgs`, `$MQTT_rmsgs`; default
   * `min(3, nodes)`. Takes effect only when the streams are first created.
   */
  replicas?: number;
  /** `consumer_replicas` of each QoS 1 subscription's consumer; default = `replicas`. */
  consumerReplicas?: number;
  /** `consumer_memory_storage`: consumers in memory, not on disk; default false. */
  consumerMemoryStorage?: boolean;
  /**
   * `ack_wait`: seconds before a QoS 1 message that a subscriber did not
   * PUBACK is sent again (with DUP); default 30 (the server's own default).
   */
  ackWaitSec?: number;
  /** `max_ack_pending`: QoS 1 messages in flight to one subscription; default 1024. */
  maxAckPending?: number;
}

/** The ports and directory of one node, as `natsNodeConfig` needs them. */
export interface NatsNodeAddress {
  /** `server_name`; MQTT in a cluster requires one. */
  name: string;
  mqttPort: number;
  clientPort: number;
  clusterPort: number;
  httpPort: number;
  /** Holds `nats.log` and the JetStream store (`jetstream/`). */
  dir: string;
}

/**
 * The nats-server config of `node` in a cluster whose route ports are
 * `routePorts` (every node's, this one's included: nats-server skips a route
 * to itself). A one-node "cluster" gets no `cluster {}` block.
 *
 * @example
 * ```ts
 * const conf = natsNodeConfig(
 *   { name: "A", mqttPort: 1883, clientPort: 4222, clusterPort: 6222, httpPort: 8222, dir: "/tmp/a" },
 *   [6222, 6223, 6224],
 * );
 * ```
 */
export function natsNodeConfig(
  node: NatsNodeAddress,
  routePorts: readonly number[],
  tuning: NatsMqttTuning = {},
): string {
  const replicas = tuning.replicas ?? Math.min(3, routePorts.length);
  const lines = [
    `server_name: ${JSON.stringify(node.name)}`,
    `listen: "127.0.0.1:${node.clientPort}"`,
    `http: "127.0.0.1:${node.httpPort}"`,
    `log_file: ${JSON.stringify(`${node.dir}/nats.log`)}`,
    "logtime: true",
    "jetstream {",
    `  store_dir: ${JSON.stringify(node.dir)}`,
    // Bounds, so a runaway test fills neither the disk nor the memory.
    "  max_file_store: 1GB",
    "  max_memory_store: 256MB",
    "}",
  ];
  if (routePorts.length > 1) {
    lines.push(
      "cluster {",
      '  name: "outpost-test"',
      `  listen: "127.0.0.1:${node.clusterPort}"`,
      `  routes: [${routePorts.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}]`,
      "}",
    );
  }
  lines.push(
    "mqtt {",
    `  listen: "127.0.0.1:${node.mqttPort}"`,
    `  stream_replicas: ${replicas}`,
    `  consumer_replicas: ${tuning.consumerReplicas ?? replicas}`,
    `  consumer_memory_storage: ${tuning.consumerMemoryStorage ?? false}`,
    `  ack_wait: "${tuning.ackWaitSec ?? 30}s"`,
    `  max_ack_pending: ${tuning.maxAckPending ?? 1024}`,
    "}",
  );
  return lines.join("\n") + "\n";
}

/**
 * The nats-server program: `$NATS_SERVER` if set, else `nats-server` on the
 * PATH, else Debian's /usr/sbin/nats-server (not on a normal user's PATH).
 *
 * @throws when none of them exists, saying how to install it.
 */
export function natsServerBinary(): string {
  const fromEnv = Deno.env.get("NATS_SERVER");
  if (fromEnv) return fromEnv;
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  for (const dir of [...dirs, "/usr/sbin", "/usr/local/sbin"]) {
    const path = `${dir}/nats-server`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  throw new Error(
    "nats-server not found on the PATH or in /usr/sbin: install it (apt-get install nats-server) " +
      "or set NATS_SERVER to its path",
  );
}
