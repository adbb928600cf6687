/**
 * The agent on a Cumulocity cloud (`type = "c8y"`), against the emulator of
 * tests/helpers/c8y_emulator.ts, which follows PROTOCOLS.md §1 and keeps
 * operations the way the platform does (501 takes the oldest pending one of
 * a fragment, 502/503 end the oldest executing one): the announcement,
 * operations that run programs or are refused, telemetry, bootstrap
 * registration and the JWT of certificate login. Remote access:
 * c8y_remote_access_test.ts.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { credentialsFile } from "../../actors/c8y/mod.ts";
import { announced, setup } from "../helpers/c8y_agent.ts";
import { testPki } from "../helpers/tls.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";

const NOT_SUPPORTED = "Operation not supported by this agent";

Deno.test("on connect the device logs in as d:<serial> and <tenant>/<user> and announces itself", async () => {
  const t = await setup({
    cloud: 'requiredIntervalMin = 60\ndeviceName = "Pump 7"\n' +
      '[clouds.c8y.hardware]\nmodel = "RPi 4"\nrevision = "1.2"\n' +
      '[clouds.c8y.restart]\nenabled = true\ncommand = ["true"]\n' +
      '[clouds.c8y.shell]\nenabled = true\nallow = ["echo"]',
  });
  try {
    await announced(t.emulator);
    deepEqual(t.emulator.connects, [
      { clientId: "d:dev-1", username: "t100/device_dev-1", accepted: true, as: "device" },
    ]);
    deepEqual(t.emulator.lines.map((l) => l.fields), [
      ["100", "Pump 7", "c8y_MQTTDevice"],
      ["110", "dev-1", "RPi 4", "1.2"],
      ["114", "c8y_Restart", "c8y_Command", "c8y_RemoteAccessConnect"],
      ["117", "60"],
      ["150", "SSH", "VNC", "TELNET", "PASSTHROUGH"],
      ["500"],
    ]);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("after a dropped connection the device logs in again and announces itself again", async () => {
  const t = await setup();
  try {
    await announced(t.emulator);
    t.emulator.dropClients();
    await announced(t.emulator, 2);
    deepEqual(t.emulator.connects.map((c) => [c.clientId, c.as]), [
      ["d:dev-1", "device"],
      ["d:dev-1", "device"],
    ]);
    deepEqual(
      t.emulator.lines.map((l) => l.fields[0]),
      ["100", "110", "114", "150", "500", "100", "110", "114", "150", "500"],
    );
  } finally {
    await t.teardown();
  }
});

Deno.test("only enabled operations are announced, and no 117 or 150 when they are off", async () => {
  const t = await setup({ cloud: "remoteAccess = false" });
  try {
    await announced(t.emulator);
    deepEqual(t.emulator.lines.map((l) => l.fields), [
      ["100", "Outpost dev-1", "c8y_MQTTDevice"],
      ["110", "dev-1", "Outpost", ""],
      ["114"],
      ["500"],
    ]);
  } finally {
    await t.teardown();
  }
});

// One line of every static operation template, as Cumulocity's document shows them.
const EVERY_TEMPLATE: string[][] = [
  ["510", "dev-1"],
  ["511", "dev-1", "uptime"],
  ["513", "dev-1", "val1=1\nval2=2"],
  ["515", "dev-1", "myFirmware", "1.0", "http://www.my.url"],
  ["516", "dev-1", "softwareA", "1.0", "url1"],
  ["517", "dev-1", "LOGA"],
  ["518", "dev-1", "OPEN"],
  ["519", "dev-1", "OPEN", "CLOSE"],
  ["520", "dev-1"],
  ["521", "dev-1", "http://www.my.url"],
  ["522", "dev-1", "syslog", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "", "100"],
  ["523", "dev-1", "SMS"],
  ["524", "dev-1", "http://www.my.url", "type"],
  ["525", "dev-1", "firmwareName", "1.0", "http://www.my.url", "dependency"],
  ["526", "dev-1", "type"],
  ["527", "dev-1", "$FW", "fw", "1.0", "http://www.my.url", "true", "dep"],
  ["528", "dev-1", "softwareA", "1.0", "url1", "install"],
  ["529", "dev-1", "softwareA", "1.0", "apt", "url1", "install"],
  ["530", "dev-1", "127.0.0.1", "22", "key-1"],
];

Deno.test("every operation the agent does not do is answered 501, then 502 not supported", async () => {
  const t = await setup({ cloud: "remoteAccess = false" });
  try {
    await announced(t.emulator);
    const ops = [];
    for (const fields of EVERY_TEMPLATE) ops.push(await t.emulator.operation(fields));
    // Two of one fragment (528 and 529 are both c8y_SoftwareUpdate) end in order.
    ops.push(await t.emulator.operation(["528", "dev-1", "softwareB", "2.0", "url2", "delete"]));
    for (const op of ops) {
      await t.emulator.waitForEnd(op);
      deepEqual([op.history, op.failureReason], [
        ["PENDING", "EXECUTING", "FAILED"],
        NOT_SUPPORTED,
      ], op.fields[0]);
    }
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("an operation for a child device is answered on s/us/<child>", async () => {
  const t = await setup({ cloud: '[clouds.c8y.restart]\nenabled = true\ncommand = ["true"]' });
  try {
    await announced(t.emulator);
    const child = await t.emulator.waitForEnd(await t.emulator.operation(["510", "child-7"]));
    deepEqual([child.history, child.failureReason], [
      ["PENDING", "EXECUTING", "FAILED"],
      NOT_SUPPORTED,
    ]);
    deepEqual(
      t.emulator.lines.filter((l) => l.topic === "s/us/child-7").map((l) => l.fields),
      [["501", "c8y_Restart"], ["502", "c8y_Restart", NOT_SUPPORTED]],
    );
    // The device's own restart is still run, and reported on s/us.
    const own = await t.emulator.waitForEnd(await t.emulator.operation(["510", "dev-1"]));
    equal(own.status, "SUCCESSFUL");
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("a line with no fragment to answer under is logged once per template, then counted", async () => {
  const logs: string[] = [];
  await configureLogging({ level: "debug", write: (line) => logs.push(line) });
  const t = await setup();
  try {
    await announced(t.emulator);
    for (let i = 0; i < 3; i++) await t.emulator.send(["599", "dev-1", "x"]);
    await t.emulator.send(["106", "child-1", "child-2"]);
    await t.emulator.sendRaw('{"id":"123","c8y_Command":{"text":"ls"}}');
    await t.emulator.sendRaw('{"id":"124","c8y_Command":{"text":"ls"}}');
    // Lines on s/ds are handled in order: once this one is answered, so were those.
    await t.emulator.waitForEnd(await t.emulator.operation(["513", "dev-1", "x=1"]));
    const ignored = (what: string) =>
      logs.filter((l) => l.includes("WARNING") && l.includes(`ignored ${what}`));
    equal(ignored('a line of template "599"').length, 1);
    equal(ignored('a line of template "106"').length, 1);
    equal(ignored("an unreadable message on s/ds").length, 1);
    ok(logs.some((l) => l.includes('ignored a line of template "599" (3 so far)')));
    ok(logs.some((l) => l.includes("ignored an unreadable message on s/ds (2 so far)")));
    deepEqual(
      t.emulator.lines.filter((l) => /^50[123]$/.test(l.fields[0])).map((l) => l.fields[0]),
      ["501", "502"],
    );
  } finally {
    await t.teardown();
    await resetLogging();
  }
});

Deno.test("510 runs the restart command: exit 0 is 503, another exit code is 502 with the code", async () => {
  const ok_ = await setup({ cloud: '[clouds.c8y.restart]\nenabled = true\ncommand = ["true"]' });
  try {
    await announced(ok_.emulator);
    const op = await ok_.emulator.waitForEnd(await ok_.emulator.operation(["510", "dev-1"]));
    deepEqual(op.history, ["PENDING", "EXECUTING", "SUCCESSFUL"]);
  } finally {
    await ok_.teardown();
  }
  const failing = await setup({
    cloud: '[clouds.c8y.restart]\nenabled = true\ncommand = ["false"]',
  });
  try {
    await announced(failing.emulator);
    const op = await failing.emulator.waitForEnd(
      await failing.emulator.operation(["510", "dev-1"]),
    );
    deepEqual([op.status, op.failureReason], ["FAILED", "Restart command exited with code 1"]);
  } finally {
    await failing.teardown();
  }
});

Deno.test("511 runs only allowlisted programs, without a shell, and answers their output", async () => {
  const t = await setup({
    cloud: '[clouds.c8y.shell]\nenabled = true\nallow = ["echo", "false"]',
  });
  try {
    await announced(t.emulator);
    const echo = await t.emulator.operation(["511", "dev-1", 'echo "hello, world" $(id) ;ls']);
    const denied = await t.emulator.operation(["511", "dev-1", "rm -rf /tmp/nothing-here"]);
    const viaShell = await t.emulator.operation(["511", "dev-1", "sh -c 'echo hi'"]);
    const failing = await t.emulator.operation(["511", "dev-1", "false"]);
    const unterminated = await t.emulator.operation(["511", "dev-1", 'echo "open']);
    for (const op of [echo, denied, viaShell, failing, unterminated]) {
      await t.emulator.waitForEnd(op);
    }
    deepEqual([echo.status, echo.result], ["SUCCESSFUL", ["hello, world $(id) ;ls\n"]]);
    deepEqual([denied.status, denied.failureReason], [
      "FAILED",
      'Command "rm" is not allowed on this device (allowed: echo, false)',
    ]);
    deepEqual([viaShell.status, viaShell.failureReason], [
      "FAILED",
      'Command "sh" is not allowed on this device (allowed: echo, false)',
    ]);
    deepEqual([failing.status, failing.failureReason], ["FAILED", "Command exited with code 1"]);
    equal(unterminated.status, "FAILED");
    match(unterminated.failureReason!, /double quote at column 6 is never closed/);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("malformed 530 lines fail with their reason, unreadable messages are logged, the agent keeps running", async () => {
  const t = await setup({ extra: '[remoteAccess]\nallow = ["127.0.0.1:22"]' });
  try {
    await announced(t.emulator);
    const cases: [string[], RegExp][] = [
      [["530", "dev-1", "127.0.0.1"], /port is missing/],
      [["530", "dev-1", "127.0.0.1", "ssh", "k"], /port "ssh" is not a number/],
      [["530", "dev-1", "127.0.0.1", "70000", "k"], /port 70000 is out of range/],
      [["530", "dev-1", "127.0.0.1", "22", ""], /connection key is empty/],
      [["530"], /serial is missing/],
    ];
    const ops = [];
    for (const [fields] of cases) ops.push(await t.emulator.operation(fields));
    await t.emulator.sendRaw('530,dev-1,"127.0.0.1,22,k');
    await t.emulator.send(["41", "100", "Device already existing"], "s/e");
    for (const [i, op] of ops.entries()) {
      await t.emulator.waitForEnd(op);
      equal(op.status, "FAILED", op.fields.join(","));
      match(op.failureReason!, cases[i][1]);
    }
    // Still serving: an unsupported operation after all that is answered.
    const later = await t.emulator.waitForEnd(
      await t.emulator.operation(["522", "dev-1", "log", "2024-01-01", "2024-01-02", "", ""]),
    );
    equal(later.failureReason, NOT_SUPPORTED);
    equal(t.agent.status().clouds[0].connected, true);
    deepEqual(t.emulator.violations, []);
  } finally {
    await t.teardown();
  }
});

Deno.test("a 530 for a target not in the allowlist is 501 then 502 with the reason, and nothing is dialed", async () => {
  const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (target.addr as Deno.NetAddr).port;
  let dialed = 0;
  const accepting = (async () => {
    for await (const conn of target) {
      dialed++;
      conn.close();
    }
  })();
  const t = await setup({ extra: '[remoteAccess]\nallow = ["127.0.0.1:1"]' });
  try {
    await announced(t.emulator);
    const op = await t.emulator.waitForEnd(
      await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(port), "key-1"]),
    );
    deepEqual(op.history, ["PENDING", "EXECUTING", "FAILED"]);
    match(op.failureReason!, /not (on|in) the allowlist|not allowed/i);
    equal(dialed, 0);
  } finally {
    await t.teardown();
    target.close();
    await accepting;
  }
});

Deno.test("telemetry and events reach s/us through the outbox as 200, 201, 400 and alarm lines", async () => {
  const t = await setup();
  try {
    await announced(t.emulator);
    await t.agent.publish("climate", { celsius: 21.5, humidity: 40, label: "ignored" });
    await t.agent.publish("door", { open: true });
    await t.agent.event("door_opened", "Front door opened");
    await t.agent.event("overheat", "Too hot", { severity: "major" });
    const [multi] = await t.emulator.waitForLines((f) => f[0] === "201");
    const [single] = await t.emulator.waitForLines((f) => f[0] === "200");
    const [event] = await t.emulator.waitForLines((f) => f[0] === "400");
    const [alarm] = await t.emulator.waitForLines((f) => f[0] === "302");
    deepEqual(multi.fields.slice(0, 2), ["201", "outpost_climate"]);
    ok(!Number.isNaN(Date.parse(multi.fields[2])));
    deepEqual(multi.fields.slice(3), [
      "climate",
      "celsius",
      "21.5",
      "",
      "climate",
      "humidity",
      "40",
    ]);
    deepEqual(single.fields.slice(0, 4), ["200", "door", "open", "1"]);
    deepEqual(event.fields.slice(0, 3), ["400", "door_opened", "Front door opened"]);
    deepEqual(alarm.fields.slice(0, 3), ["302", "overheat", "Too hot"]);
  } finally {
    await t.teardown();
  }
});

Deno.test("bootstrap: registers on s/ucr, stores the credentials 0600, reconnects as the new user, and reuses them", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-c8y-" });
  const login = '[clouds.c8y.bootstrap]\nenabled = true\npassword = "boot-pw"\nintervalSec = 0.05';
  const first = await setup({
    emulator: { users: {}, bootstrapPassword: "boot-pw" },
    login,
    stateDir,
  });
  try {
    await first.emulator.waitFor(
      "two registration requests",
      () => first.emulator.lines.filter((l) => l.topic === "s/ucr").length >= 2,
    );
    deepEqual(first.emulator.connects[0], {
      clientId: "dev-1",
      username: "management/devicebootstrap",
      accepted: true,
      as: "bootstrap",
    });
    first.emulator.accept("dev-1", "device_dev-1", "issued-pw");
    await announced(first.emulator);
    const device = first.emulator.connects.filter((c) => c.as === "device");
    deepEqual(device, [
      { clientId: "d:dev-1", username: "t100/device_dev-1", accepted: true, as: "device" },
    ]);
    const file = credentialsFile(stateDir, "c8y");
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    deepEqual(JSON.parse(await Deno.readTextFile(file)), {
      tenant: "t100",
      user: "device_dev-1",
      password: "issued-pw",
    });
  } finally {
    await first.teardown();
  }
  // A second run finds the stored credentials and never asks again.
  const second = await setup({
    emulator: { users: { "device_dev-1": "issued-pw" }, bootstrapPassword: "boot-pw" },
    login,
    stateDir,
  });
  try {
    await announced(second.emulator);
    deepEqual(second.emulator.connects.map((c) => c.as), ["device"]);
  } finally {
    await second.teardown();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("stopping the agent while it waits for registration leaves nothing running", async () => {
  const t = await setup({
    emulator: { users: {}, bootstrapPassword: "boot-pw" },
    login: '[clouds.c8y.bootstrap]\nenabled = true\npassword = "boot-pw"\nintervalSec = 0.05',
  });
  try {
    await t.emulator.waitFor("a registration request", () => t.emulator.lines.length > 0);
    equal(t.agent.status().clouds[0].connected, false);
  } finally {
    await t.teardown();
  }
});

Deno.test("certificate login: a JWT is requested on s/uat at connect and again at half of its life", async () => {
  const pki = await testPki();
  const t = await setup({
    emulator: {
      tls: { ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key },
      tokenLifetimeSec: 3,
    },
    login: `certFile = "${pki.client.certFile}"\nkeyFile = "${pki.client.keyFile}"\n` +
      `caFile = "${pki.ca.certFile}"`,
  });
  try {
    await announced(t.emulator);
    deepEqual(t.emulator.connects, [
      { clientId: "d:dev-1", username: undefined, accepted: true, as: "certificate" },
    ]);
    await t.emulator.waitFor("a renewed token", () => t.emulator.tokenRequests.length >= 2, 6000);
    const [first, second] = t.emulator.tokenRequests;
    // `exp` has whole seconds, so the life was 2 to 3 s: renewal after 1 to 1.5 s.
    ok(second - first >= 900 && second - first < 2500, `renewed after ${second - first} ms`);
  } finally {
    await t.teardown();
  }
});
