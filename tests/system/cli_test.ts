/**
 * The bundled `outpost` program driven through its CLI, from an empty
 * directory, observed with the real mosquitto clients.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { freePort } from "../helpers/brokers.ts";
import { makeKeyAndCsr, requestCertificate } from "../helpers/local_api_app.ts";

const repoRoot = new URL("../../", import.meta.url);
let bundle: string | undefined;

/** Builds dist-like single-file bundle once per test run. */
async function outpostBundle(): Promise<string> {
  if (bundle) return bundle;
  const dir = await Deno.makeTempDir({ prefix: "outpost-bundle-" });
  const path = `${dir}/outpost.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--minify", "--output", path, "main.ts"],
    cwd: repoRoot,
    stdin: "null",
  }).output();
  equal(built.code, 0, new TextDecoder().decode(built.stderr));
  return (bundle = path);
}

/** Runs `outpost <args>` to completion (with a deadline) in `cwd`. */
async function outpost(args: string[], cwd: string, env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", await outpostBundle(), ...args],
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

/** Resolves once 127.0.0.1:`port` accepts TCP; rejects after `timeoutMs`. */
async function accepting(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`Nothing listens on ${port}`, { cause: error });
    }
    // A retry interval while the port comes up, not a settle delay.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Reads a child's output until a line matches `pattern`; gives up after `timeoutMs`. */
async function waitForLine(
  lines: ReadableStreamDefaultReader<string>,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<string> {
  let buffer = "";
  const timer = setTimeout(() => lines.cancel(), timeoutMs);
  try {
    while (true) {
      const { value, done } = await lines.read();
      if (done) break;
      buffer += value;
      const found = buffer.split("\n").find((l) => pattern.test(l));
      if (found) return found;
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`No line matching ${pattern} within ${timeoutMs} ms; got:\n${buffer}`);
}

Deno.test("outpost run with no config serves its embedded broker, publishes telemetry, shows its tree, and stops on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outpost-run-" });
  const port = await freePort();
  const agent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", await outpostBundle(), "run"],
    cwd: dir,
    env: {
      NO_COLOR: "1",
      OUTPOST_BROKER__PORT: String(port),
      OUTPOST_TELEMETRY__SYSTEM__INTERVAL_SEC: "0.2",
      OUTPOST_AGENT__DEVICE_ID: "cli-test",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = agent.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderrText = new Response(agent.stderr).text();
  try {
    await waitForLine(stdout, /mosquitto_sub/);
    const sub = await new Deno.Command("mosquitto_sub", {
      args: [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-t",
        "outpost/cli-test/telemetry/#",
        "-v",
        "-C",
        "2",
        "-W",
        "15",
      ],
      stdin: "null",
    }).output();
    equal(sub.code, 0, new TextDecoder().decode(sub.stderr));
    const lines = new TextDecoder().decode(sub.stdout).trim().split("\n");
    equal(lines.length, 2);
    for (const line of lines) {
      const [topic, ...rest] = line.split(" ");
      equal(topic, "outpost/cli-test/telemetry/system");
      const record = JSON.parse(rest.join(" "));
      ok(Number.isInteger(record.seq) && typeof record.values.load1 === "number", line);
    }

    const tree = await outpost(["tree", "--json"], dir);
    equal(tree.code, 0, tree.stderr);
    const root = JSON.parse(tree.stdout);
    equal(root.path, "agent");
    deepEqual(root.children.map((c: { id: string }) => c.id), [
      "store",
      "broker",
      "telemetry",
      "support",
      "cloud:local",
      "apps",
    ]);
    const text = await outpost(["tree"], dir);
    equal(text.code, 0, text.stderr);
    match(text.stdout, /agent\/cloud:local\/connection\s+worker\s+running\s+0\s+\S+\s+"connected"/);
    const status = await outpost(["status"], dir);
    match(status.stdout, /cloud local: connected/);

    const stopping = performance.now();
    agent.kill("SIGTERM");
    const { code } = await agent.status;
    const took = performance.now() - stopping;
    equal(code, 0);
    ok(took < 5000, `stopped in ${took.toFixed(0)} ms`);
  } finally {
    try {
      agent.kill("SIGKILL");
    } catch { /* already ended */ }
    await agent.status;
    await stdout.cancel();
    await stderrText;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("outpost config check and run reject a bad file with exit 2 and the key at fault", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outpost-config-" });
  try {
    await Deno.writeTextFile(`${dir}/bad.toml`, `[broker]\nport = "high"\n`);
    for (const args of [["config", "check", "bad.toml"], ["run", "--config", "bad.toml"]]) {
      const result = await outpost(args, dir);
      equal(result.code, 2, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
      match(result.stderr, /broker\.port: expected .*integer.*found "high"/);
    }
    await Deno.writeTextFile(`${dir}/good.toml`, `[agent]\ndeviceId = "ok-1"\n`);
    const good = await outpost(["config", "check", "good.toml"], dir);
    equal(good.code, 0, good.stderr);
    match(good.stdout, /valid/);
    const missing = await outpost(["config", "check", "nope.toml"], dir);
    equal(missing.code, 2);
    const version = await outpost(["version"], dir);
    match(version.stdout, /^outpost \d+\.\d+\.\d+/);
    const noAgent = await outpost(["tree"], dir);
    equal(noAgent.code, 1);
    match(noAgent.stderr, /No Outpost agent is answering/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("outpost config check on a 5 MB file of unknown keys exits 2 and prints 50 issues and a count", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outpost-config-" });
  try {
    const count = 450_000;
    const text = Array.from({ length: count }, (_, i) => `k${i} = 1`).join("\n");
    await Deno.writeTextFile(`${dir}/huge.toml`, text);
    const result = await outpost(["config", "check", "huge.toml"], dir);
    equal(result.code, 2, result.stderr.slice(0, 2000));
    const lines = result.stderr.trimEnd().split("\n");
    equal(lines.length, 51, result.stderr.slice(0, 2000));
    match(lines[0], /^huge\.toml: k0: expected no such key \(known keys: agent, /);
    equal(lines[50], `huge.toml: and ${count - 50} more issues`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("in approval mode the operator lists, approves and rejects local API clients with the CLI", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outpost-approve-" });
  const [brokerPort, provisioningPort, apiPort] = [freePort(), freePort(), freePort()];
  await Deno.writeTextFile(
    `${dir}/outpost.toml`,
    `[agent]\ndeviceId = "approve-1"\n\n[broker]\nport = ${brokerPort}\n\n` +
      `[telemetry.system]\nenabled = false\n\n[localApi]\nenabled = true\napproval = "operator"\n` +
      `provisioningPort = ${provisioningPort}\napiPort = ${apiPort}\n`,
  );
  const agent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", await outpostBundle(), "run", "-c", "outpost.toml"],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = agent.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderrText = new Response(agent.stderr).text();
  const caFile = `${dir}/.outpost/local-api/ca.crt`;
  try {
    await waitForLine(stdout, /mosquitto_sub/);
    await accepting(provisioningPort);
    equal((await outpost(["clients"], dir)).stdout.trim(), "no local API clients");
    const caPem = await Deno.readTextFile(caFile);
    const wanted = requestCertificate(
      provisioningPort,
      caPem,
      makeKeyAndCsr("thermometer").csrPem,
      20_000,
    );
    const deadline = Date.now() + 20_000;
    let pending: { clientId: string; name: string; state: string }[] = [];
    while (pending.length === 0) {
      ok(Date.now() < deadline, "the app never showed up as pending");
      const listed = await outpost(["clients", "--json"], dir);
      equal(listed.code, 0, listed.stderr);
      pending = JSON.parse(listed.stdout);
    }
    deepEqual(pending.map((c) => [c.name, c.state]), [["thermometer", "pending"]]);
    const approved = await outpost(["approve", pending[0].clientId], dir);
    equal(approved.code, 0, approved.stderr);
    equal(approved.stdout.trim(), `${pending[0].clientId}: active`);
    const reply = await wanted;
    ok(reply.ok, reply.text);

    const unwanted = requestCertificate(
      provisioningPort,
      caPem,
      makeKeyAndCsr("intruder").csrPem,
      20_000,
    );
    let second: { clientId: string; state: string }[] = [];
    while (second.length === 0) {
      ok(Date.now() < deadline + 20_000, "the second app never showed up as pending");
      second = JSON.parse((await outpost(["clients", "--json"], dir)).stdout)
        .filter((c: { state: string }) => c.state === "pending");
    }
    equal((await outpost(["reject", second[0].clientId], dir)).code, 0);
    equal((await unwanted).ok, false);
    const bad = await outpost(["approve", "not-an-id"], dir);
    equal(bad.code, 1);
    match(bad.stderr, /32 hex characters/);
  } finally {
    agent.kill("SIGTERM");
    await agent.status;
    await stdout.cancel();
    await stderrText;
    await Deno.remove(dir, { recursive: true });
  }
});
