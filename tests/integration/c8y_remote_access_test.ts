/**
 * Cumulocity Cloud Remote Access through the agent: each `530` becomes a
 * tunnel under the cloud's `tunnels` supervisor, between the relay of
 * tests/helpers/remote_access_server.ts and a TCP target, and its status
 * follows PROTOCOLS.md §1 (501, then 503 when both sides are up or 502 with
 * the reason), in arrival order per fragment.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { makeJwt, startC8yEmulator } from "../helpers/c8y_emulator.ts";
import { startEchoServer, startRemoteAccessServer } from "../helpers/remote_access_server.ts";
import { roundTrip, tunnelCount, tunnelSetup, tunnelStates } from "../helpers/c8y_agent.ts";
import { until } from "../helpers/wait.ts";
import { freePort } from "../helpers/brokers.ts";
import { type PubackGate, startPubackGate } from "../helpers/c8y_puback_gate.ts";
import { testPki } from "../helpers/tls.ts";

Deno.test("530 opens a tunnel: 501, then 503 once both sides are up, and bytes flow both ways", async () => {
  const t = await tunnelSetup();
  try {
    const session = await t.relay.open("key-1");
    const op = await t.emulator.waitForEnd(
      await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(t.echo.port), "key-1"]),
    );
    deepEqual(op.history, ["PENDING", "EXECUTING", "SUCCESSFUL"]);
    equal(tunnelCount(t.agent), 1);
    equal(await roundTrip(session.port, "hello through the tunnel"), "hello through the tunnel");
    // The client hung up: the relay closes the device's WebSocket and the tunnel ends.
    equal((await session.deviceClosed).code, 1000);
    await until("the tunnel to end", () => tunnelCount(t.agent) === 0);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("a target that refuses and a full tunnels supervisor each fail the 530 with a reason", async () => {
  const closed = freePort();
  const t = await tunnelSetup({
    allow: (echoPort) => [`127.0.0.1:${echoPort}`, `127.0.0.1:${closed}`],
    extra: "maxTunnels = 1",
  });
  try {
    const refusedSession = await t.relay.open("refused");
    const refused = await t.emulator.waitForEnd(
      await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(closed), "refused"]),
    );
    equal(refused.status, "FAILED");
    match(refused.failureReason!, /refused/i);
    // The WebSocket side, dialed at the same time, is closed again.
    await refusedSession.deviceClosed;

    const session = await t.relay.open("held");
    const held = await t.emulator.waitForEnd(
      await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(t.echo.port), "held"]),
    );
    equal(held.status, "SUCCESSFUL");
    const busy = await t.emulator.waitForEnd(
      await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(t.echo.port), "other"]),
    );
    deepEqual([busy.status, busy.failureReason], [
      "FAILED",
      "too many tunnels open: remoteAccess.maxTunnels reached",
    ]);
    session.closeDevice(1000, "done");
    await until("the held tunnel to end", () => tunnelCount(t.agent) === 0);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("a WebSocket login the platform rejects fails the 530 with a reason", async () => {
  const t = await tunnelSetup({
    relay: { basic: { user: "t100/device_dev-1", password: "other" } },
  });
  try {
    // The relay checks the login before it looks the key up: no session is needed.
    const op = await t.emulator.waitForEnd(
      await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(t.echo.port), "key-1"]),
    );
    equal(op.status, "FAILED");
    match(op.failureReason!, /401|unauthori[sz]ed|rejected/i);
    deepEqual(t.relay.refused.map((r) => r.status), [401]);
  } finally {
    await t.teardown();
  }
});

Deno.test("two 530s: the first fails after the second opened, and statuses still report in arrival order", async () => {
  const slow = freePort();
  let secondIsOpen!: () => void;
  const secondOpen = new Promise<void>((resolve) => (secondIsOpen = resolve));
  const t = await tunnelSetup({
    allow: (echoPort) => [`127.0.0.1:${slow}`, `127.0.0.1:${echoPort}`],
    agent: {
      // The first tunnel is held at its access check until the second carried bytes.
      accessCheck: async ({ target }) => {
        if (target.port !== slow) return { allowed: true };
        await secondOpen;
        return { allowed: false, reason: "denied by the test" };
      },
    },
  });
  try {
    // No relay session for "first": it is refused before anything is dialed.
    const session = await t.relay.open("second");
    const first = await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(slow), "first"]);
    const second = await t.emulator.operation([
      "530",
      "dev-1",
      "127.0.0.1",
      String(t.echo.port),
      "second",
    ]);
    // The second tunnel opens (its onOpen ran) while the first still waits at its check.
    await until("the second tunnel to open", () => tunnelStates(t.agent).includes("open"));
    equal(await roundTrip(session.port, "second is up"), "second is up");
    equal(first.status, "EXECUTING");
    equal(second.status, "EXECUTING");
    secondIsOpen();
    await t.emulator.waitForEnd(first);
    await t.emulator.waitForEnd(second);
    deepEqual([first.status, first.failureReason], ["FAILED", "access denied: denied by the test"]);
    equal(second.status, "SUCCESSFUL");
    const statuses = t.emulator.lines.filter((l) => /^50[123]$/.test(l.fields[0] ?? ""))
      .map((l) => l.fields.slice(0, 2).join(","));
    deepEqual(statuses, [
      "501,c8y_RemoteAccessConnect",
      "501,c8y_RemoteAccessConnect",
      "502,c8y_RemoteAccessConnect",
      "503,c8y_RemoteAccessConnect",
    ]);
    deepEqual(t.emulator.violations, []);
  } finally {
    secondIsOpen();
    await t.teardown();
  }
});

Deno.test("tunnels opened at once each publish their 503 without waiting for the PUBACK of the one before", async () => {
  let gate!: PubackGate;
  const t = await tunnelSetup({
    via: (emulator) => (gate = startPubackGate(emulator.port)).url,
  });
  try {
    const keys = Array.from({ length: 6 }, (_, i) => `key-${i}`);
    const sessions = await Promise.all(keys.map((key) => t.relay.open(key)));
    // From now on the broker's PUBACK for any 503 stays with the gate.
    gate.hold((payload) => payload.startsWith("503,"));
    const ops = [];
    for (const key of keys) {
      ops.push(
        await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(t.echo.port), key]),
      );
    }
    // Every tunnel reports while the device has not had one 503's PUBACK.
    await t.emulator.waitForLines((f) => f[0] === "503", keys.length);
    await until("the gate to hold every 503's PUBACK", () => gate.held().length === keys.length);
    gate.release();
    for (const op of ops) {
      deepEqual((await t.emulator.waitForEnd(op)).history, ["PENDING", "EXECUTING", "SUCCESSFUL"]);
    }
    // Each 501 and 503 addressed an operation of its fragment at the broker, in order.
    deepEqual(t.emulator.violations, []);
    equal(await roundTrip(sessions[5].port, "the last one"), "the last one");
  } finally {
    await t.teardown();
    await gate?.close();
  }
});

Deno.test("legacy platforms: a da600 on s/dc/<X-ID> opens a tunnel like a 530", async () => {
  const t = await tunnelSetup({ cloud: 'legacyTemplateXid = "remoteConnect"' });
  try {
    const session = await t.relay.open("legacy-key");
    const op = await t.emulator.waitForEnd(
      await t.emulator.operation([
        "da600",
        "dev-1",
        "127.0.0.1",
        String(t.echo.port),
        "legacy-key",
      ]),
    );
    deepEqual(op.history, ["PENDING", "EXECUTING", "SUCCESSFUL"]);
    equal(await roundTrip(session.port, "legacy"), "legacy");
  } finally {
    await t.teardown();
  }
});

Deno.test("certificate login: the tunnel's WebSocket carries the JWT from s/uat as a Bearer token", async () => {
  const pki = await testPki();
  const jwt = makeJwt("d:dev-1", "t100", 3600);
  const t = await tunnelSetup({
    relay: { bearer: jwt },
    emulator: { tls: { ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key }, jwt },
    login: `certFile = "${pki.client.certFile}"\nkeyFile = "${pki.client.keyFile}"\n` +
      `caFile = "${pki.ca.certFile}"`,
  });
  try {
    const session = await t.relay.open("key-1");
    const op = await t.emulator.waitForEnd(
      await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(t.echo.port), "key-1"]),
    );
    equal(op.status, "SUCCESSFUL", op.failureReason ?? "");
    equal(await roundTrip(session.port, "with a certificate"), "with a certificate");
    ok(t.emulator.tokenRequests.length >= 1);
  } finally {
    await t.teardown();
  }
});

Deno.test("the remote access example agent runs against the emulator and opens a tunnel", async () => {
  const emulator = await startC8yEmulator({ users: { "device_ex-1": "ex-pw" } });
  const relay = await startRemoteAccessServer({
    basic: { user: "t100/device_ex-1", password: "ex-pw" },
  });
  const echo = startEchoServer();
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-c8y-example-" });
  const example = new URL("../../examples/c8y_remote_access_agent.ts", import.meta.url);
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      example.pathname,
      `--url=${emulator.url}`,
      "--tenant=t100",
      "--user=device_ex-1",
      "--serial=ex-1",
      `--allow=127.0.0.1:${echo.port}`,
      `--remote-access-url=${relay.wsBase}`,
      `--state-dir=${stateDir}`,
    ],
    // The password comes from the environment, as it should in production.
    env: { C8Y_PASSWORD: "ex-pw" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([
    new Response(process.stdout).text(),
    new Response(process.stderr).text(),
  ]);
  try {
    await emulator.waitForLines((f) => f[0] === "500", 1, 30_000);
    deepEqual(emulator.lines.find((l) => l.fields[0] === "100")?.fields, [
      "100",
      "Remote Access Demo Device ex-1",
      "c8y_MQTTDevice",
    ]);
    const session = await relay.open("ex-key");
    const op = await emulator.waitForEnd(
      await emulator.operation(["530", "ex-1", "127.0.0.1", String(echo.port), "ex-key"]),
    );
    equal(op.status, "SUCCESSFUL", op.failureReason ?? "");
    equal(await roundTrip(session.port, "from the example"), "from the example");
  } finally {
    process.kill("SIGTERM");
    const status = await process.status;
    const [stdout, stderr] = await output;
    await relay.close();
    await echo.close();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
    equal(status.code, 0, `stdout:\n${stdout}\nstderr:\n${stderr}`);
    match(stdout, /connected/);
  }
});
