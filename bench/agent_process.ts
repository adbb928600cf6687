/**
 * The agent as a process, for agent_bench.ts: spawn `deno run` of a script,
 * time spawn to a line on stdout, read the resident set size from
 * /proc/<pid>/status, stop it with SIGTERM. The baselines are the same
 * `deno run` of a script that only prints a line and waits.
 */
import { freePort } from "../tests/helpers/brokers.ts";

/** `outpost run` from source, as `deno task start` runs it. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
/**
 * The V8 flags of `deno task start` (deno.json), given to every process
 * measured, so the figures are those of what a newcomer runs.
 */
export const START_V8_FLAGS: string[] = (JSON.parse(
  Deno.readTextFileSync(`${ROOT}deno.json`),
).tasks.start as string).split(/\s+/).filter((arg) => arg.startsWith("--v8-flags="));
/** Printed by `outpost run` once the local cloud connected to the embedded broker. */
const HINT = /mosquitto_sub/;
const READY = /^ready$/m;

/** A spawned `deno run` that printed the line it was waited for. */
export interface Started {
  /** Milliseconds from just before spawn to the line arriving on stdout. */
  readyMs: number;
  pid: number;
  /** SIGTERM, then waits for the exit and removes the temporary directory. */
  stop(): Promise<void>;
}

/** How to spawn one process. */
interface SpawnSpec {
  args: string[];
  cwd: string;
  env: Record<string, string>;
  ready: RegExp;
  timeoutMs: number;
}

/**
 * The agent as it ships: `deno bundle` of main.ts into one file (what
 * `deno task bundle` writes), built once per benchmark run; `entry` bundles
 * another script the same way.
 */
export async function bundleAgent(entry = MAIN): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "outpost-bench-bundle-" });
  const output = `${dir}/outpost.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--minify", "--output", output, entry],
    cwd: ROOT,
    stdin: "null",
  }).output();
  if (!built.success) {
    throw new Error(`deno bundle failed: ${new TextDecoder().decode(built.stderr)}`);
  }
  return output;
}

/**
 * `outpost run` (`program`: the bundle, or main.ts) on its embedded default,
 * from a fresh temporary directory (so `.outpost/` state starts empty) on a
 * free port, until it printed the `mosquitto_sub` hint; `env` adds
 * `OUTPOST_*` overrides.
 */
export async function startAgentProcess(
  program: string,
  timeoutMs = 30_000,
  env: Record<string, string> = {},
): Promise<Started> {
  const cwd = await Deno.makeTempDir({ prefix: "outpost-bench-run-" });
  return startUntilLine({
    args: ["run", "-A", ...START_V8_FLAGS, program, "run"],
    cwd,
    env: { NO_COLOR: "1", OUTPOST_BROKER__PORT: String(freePort()), ...env },
    ready: HINT,
    timeoutMs,
  });
}

/** The baseline: `deno run` of a script that prints `ready` and then waits. */
export async function startEmptyProcess(timeoutMs = 30_000): Promise<Started> {
  const cwd = await Deno.makeTempDir({ prefix: "outpost-bench-empty-" });
  const script = `${cwd}/empty.ts`;
  await Deno.writeTextFile(
    script,
    'console.log("ready");\nsetInterval(() => {}, 3_600_000);\n',
  );
  return startUntilLine({
    args: ["run", "-A", ...START_V8_FLAGS, script],
    cwd,
    env: {},
    ready: READY,
    timeoutMs,
  });
}

/** Resident memory of a process in bytes, from /proc/<pid>/status. */
export interface Resident {
  /** VmRSS: everything resident. */
  total: number;
  /** RssAnon: the process's own memory (JS heap, malloc, stacks). */
  anon: number;
  /** RssFile: pages of mapped files (the deno binary, libraries, V8's code cache). */
  file: number;
}

/** VmRSS, RssAnon and RssFile of `pid`. */
export async function residentBytes(pid: number): Promise<Resident> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => {
    const match = status.match(new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, "m"));
    if (!match) throw new Error(`/proc/${pid}/status has no ${name} line`);
    return Number(match[1]) * 1024;
  };
  return { total: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile") };
}

async function startUntilLine(spec: SpawnSpec): Promise<Started> {
  const start = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: spec.args,
    cwd: spec.cwd,
    env: spec.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stopped: Promise<void> | undefined;
  let drained: Promise<void> = Promise.resolve();
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited; the status below says how.
      }
      await child.status;
      await reader.cancel().catch(() => {});
      await drained;
      await stderr;
      await Deno.remove(spec.cwd, { recursive: true });
    })();

  let output = "";
  const timer = setTimeout(() => reader.cancel().catch(() => {}), spec.timeoutMs);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      output += value;
      if (spec.ready.test(output)) {
        const readyMs = performance.now() - start;
        clearTimeout(timer);
        // Keep reading, or a chatty child would block on a full pipe.
        drained = (async () => {
          while (!(await reader.read().catch(() => ({ done: true }))).done) {
            // discard
          }
        })();
        return { readyMs, pid: child.pid, stop };
      }
    }
  } finally {
    clearTimeout(timer);
  }
  await stop();
  throw new Error(
    `deno ${
      spec.args.join(" ")
    } printed no line matching ${spec.ready} within ${spec.timeoutMs} ms` +
      `\nstdout:\n${output}\nstderr:\n${await stderr}`,
  );
}
