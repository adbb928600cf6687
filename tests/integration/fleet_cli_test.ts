/**
 * `outpost fleet` as a process (main.ts through `deno run`): it prints a
 * summary line at its interval, stops cleanly on SIGTERM with a final line,
 * and exits 2 on a bad configuration, naming the key.
 */
import assert from "node:assert/strict";
import { startAedes } from "../helpers/brokers.ts";
import { LineReader } from "../helpers/line_reader.ts";
import { observe } from "../helpers/mqtt_observer.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Reads lines until one matches `pattern`; rejects at the deadline with what was read. */
async function lineMatching(
  lines: LineReader,
  pattern: RegExp,
  seen: string[],
  timeoutMs = 30_000,
) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`No line matched ${pattern} in ${timeoutMs} ms:\n${seen.join("\n")}`)),
      timeoutMs,
    );
  });
  try {
    while (true) {
      const line = await Promise.race([lines.read(), deadline]);
      if (line === undefined) {
        throw new Error(`Output ended before ${pattern}:\n${seen.join("\n")}`);
      }
      seen.push(line);
      if (pattern.test(line)) return line;
    }
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("outpost fleet prints summaries, and on SIGTERM disconnects every device and prints a final line", async () => {
  const broker = await startAedes();
  const dir = await Deno.makeTempDir({ prefix: "fleet-cli-" });
  const observer = await observe(broker.url, ["outpost/+/status"]);
  try {
    await Deno.writeTextFile(
      `${dir}/fleet.toml`,
      `
[fleet]
devices = 50
summaryEverySec = 0.2
stateDir = "${dir}/state"
[fleet.telemetry]
intervalSec = 0.5
[clouds.hub]
type = "mqtt"
url = "${broker.url}"
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "fleet", "-c", `${dir}/fleet.toml`, "--devices", "3"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const lines = new LineReader(child.stdout);
    const seen: string[] = [];
    try {
      await lineMatching(
        lines,
        /^fleet: 3\/3 connected \| [\d.]+ records\/s \| \d+ queued \| 0 errors \| 0 restarts$/,
        seen,
      );
      await lineMatching(lines, /^fleet: 3\/3 connected \| [1-9][\d.]* records\/s/, seen);
      child.kill("SIGTERM");
      await lineMatching(lines, /^SIGTERM: stopping 3 device\(s\)/, seen);
      const final = await lineMatching(lines, /^fleet stopped after/, seen);
      assert.match(
        final,
        /3 of 3 devices ran, [1-9]\d* records delivered .* 0 errors, 0 restarts$/,
      );
    } finally {
      await lines.cancel();
    }
    const status = await child.status;
    assert.equal(status.code, 0, await stderr);
    // Each device said it went offline as it disconnected.
    for (const id of ["sim-1", "sim-2", "sim-3"]) {
      await observer.waitFor((m) =>
        m.topic === `outpost/${id}/status` && !JSON.parse(m.text).online
      );
    }
  } finally {
    await observer.close();
    await broker.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("outpost fleet exits 2 on a bad configuration and names the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fleet-cli-" });
  try {
    await Deno.writeTextFile(
      `${dir}/fleet.toml`,
      '[fleet]\ndeviceId = "same"\n[clouds.hub]\ntype = "mqtt"\nurl = "mqtt://127.0.0.1:1"\n',
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "fleet", "-c", `${dir}/fleet.toml`, "--devices", "ten"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.match(
      stderr,
      /fleet\.toml: --devices: expected an integer from 1 to 100000, found "ten"/,
    );
    assert.match(stderr, /fleet\.toml: fleet\.deviceId: expected a template that uses \{n\}/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
