/**
 * `outpost fleet` against a local 3-node NATS cluster with MQTT, in one
 * command: starts the cluster (tests/helpers/nats_cluster.ts; needs
 * `nats-server`, Debian's package), runs `main.ts fleet` on a copy of a
 * fleet file whose first cloud lists the cluster's brokers (devices spread
 * over the nodes), passes Ctrl-C / SIGTERM on, and removes the cluster once
 * the fleet has stopped.
 *
 * Usage: deno run -A bench/fleet_cluster.ts [-c examples/fleet.toml] [--devices 1000] [--first 1]
 */
import { parse, stringify } from "smol-toml";
import { startNatsCluster } from "../tests/helpers/nats_cluster.ts";

const args = [...Deno.args];
const option = (names: string[], fallback?: string) => {
  const at = args.findIndex((a) => names.includes(a));
  return at >= 0 ? args[at + 1] : fallback;
};
const file = option(
  ["-c", "--config"],
  new URL("../examples/fleet.toml", import.meta.url).pathname,
)!;
const devices = option(["-n", "--devices"], "1000")!;
const first = option(["--first"]);

const dir = await Deno.makeTempDir({ prefix: "fleet-cluster-" });
const cluster = await startNatsCluster({
  nodes: 3,
  // The devices' subscriptions are consumers: in memory, one replica each.
  mqtt: { consumerMemoryStorage: true, consumerReplicas: 1 },
});
try {
  await cluster.ready();
  const table = parse(await Deno.readTextFile(file)) as Record<string, Record<string, unknown>>;
  const clouds = table.clouds as Record<string, Record<string, unknown>> | undefined;
  const [name, cloud] = Object.entries(clouds ?? {})[0] ?? [];
  if (!cloud) throw new Error(`${file} has no [clouds.<name>] table to point at the cluster`);
  delete cloud.url;
  cloud.urls = cluster.mqttUrls;
  table.fleet = { ...table.fleet, stateDir: `${dir}/state` };
  await Deno.writeTextFile(`${dir}/fleet.toml`, stringify(table));
  console.log(`NATS cluster ${cluster.mqttUrls.join(" ")}; [clouds.${name}] lists it`);

  const fleet = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../main.ts", import.meta.url).pathname,
      "fleet",
      "-c",
      `${dir}/fleet.toml`,
      "--devices",
      devices,
      ...(first ? ["--first", first] : []),
    ],
    stdin: "null",
  }).spawn();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      try {
        fleet.kill(signal);
      } catch {
        // It has ended already.
      }
    });
  }
  const { code } = await fleet.status;
  Deno.exitCode = code;
} finally {
  await cluster.stop();
  await Deno.remove(dir, { recursive: true });
}
