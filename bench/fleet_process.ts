/**
 * The processes fleet_bench.ts measures: `outpost fleet` (its summary lines
 * read from stdout), K `outpost run` agents on one broker, and the bare
 * mqtt.js load generator (fleet_loadgen.ts); their RSS and CPU time from
 * /proc. Every process gets its own temporary directory (`fleet-bench-*`).
 */
import { LineReader } from "../tests/helpers/line_reader.ts";
import { observe } from "../tests/helpers/mqtt_observer.ts";
import { residentBytes } from "./agent_process.ts";

export { bundleAgent, residentBytes, startEmptyProcess } from "./agent_process.ts";

/** A spawned process whose stdout is read line by line. */
export interface Watched {
  pid: number;
  /** Milliseconds from just before spawn. */
  sinceSpawn(): number;
  /** The first line matching `pattern` printed after this call (all are kept in `lines`). */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** SIGTERM, then the exit; resolves with the code and the time it took. */
  stop(timeoutMs?: number): Promise<{ code: number; stopMs: number; stderr: string }>;
}

/** Spawns `deno run -A <args>` in `cwd` and reads its stdout. */
export function spawnWatched(args: string[], cwd: string): Watched {
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = new LineReader(child.stdout);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const reading = (async () => {
    for (let line = await reader.read(); line !== undefined; line = await reader.read()) {
      lines.push(line);
      for (const wake of waiters) wake();
    }
    for (const wake of waiters) wake();
  })();
  let ended = false;
  let stopped: Promise<{ code: number; stopMs: number; stderr: string }> | undefined;
  const status = child.status.then((s) => {
    ended = true;
    for (const wake of waiters) wake();
    return s;
  });
  return {
    pid: child.pid,
    lines,
    sinceSpawn: () => performance.now() - start,
    waitFor(pattern, timeoutMs) {
      let from = lines.length;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no line matched ${pattern}`)), timeoutMs);
        const finish = (error?: Error, line?: string) => {
          clearTimeout(timer);
          waiters.delete(check);
          // stderr is whole only once the process has ended: a live one is not waited for.
          if (error) {
            reject(new Error(`${error.message}\nstdout tail:\n${lines.slice(-5).join("\n")}`));
          } else resolve(line!);
        };
        const check = () => {
          for (; from < lines.length; from++) {
            if (pattern.test(lines[from])) return finish(undefined, lines[from++]);
          }
          if (ended) finish(new Error(`the process ended before a line matched ${pattern}`));
        };
        waiters.add(check);
        check();
      });
    },
    stop(timeoutMs = 120_000) {
      return stopped ??= (async () => {
        const begin = performance.now();
        const kill = (signal: Deno.Signal) => {
          try {
            child.kill(signal);
          } catch {
            // Already gone; the status says how.
          }
        };
        kill("SIGTERM");
        const killer = setTimeout(() => kill("SIGKILL"), timeoutMs);
        const { code } = await status;
        clearTimeout(killer);
        await reading;
        return { code, stopMs: performance.now() - begin, stderr: await stderr };
      })();
    },
  };
}

/** User + system CPU time of `pid` in seconds, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name may hold spaces; fields count from after its ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU % (of one core) of `pid` over `ms`, and its RSS at the end. */
export async function sample(pid: number, ms: number): Promise<{ cpu: number; rss: number }> {
  const before = await cpuSeconds(pid);
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const cpu = ((await cpuSeconds(pid)) - before) / ((performance.now() - start) / 1000) * 100;
  return { cpu, rss: (await residentBytes(pid)).total };
}

/** The fleet file the benchmark runs. */
export function fleetToml(options: {
  devices: number;
  urls: string[];
  stateDir: string;
  intervalSec: number;
  rampPerSec: number;
  maxRecords?: number;
  /** With `intervalSec` 0: records of a device waiting at once. */
  inFlight?: number;
}): string {
  return `
[fleet]
devices = ${options.devices}
rampPerSec = ${options.rampPerSec}
summaryEverySec = 1
stateDir = "${options.stateDir}"
[fleet.telemetry]
intervalSec = ${options.intervalSec}
inFlight = ${options.inFlight ?? 16}
[log]
level = "error"
[outbox]
maxRecords = ${options.maxRecords ?? 10_000}
[clouds.hub]
type = "mqtt"
urls = ${JSON.stringify(options.urls)}
keepaliveSec = 60
`;
}

/** `outpost fleet` on `toml` (written to a new directory); `program` is the bundle or main.ts. */
export async function startFleet(program: string, toml: (stateDir: string) => string) {
  const dir = await Deno.makeTempDir({ prefix: "fleet-bench-" });
  await Deno.writeTextFile(`${dir}/fleet.toml`, toml(`${dir}/state`));
  const process = spawnWatched([program, "fleet", "-c", `${dir}/fleet.toml`], dir);
  return {
    process,
    /** Resolves with the milliseconds from spawn to every device connected. */
    async connected(devices: number, timeoutMs: number): Promise<number> {
      await process.waitFor(new RegExp(`^fleet: ${devices}/${devices} connected`), timeoutMs);
      return process.sinceSpawn();
    },
    /** The records/s of the summary lines printed during the next `ms`. */
    async rate(ms: number): Promise<number> {
      const from = process.lines.length;
      await new Promise((resolve) => setTimeout(resolve, ms));
      const rates = process.lines.slice(from).map((l) => l.match(/\| ([\d.]+) records\/s/)?.[1])
        .filter((r): r is string => r !== undefined).map(Number);
      return rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length);
    },
    async stop() {
      const result = await process.stop();
      const final = process.lines.find((l) => l.startsWith("fleet stopped after")) ?? "";
      await Deno.remove(dir, { recursive: true });
      return { ...result, final };
    },
  };
}

/**
 * K `outpost run` agents, each with its own directory and one generic cloud
 * at `url`, system telemetry every 10 s; resolves once each said it is
 * online (its presence, seen by an observer on the broker).
 */
export async function startAgents(program: string, count: number, url: string) {
  const observer = await observe(url, ["outpost/+/status"]);
  const agents: { process: Watched; dir: string }[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      const dir = await Deno.makeTempDir({ prefix: "fleet-bench-run-" });
      await Deno.writeTextFile(
        `${dir}/outpost.toml`,
        `[agent]\ndeviceId = "run-${i}"\nstateDir = "${dir}/state"\n[log]\nlevel = "error"\n` +
          `[telemetry.system]\nintervalSec = 10\n[clouds.hub]\ntype = "mqtt"\nurl = "${url}"\n`,
      );
      agents.push({
        process: spawnWatched([program, "run", "-c", `${dir}/outpost.toml`], dir),
        dir,
      });
    }
    await observer.waitForCount(
      (m) => m.topic.startsWith("outpost/run-") && JSON.parse(m.text).online === true,
      count,
      120_000,
    );
  } finally {
    await observer.close();
  }
  return {
    pids: agents.map((a) => a.process.pid),
    async stop() {
      for (const { process, dir } of agents) {
        await process.stop();
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}
