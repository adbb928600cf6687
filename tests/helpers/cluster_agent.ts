/**
 * The real agent as a child process on a broker cluster: `deno run -A
 * main.ts run -c <dir>/outpost.toml` with one generic cloud (`type =
 * "mqtt"`) whose `urls` list the brokers, and its built-in `system` source
 * as a fast telemetry producer (every record a dense seq). The test reads
 * its log for the brokers it connected to, asks its control socket for its
 * status, and after it stopped reads from its state database how many seqs
 * it committed.
 */
import { DatabaseSync } from "node:sqlite";
import { askControl } from "../../actors/agent/control_client.ts";
import type { AgentStatus } from "../../actors/agent/agent.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Options of {@link startClusterAgent}. */
export interface ClusterAgentOptions {
  /** The brokers, in fail-over order (the cloud's `urls`). */
  urls: readonly string[];
  /** The agent's directory: config, state (`<dir>/state`), control socket. */
  dir: string;
  deviceId: string;
  /** Seconds between `system` samples; 0 turns the source off. */
  intervalSec: number;
  /** MQTT keep-alive of the cloud; default 30 s (the agent's own default). */
  keepaliveSec?: number;
  /** The cloud's `cleanSession`; default true (the agent's own default). */
  cleanSession?: boolean;
}

/** A session the agent started: which broker, and when (its log line's time). */
export interface BrokerConnect {
  url: string;
  /** Milliseconds since the epoch. */
  at: number;
}

/** A running agent process. */
export interface ClusterAgent {
  /** Its stdout and stderr so far (text log lines). */
  output(): string;
  /** Each "Connected to MQTT broker" line: the broker and when (ms since the epoch). */
  connects(): BrokerConnect[];
  /** `outpost status` through the control socket. */
  status(): Promise<AgentStatus>;
  /** SIGTERM, and waits for the exit; resolves with the exit code. */
  stop(): Promise<number>;
}

/** Writes the agent's configuration for `options` into `<dir>/outpost.toml`. */
export async function writeAgentConfig(options: ClusterAgentOptions): Promise<string> {
  const file = `${options.dir}/outpost.toml`;
  await Deno.mkdir(`${options.dir}/state`, { recursive: true });
  await Deno.writeTextFile(
    file,
    `[agent]
deviceId = "${options.deviceId}"
stateDir = "${options.dir}/state"

[telemetry.system]
enabled = ${options.intervalSec > 0}
intervalSec = ${options.intervalSec > 0 ? options.intervalSec : 5}

[clouds.cluster]
type = "mqtt"
urls = [${options.urls.map((u) => JSON.stringify(u)).join(", ")}]
keepaliveSec = ${options.keepaliveSec ?? 30}
cleanSession = ${options.cleanSession ?? true}

[clouds.cluster.backoff]
minMs = 200
maxMs = 2000
`,
  );
  return file;
}

/** Starts the agent and resolves once its cloud is connected (control socket `status`). */
export async function startClusterAgent(
  options: ClusterAgentOptions & { timeoutMs?: number },
): Promise<ClusterAgent> {
  const config = await writeAgentConfig(options);
  const socket = `${options.dir}/state/control.sock`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "run", "-c", config, "--log-level", "info"],
    cwd: options.dir,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const collect = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void (text += chunk) }),
    );
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  const status = child.status.finally(() => void (exited = true));
  let stopping: Promise<number> | undefined;
  const agent: ClusterAgent = {
    output: () => text,
    // The info line alone: "Connected to … but could not restore subscriptions" is a failure.
    connects: () =>
      [...text.matchAll(/^(\S+) +INFO +outpost\.mqtt: Connected to MQTT broker (\S+)$/gm)]
        .map((m) => ({ url: m[2], at: Date.parse(m[1]) })),
    status: async () => await askControl(socket, "status", { timeoutMs: 2000 }) as AgentStatus,
    stop: () =>
      stopping ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already exited */ }
        const { code } = await status;
        await drained;
        return code;
      })(),
  };
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (true) {
    const connected = await agent.status().then((s) => s.clouds[0]?.connected, () => false);
    if (connected) return agent;
    if (exited || Date.now() > deadline) {
      await agent.stop();
      throw new Error(
        `The agent ${
          exited ? "exited" : "did not connect within the deadline"
        }; its output:\n${text}`,
      );
    }
    // A retry interval while the agent starts, not a settle delay.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The seqs the agent in `dir` committed, 1 to the returned number: the
 * outbox's next free seq minus one (`outbox_counters`, written in the
 * transaction of the records). Read only while no agent runs there.
 */
export function committedSeqs(dir: string): number {
  const db = new DatabaseSync(`${dir}/state/outpost.db`, { readOnly: true });
  try {
    const row = db.prepare(
      "SELECT value FROM outbox_counters WHERE name = 'seq' AND cloud = ''",
    ).get() as { value: number } | undefined;
    return row ? Number(row.value) - 1 : 0;
  } finally {
    db.close();
  }
}
