/**
 * `outpost fleet` measured (issue 15), side by side in one run:
 *
 * (a) Devices per process: N simulated devices (default 5,000) connected
 *     to a local mosquitto, idle at one record per 10 s each: the fleet
 *     process's RSS, per device, CPU % over a window, time to all connected;
 *     beside K separate `outpost run` agents on the same broker (RSS each),
 *     and the factor between N agents and one fleet.
 * (b) Aggregate telemetry rate: the fleet with M devices (default 1,000)
 *     producing as fast as the outbox drains (`intervalSec = 0`: each device
 *     keeps `inFlight` records waiting), against a broker list
 *     (default: a 3-node NATS cluster with MQTT, tests/helpers/nats_cluster.ts),
 *     beside the bare mqtt.js load generator (fleet_loadgen.ts) with as many
 *     connections on the same brokers and as many publishes in flight per
 *     connection, with the same two QoS 1 subscriptions per connection as a
 *     device (and, for reference, without); all count PUBACKs a second.
 *
 * Usage: deno run -A bench/fleet_bench.ts [--devices 5000] [--ramp 500]
 *   [--agents 8] [--settle 15] [--window 30] [--rate-devices 1000]
 *   [--in-flight 16] [--rate-window 20] [--warmup 10] [--urls a,b,c]
 *   [--only a|b] [--program bundle|main] [--out /tmp/bench_fleet.md]
 * Writes the results (command, date, load, figures) to --out as well.
 */
import { startMosquitto } from "../tests/helpers/brokers.ts";
import { startNatsCluster } from "../tests/helpers/nats_cluster.ts";
import { formatNumber } from "./measure.ts";
import {
  bundleAgent,
  fleetToml,
  residentBytes,
  sample,
  spawnWatched,
  startAgents,
  startEmptyProcess,
  startFleet,
} from "./fleet_process.ts";

const args = parseArgs(Deno.args);
const devices = int("devices", 5000);
const ramp = int("ramp", 500);
const agents = int("agents", 8);
const settleMs = int("settle", 15) * 1000;
const windowMs = int("window", 30) * 1000;
const rateDevices = int("rate-devices", 1000);
const inFlight = int("in-flight", 16);
const rateWindowMs = int("rate-window", 20) * 1000;
const warmupMs = int("warmup", 10) * 1000;
const only = args.get("only");
const out = args.get("out") ?? "/tmp/bench_fleet.md";
const MB = 1024 * 1024;
const report: string[] = [];

function say(line = ""): void {
  console.log(line);
  report.push(line);
}

const command = `deno run -A bench/fleet_bench.ts ${Deno.args.join(" ")}`.trim();
say(`## outpost fleet (${new Date().toISOString()})`);
say();
say(`Command: \`${command}\``);
say(`Machine: ${navigator.hardwareConcurrency} cores; load at start: ${await load()}`);
say(`Open files limit (ulimit -n): ${await fileLimit()}`);
const program = args.get("program") === "main"
  ? new URL("../main.ts", import.meta.url).pathname
  : await bundleAgent();
say(
  `Program: ${args.get("program") === "main" ? "main.ts" : "deno bundle of main.ts (as shipped)"}`,
);

if (only !== "b") await devicesPerProcess();
if (only !== "a") await aggregateRate();
say();
say(`Load at end: ${await load()}`);
await Deno.writeTextFile(out, report.join("\n") + "\n", { append: true });
if (args.get("program") !== "main") {
  await Deno.remove(program.slice(0, program.lastIndexOf("/")), { recursive: true });
}
console.log(`\nwritten to ${out}`);

async function devicesPerProcess(): Promise<void> {
  say();
  say(`### (a) devices per process: ${devices} devices, 1 record / 10 s each, local mosquitto`);
  const limit = await fileLimit();
  if (limit < devices * 2 + 200) {
    say(`(ulimit -n ${limit} is below 2 x devices: mosquitto may refuse connections; raise it)`);
  }
  const broker = await startMosquitto();
  try {
    const empty = await startEmptyProcess();
    const emptyRss = (await residentBytes(empty.pid)).total;
    await empty.stop();

    const fleet = await startFleet(
      program,
      (stateDir) =>
        fleetToml({ devices, urls: [broker.url], stateDir, intervalSec: 10, rampPerSec: ramp }),
    );
    const connectedMs = await fleet.connected(devices, (devices / ramp) * 1000 + 180_000);
    await delay(settleMs);
    const idle = await sample(fleet.process.pid, windowMs);
    const stopped = await fleet.stop();

    const running = await startAgents(program, agents, broker.url);
    await delay(settleMs);
    const each = await Promise.all(running.pids.map((pid) => sample(pid, windowMs)));
    await running.stop();

    const agentRss = each.reduce((sum, s) => sum + s.rss, 0) / each.length;
    const agentCpu = each.reduce((sum, s) => sum + s.cpu, 0) / each.length;
    const mb = (bytes: number) => formatNumber(bytes / MB, 1);
    say();
    say("| | one fleet process | one `outpost run` (mean of " + `${agents}) |`);
    say("|---|---|---|");
    say(`| devices | ${devices} | 1 |`);
    say(`| RSS | ${mb(idle.rss)} MB | ${mb(agentRss)} MB |`);
    say(
      `| RSS per device | ${formatNumber(idle.rss / devices / 1024, 1)} KB | ${mb(agentRss)} MB |`,
    );
    say(
      `| RSS per device above an empty deno (${mb(emptyRss)} MB) | ` +
        `${formatNumber((idle.rss - emptyRss) / devices / 1024, 1)} KB | ${
          mb(agentRss - emptyRss)
        } MB |`,
    );
    say(
      `| CPU over ${windowMs / 1000} s (one core = 100 %) | ${formatNumber(idle.cpu, 1)} % | ` +
        `${formatNumber(agentCpu, 2)} % |`,
    );
    say(
      `| CPU per device | ${formatNumber(idle.cpu / devices * 1000, 2)} m% | ` +
        `${formatNumber(agentCpu * 1000, 1)} m% |`,
    );
    say(`| spawn to all connected | ${formatNumber(connectedMs / 1000, 1)} s (ramp ${ramp}/s) | |`);
    say(
      `| SIGTERM to exit | ${formatNumber(stopped.stopMs / 1000, 1)} s (code ${stopped.code}) | |`,
    );
    say();
    say(
      `${devices} agents as processes: ${formatNumber(agentRss * devices / MB / 1024, 1)} GB ` +
        `(mean RSS x ${devices}) vs ${formatNumber(idle.rss / MB / 1024, 2)} GB: ` +
        `**${formatNumber(agentRss * devices / idle.rss, 0)}x** less memory in one fleet.`,
    );
    say(`Fleet's last line: ${stopped.final}`);
  } finally {
    await broker.stop();
  }
}

async function aggregateRate(): Promise<void> {
  say();
  const given = args.get("urls")?.split(",").filter((u) => u.length > 0);
  const cluster = given ? undefined : await startNatsCluster({
    nodes: 3,
    // Consumers of the devices' QoS 1 subscriptions in memory, one replica:
    // the benchmark measures telemetry ingest, not subscription storage.
    mqtt: { consumerMemoryStorage: true, consumerReplicas: 1 },
  });
  try {
    await cluster?.ready();
    const urls = given ?? cluster!.mqttUrls;
    say(
      `### (b) aggregate telemetry rate: ${rateDevices} connections, ` +
        `${given ? urls.join(", ") : "3-node NATS cluster (JetStream, MQTT)"}`,
    );
    say(
      `Each of the fleet's devices keeps ${inFlight} records waiting in its outbox ` +
        `(intervalSec = 0); the bare generator keeps ${inFlight} QoS 1 publishes in flight ` +
        "per connection.",
    );
    const fleet = await startFleet(program, (stateDir) =>
      fleetToml({
        devices: rateDevices,
        urls,
        stateDir,
        intervalSec: 0,
        inFlight,
        rampPerSec: ramp,
      }));
    await fleet.connected(rateDevices, (rateDevices / ramp) * 1000 + 180_000);
    await delay(warmupMs);
    const fleetRate = await fleet.rate(rateWindowMs);
    const fleetStop = await fleet.stop();

    const subscribed = await bareRate(urls, true).catch(failed);
    const unsubscribed = await bareRate(urls, false).catch(failed);

    const window = `${rateWindowMs / 1000} s`;
    say();
    say(`| records/s acknowledged, over ${window} | records/s | fleet / this |`);
    say("|---|---|---|");
    say(
      "| fleet (outbox, drains; each device subscribed to its desired state and commands) | " +
        `${formatNumber(fleetRate, 0)} | |`,
    );
    say(
      "| bare mqtt.js, the same two QoS 1 subscriptions per connection | " +
        `${formatNumber(subscribed, 0)} | **${formatNumber(fleetRate / subscribed, 2)}x** |`,
    );
    say(
      `| bare mqtt.js, no subscriptions | ${formatNumber(unsubscribed, 0)} | ` +
        `${formatNumber(fleetRate / unsubscribed, 2)}x |`,
    );
    say();
    say(`Fleet's last line: ${fleetStop.final}`);
  } finally {
    await cluster?.stop();
  }
}

// A bare run that failed is reported and counts as no figure.
function failed(error: Error): number {
  say(`(the bare generator failed: ${error.message.split("\n")[0]})`);
  return Number.NaN;
}

/** PUBACKs a second of the bare generator over the window, after the warm-up. */
async function bareRate(urls: string[], subscribe: boolean): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "fleet-bench-bare-" });
  const loadgen = new URL("./fleet_loadgen.ts", import.meta.url).pathname;
  const bare = spawnWatched(
    [loadgen, urls.join(","), String(rateDevices), String(inFlight), subscribe ? "1" : "0"],
    dir,
  );
  try {
    await bare.waitFor(/^connected /, 180_000);
    await delay(warmupMs);
    const first = await bare.waitFor(/^acked /, 5000);
    const begin = performance.now();
    await delay(rateWindowMs);
    const last = await bare.waitFor(/^acked /, 5000);
    return (Number(last.slice(6)) - Number(first.slice(6))) /
      ((performance.now() - begin) / 1000);
  } catch (error) {
    const { stderr } = await bare.stop();
    throw new Error(`${(error as Error).message} ${stderr.trim()}`.trim());
  } finally {
    await bare.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function parseArgs(list: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i < list.length; i++) {
    if (!list[i].startsWith("--")) throw new Error(`Unexpected argument ${list[i]}`);
    map.set(list[i].slice(2), list[i + 1] ?? "");
    i++;
  }
  return map;
}

function int(name: string, fallback: number): number {
  const value = Number(args.get(name) ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be an integer >= 1`);
  return value;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function load(): Promise<string> {
  const text = await Deno.readTextFile("/proc/loadavg");
  return text.split(" ").slice(0, 3).join(" ");
}

async function fileLimit(): Promise<number> {
  const output = await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped" })
    .output();
  const text = new TextDecoder().decode(output.stdout).trim();
  return text === "unlimited" ? Infinity : Number(text);
}
