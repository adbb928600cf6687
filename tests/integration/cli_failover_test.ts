/**
 * `outpost run -c <file>` with a generic cloud whose TOML table gives
 * `urls`: the bundled program reads the list, connects to the first broker,
 * moves to the second when the first is killed, and its records follow.
 * `outpost config check` accepts the file and refuses `url` with `urls`.
 */
import { equal, match, ok } from "node:assert/strict";
import { startMosquitto } from "../helpers/brokers.ts";
import { LineReader } from "../helpers/line_reader.ts";
import { observe } from "../helpers/mqtt_observer.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function config(stateDir: string, urls: string[], extra = ""): string {
  return `
[agent]
deviceId = "cli-1"
stateDir = "${stateDir}"

[telemetry.system]
intervalSec = 0.2

[clouds.main]
type = "mqtt"
urls = ${JSON.stringify(urls)}
${extra}

[clouds.main.backoff]
minMs = 50
maxMs = 500
`;
}

async function configCheck(file: string): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "config", "check", file],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("outpost run with urls in the TOML file connects to the first broker and fails over to the second", async () => {
  const a = await startMosquitto();
  const b = await startMosquitto();
  const stateDir = await Deno.makeTempDir({ prefix: "failover-" });
  const file = `${stateDir}/outpost.toml`;
  await Deno.writeTextFile(file, config(stateDir, [a.url, b.url]));
  const onB = await observe(b.url, ["outpost/cli-1/#"]);
  const agent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "run", "-c", file],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = new LineReader(agent.stderr);
  const seen: string[] = [];
  const logged = async (pattern: RegExp) => {
    for (let line = await lines.read(); line !== undefined; line = await lines.read()) {
      seen.push(line);
      if (pattern.test(line)) return line;
    }
    throw new Error(`the agent ended before logging ${pattern}:\n${seen.join("\n")}`);
  };
  const deadline = setTimeout(() => agent.kill("SIGKILL"), 60_000);
  try {
    await logged(new RegExp(`Connected to MQTT broker ${a.url}`));
    await a.crash();
    await logged(new RegExp(`Connected to MQTT broker ${b.url}`));
    await onB.waitFor((m) => m.topic.startsWith("outpost/cli-1/telemetry/"), 20_000);
    agent.kill("SIGTERM");
    for (let l = await lines.read(); l !== undefined; l = await lines.read()) seen.push(l);
    equal((await agent.status).code, 0, seen.join("\n"));
    ok(!seen.some((l) => /every broker failed/.test(l)), "B answered at once");
  } finally {
    clearTimeout(deadline);
    try {
      agent.kill("SIGKILL");
    } catch { /* exited */ }
    await agent.status;
    await lines.cancel();
    await onB.close();
    await a.stop();
    await b.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("outpost config check accepts urls and refuses url beside it, naming both", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "failover-" });
  try {
    const good = `${stateDir}/good.toml`;
    await Deno.writeTextFile(good, config(stateDir, ["mqtt://a:1883", "mqtt://b:1883"]));
    equal((await configCheck(good)).code, 0);
    const both = `${stateDir}/both.toml`;
    await Deno.writeTextFile(
      both,
      config(stateDir, ["mqtt://a:1883"], 'url = "mqtt://c:1883"'),
    );
    const refused = await configCheck(both);
    equal(refused.code, 2, refused.stderr);
    match(
      refused.stderr,
      /clouds\.main\.urls: expected url or urls, not both, found both url and urls/,
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
