import assert from "node:assert/strict";
import { ConfigError } from "../../actors/agent/config.ts";
import type { MqttCloudConfig } from "../../actors/agent/config_types.ts";
import {
  deviceClouds,
  deviceIdOf,
  type FleetOverrides,
  loadFleetConfig,
  parseFleetConfig,
} from "../../actors/fleet/config.ts";

const HUB = '[clouds.hub]\ntype = "mqtt"\nurl = "mqtt://127.0.0.1:1883"\n';

/** The message lines of the ConfigError that `text` raises. */
function problems(text: string, overrides?: FleetOverrides): string[] {
  try {
    parseFleetConfig(text, { source: "fleet.toml", overrides });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, got ${error}`);
    return error.message.split("\n");
  }
  throw new Error("the configuration was accepted");
}

Deno.test("a file with one cloud runs 100 devices sim-1.. with system-like telemetry every 10 s", () => {
  const config = parseFleetConfig(HUB);
  assert.equal(config.fleet.devices, 100);
  assert.equal(config.fleet.firstDevice, 1);
  assert.equal(deviceIdOf(config.fleet, 7), "sim-7");
  assert.equal(config.fleet.telemetry.intervalSec, 10);
  assert.equal(config.fleet.telemetry.inFlight, 16);
  assert.deepEqual(Object.keys(config.fleet.telemetry.fields), [
    "load1",
    "memUsedPercent",
    "temperature",
    "uptimeTicks",
  ]);
  assert.equal(config.fleet.churn.percentPerMin, 0);
  assert.equal(config.log.level, "warning", "thousands of devices: warnings and up by default");
  assert.equal(config.outbox.maxRecords, 10_000, "per device and cloud");
  assert.deepEqual(config.warnings, []);
});

Deno.test("each device's clouds are resolved as the agent resolves its own, for that device", () => {
  const config = parseFleetConfig(`
[fleet]
deviceId = "pump-{n:3}"
firstDevice = 5
[clouds.hub]
type = "mqtt"
url = "mqtt://127.0.0.1:1883"
username = "user-{n}"
password = "secret-{id}"
[clouds.plain]
type = "mqtt"
url = "mqtt://127.0.0.1:1884"
`);
  const clouds = deviceClouds(config, 12) as Record<string, MqttCloudConfig>;
  assert.equal(clouds.hub.type, "mqtt");
  assert.deepEqual(
    [clouds.hub.clientId, clouds.hub.username, clouds.hub.password],
    ["outpost-pump-012", "user-12", "secret-pump-012"],
  );
  assert.equal(clouds.plain.clientId, "outpost-pump-012", "the generic default: outpost-<id>");
  assert.equal(config.clouds.hub.password, "secret-{id}", "the templates are kept as written");
});

Deno.test("--devices and --first override [fleet] and are named in their errors", () => {
  const config = parseFleetConfig(`[fleet]\ndevices = 5\n${HUB}`, {
    overrides: { devices: "250", first: 1000 },
  });
  assert.equal(config.fleet.devices, 250);
  assert.equal(config.fleet.firstDevice, 1000);
  assert.deepEqual(problems(HUB, { devices: "many" }), [
    'fleet.toml: --devices: expected an integer from 1 to 100000, found "many"',
  ]);
  assert.deepEqual(problems(HUB, { devices: 0 }), [
    "fleet.toml: --devices: expected an integer from 1 to 100000, found 0",
  ]);
});

Deno.test("a device id template needs {n}, knows no other placeholder, and must make valid ids", () => {
  assert.match(
    problems(`[fleet]\ndeviceId = "sim"\n${HUB}`)[0],
    /fleet\.deviceId: expected a template that uses \{n\}, so each device has its own id, found "sim"/,
  );
  assert.match(
    problems(`[fleet]\ndeviceId = "sim-{id}"\n${HUB}`)[0],
    /fleet\.deviceId: expected a template with \{n\} only: unknown placeholder "\{id\}"/,
  );
  assert.match(
    problems(`[fleet]\ndeviceId = "${"x".repeat(60)}-{n}"\n${HUB}`, { devices: 20_000 })[0],
    /fleet\.deviceId: expected a template that makes ids of 1 to 64 characters.*for device 20000 \(see --devices\)/,
  );
});

Deno.test("every mistake in [fleet] and in the clouds is listed at once, in the agent's words", () => {
  const lines = problems(`
[fleet]
devices = 0
rampPerSec = -1
colour = "red"
[fleet.telemetry]
intervalSec = 0.001
[fleet.telemetry.fields]
a = { kind = "wave" }
b = { kind = "walk", size = 3 }
c = { kind = "constant" }
d = { kind = "sine", min = 5, max = 1 }
[fleet.churn]
percentPerMin = -5
[clouds.hub]
type = "mqtt"
url = "http://broker"
`);
  assert.deepEqual(lines, [
    "fleet.toml: fleet.devices: expected an integer from 1 to 100000, found 0",
    "fleet.toml: fleet.rampPerSec: expected a number of devices per second > 0, found -1",
    "fleet.toml: fleet.telemetry.intervalSec: expected a number of seconds >= 0.01, or 0 (as fast as the outbox drains), found 0.001",
    'fleet.toml: fleet.telemetry.fields.a.kind: expected one of "walk", "sine", "random", "counter", "constant", "bytes", found "wave"',
    'fleet.toml: fleet.telemetry.fields.b.size: expected a key of a walk field (start, step, min, max), found key "size"',
    "fleet.toml: fleet.telemetry.fields.c.value: expected the value of a constant field (a string, a number, or true or false), found nothing",
    "fleet.toml: fleet.telemetry.fields.d.max: expected a number >= min (5), found 1",
    "fleet.toml: fleet.churn.percentPerMin: expected a percentage >= 0, found -5",
    'fleet.toml: fleet.colour: expected no such key (known keys: devices, firstDevice, deviceId, rampPerSec, summaryEverySec, stateDir, spreadBrokers, seed, telemetry, churn), found key "colour"',
    'fleet.toml: clouds.hub.url: expected a URL like "mqtt://host:1883" (scheme mqtt, mqtts, ws or wss; no user or password in it), found "http://broker"',
  ]);
});

Deno.test("the agent's own sections: only [log], [outbox], [remoteAccess] and clouds beside [fleet]", () => {
  assert.deepEqual(problems(`[agent]\ndeviceId = "x"\n[log]\nlevel = "loud"\n${HUB}`), [
    'fleet.toml: agent: expected no such key (known keys: fleet, log, outbox, remoteAccess, clouds), found key "agent"',
    'fleet.toml: log.level: expected one of "trace", "debug", "info", "warning", "error", "fatal", found "loud"',
  ]);
  assert.deepEqual(problems("[fleet]\ndevices = 3\n"), [
    "fleet.toml: clouds: expected at least one [clouds.<name>] table: the cloud the devices connect to, found none",
  ]);
});

Deno.test("a placeholder the fleet does not know is refused, and a secret is never shown", () => {
  assert.deepEqual(
    problems(`${HUB}username = "u-{device}"\npassword = "p-{pin}"\n`),
    [
      'fleet.toml: clouds.hub.username: expected placeholders {n}, {n:<width>} or {id} only (unknown placeholder "{device}" (known: {n}, {id}; write {{ and }} for a brace)), found "u-{device}"',
      "fleet.toml: clouds.hub.password: expected placeholders {n}, {n:<width>} or {id} only, found (a string)",
    ],
  );
});

Deno.test("a client id shared by every device is refused; identical logins are a warning", () => {
  assert.deepEqual(problems(`${HUB}clientId = "fixed"\n`), [
    'fleet.toml: clouds.hub.clientId: expected a client id that uses {n} or {id} ("sim-{n}"): devices sharing one knock each other off the broker, found "fixed"',
  ]);
  const c8y = parseFleetConfig(`
[clouds.c8y]
type = "c8y"
url = "mqtt://127.0.0.1:1883"
serial = "same"
tenant = "t1"
user = "u"
password = "p"
`);
  assert.equal(c8y.warnings.length, 1);
  assert.match(c8y.warnings[0], /\[clouds\.c8y\] is the same for every device/);
});

Deno.test("loadFleetConfig names a missing file", async () => {
  await assert.rejects(
    () => loadFleetConfig("/nonexistent/fleet-missing.toml"),
    /\/nonexistent\/fleet-missing\.toml: \(file\): expected a readable TOML file, found no such file/,
  );
});

Deno.test("a broker list is spread: device n starts at broker n, then fails over in list order", () => {
  const text = `[clouds.hub]
type = "mqtt"
urls = ["mqtt://127.0.0.1:1001", "mqtt://127.0.0.1:1002", "mqtt://127.0.0.1:1003"]
`;
  const spread = parseFleetConfig(text);
  const urls = (n: number) => (deviceClouds(spread, n).hub as { urls?: string[] }).urls;
  assert.deepEqual(urls(1), [
    "mqtt://127.0.0.1:1001",
    "mqtt://127.0.0.1:1002",
    "mqtt://127.0.0.1:1003",
  ]);
  assert.deepEqual(urls(2), [
    "mqtt://127.0.0.1:1002",
    "mqtt://127.0.0.1:1003",
    "mqtt://127.0.0.1:1001",
  ]);
  assert.deepEqual(urls(4), urls(1));
  const listed = parseFleetConfig(`[fleet]\nspreadBrokers = false\n${text}`);
  assert.deepEqual(
    (deviceClouds(listed, 2).hub as { urls?: string[] }).urls,
    ["mqtt://127.0.0.1:1001", "mqtt://127.0.0.1:1002", "mqtt://127.0.0.1:1003"],
  );
});

Deno.test("examples/fleet.toml is valid and means what its comments say", async () => {
  const config = await loadFleetConfig(
    new URL("../../examples/fleet.toml", import.meta.url).pathname,
  );
  assert.equal(config.fleet.devices, 100);
  assert.equal(deviceIdOf(config.fleet, 42), "sim-42");
  assert.deepEqual(Object.keys(config.fleet.telemetry.fields), [
    "temperature",
    "humidity",
    "vibration",
    "pulses",
    "firmware",
  ]);
  assert.equal((deviceClouds(config, 42).hub as MqttCloudConfig).clientId, "fleet-sim-42");
  assert.deepEqual(config.warnings, []);
});
