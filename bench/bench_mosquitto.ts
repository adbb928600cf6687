/**
 * A mosquitto for throughput rounds. It differs from the tests' broker
 * (tests/helpers/brokers.ts) in one line: no limit on the messages queued
 * for a slow subscriber. With mosquitto's default of 1,000, the agent's
 * drain (64 publishes in flight, acknowledged by the broker at once) ran
 * ahead of the subscriber, whose own in-flight window is 20, and mosquitto
 * dropped the overflow ("Outgoing messages are being dropped"), so a round
 * would never see all its records arrive.
 */
import { freePort } from "../tests/helpers/brokers.ts";

/** A running benchmark broker on 127.0.0.1. */
export interface BenchBroker {
  port: number;
  url: string;
  /** The broker's log, for failure messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts `mosquitto -c <conf>` on a free port; resolves once it accepts connections. */
export async function startBenchMosquitto(): Promise<BenchBroker> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "outpost-bench-mosquitto-" });
  const logFile = `${dir}/mosquitto.log`;
  await Deno.writeTextFile(
    `${dir}/mosquitto.conf`,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "persistence false",
      "max_queued_messages 0",
      `log_dest file ${logFile}`,
      "log_type error",
      "log_type warning",
      "log_type notice",
      // Running as root, mosquitto would switch to its own user and lose the temp files.
      "user root",
    ].join("\n") + "\n",
  );
  const child = new Deno.Command("mosquitto", {
    args: ["-c", `${dir}/mosquitto.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then(() => void (exited = true));
  const log = () => Deno.readTextFile(logFile).catch(() => "(no log)");
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      if (!exited) child.kill("SIGTERM");
      await status;
      await Deno.remove(dir, { recursive: true });
    })();
  const deadline = performance.now() + 5000;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (exited || performance.now() > deadline) {
        const text = await log();
        await stop();
        throw new Error(`mosquitto did not start on port ${port}:\n${text}`);
      }
    }
    // A retry interval: the loop ends on the connection or the deadline.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { port, url: `mqtt://127.0.0.1:${port}`, log, stop };
}
