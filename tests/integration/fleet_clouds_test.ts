/**
 * A fleet on a cloud other than the generic one, through that cloud's own
 * connector, with a login per device from the templates: Cumulocity (the
 * emulator of tests/helpers) sees each simulated device as a device of its
 * own (the emulator sends every operation to every connection, as it
 * emulates one device; Cumulocity sends a device only its own, so
 * operations are tested per device on the generic cloud and on Azure), and
 * Azure provisions each device through DPS with a key derived from one
 * enrollment group's key, then reaches each by its own direct methods and
 * twin; on AWS each device is a thing of its own (its thing name from the
 * template; the emulator's mosquitto sends fleet provisioning's answers to
 * every device that asked at the same time, where AWS answers each
 * connection alone, so provisioning many at once is not tested here).
 */
import assert from "node:assert/strict";
import { createFleet, parseFleetConfig } from "../../actors/fleet/mod.ts";
import { startAwsEmulator } from "../helpers/aws_emulator.ts";
import { startAzureEmulator } from "../helpers/azure_emulator.ts";
import { startC8yEmulator } from "../helpers/c8y_emulator.ts";
import { testPki } from "../helpers/tls.ts";
import { until } from "../helpers/wait.ts";

/**
 * Three simulated devices on `cloud` (a `[clouds.<name>]` table, given a
 * fast backoff here), started; `check` runs against them, then the fleet,
 * the emulator and the state directory go whatever happened.
 */
async function withThreeDevices(
  name: string,
  cloud: string,
  options: { intervalSec: number; emulator: { stop(): Promise<void> } },
  check: (fleet: ReturnType<typeof createFleet>) => Promise<void>,
): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: `fleet-${name}-` });
  const fleet = createFleet(parseFleetConfig(
    `
[fleet]
devices = 3
rampPerSec = 1000
stateDir = "${stateDir}"
[fleet.telemetry]
intervalSec = ${options.intervalSec}
[clouds.${name}]
${cloud.trim()}
[clouds.${name}.backoff]
minMs = 20
maxMs = 200
`,
    { source: `fleet ${name} test` },
  ));
  await fleet.start();
  try {
    await check(fleet);
    assert.equal(fleet.stats().errors, 0);
  } finally {
    await fleet.stop();
    await options.emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
}

Deno.test("on Cumulocity each simulated device logs in as itself and sends its own measurements", async () => {
  const emulator = await startC8yEmulator({
    users: { "device_sim-1": "pw-1", "device_sim-2": "pw-2", "device_sim-3": "pw-3" },
  });
  const cloud = `
type = "c8y"
url = "${emulator.url}"
tenant = "${emulator.tenant}"
user = "device_{id}"
password = "pw-{n}"
`;
  await withThreeDevices("c8y", cloud, { intervalSec: 0.1, emulator }, async (fleet) => {
    await until("every device connected", () => fleet.stats().connected === 3, 10_000);
    const accepted = emulator.connects.filter((c) => c.accepted).map((c) => [
      c.clientId,
      c.username,
      c.as,
    ]);
    assert.deepEqual(accepted.sort(), [
      ["d:sim-1", `${emulator.tenant}/device_sim-1`, "device"],
      ["d:sim-2", `${emulator.tenant}/device_sim-2`, "device"],
      ["d:sim-3", `${emulator.tenant}/device_sim-3`, "device"],
    ]);
    await emulator.waitFor(
      "measurements from every device",
      () =>
        new Set(emulator.lines.filter((l) => l.fields[0] === "201").map((l) => l.clientId)).size ===
          3,
    );
    const created = emulator.lines.filter((l) => l.fields[0] === "100");
    assert.deepEqual(
      created.map((l) => [l.clientId, l.fields[1]]).sort(),
      [["d:sim-1", "Outpost sim-1"], ["d:sim-2", "Outpost sim-2"], ["d:sim-3", "Outpost sim-3"]],
    );
  });
});

Deno.test("on Azure each simulated device registers through DPS with the group key, and answers its own methods and twin", async () => {
  const groupKey = btoa("the-fleet-enrollment-group-key-01");
  const pki = await testPki();
  const emulator = await startAzureEmulator({ pki, groupKeys: [groupKey] });
  const cloud = `
type = "azure"
idScope = "${emulator.idScope}"
groupKey = "${groupKey}"
dpsHost = "${emulator.hub}"
caFile = "${pki.ca.certFile}"
`;
  await withThreeDevices("central", cloud, { intervalSec: 0.2, emulator }, async (fleet) => {
    await until("every device connected", () => fleet.stats().connected === 3, 15_000);
    await emulator.waitFor(
      "records from every device",
      () => new Set(emulator.messages.map((m) => m.deviceId)).size === 3,
    );
    assert.deepEqual(
      [...new Set(emulator.registrations.map((r) => r.clientId))].sort(),
      ["sim-1", "sim-2", "sim-3"],
    );
    assert.deepEqual(await emulator.invoke("sim-2", "echo", { n: 2 }), {
      status: 200,
      payload: { n: 2 },
    });
    await emulator.setDesired("sim-3", { mode: "eco" });
    const twin = emulator.twin("sim-3");
    await emulator.waitFor("sim-3's ack", () => twin.reported.mode !== undefined);
    assert.deepEqual(twin.reported.mode, { value: "eco", ac: 200, av: 2, ad: "completed" });
    assert.equal(emulator.twin("sim-1").reported.mode, undefined, "sim-1 was not asked");
    assert.deepEqual(emulator.violations, []);
  });
});

Deno.test("on AWS each simulated device connects as its own thing and syncs its own shadow", async () => {
  const emulator = await startAwsEmulator();
  const { pki } = emulator;
  const cloud = `
type = "aws"
url = "${emulator.url}"
caFile = "${pki.ca.certFile}"
certFile = "${pki.client.certFile}"
keyFile = "${pki.client.keyFile}"
thingName = "thing-{id}"
ingestRule = "telemetry"
`;
  await withThreeDevices("aws", cloud, { intervalSec: 0.2, emulator }, async (fleet) => {
    await until("every device connected", () => fleet.stats().connected === 3, 20_000);
    await emulator.until(
      "records from every thing",
      () => new Set(emulator.ingest.map((m) => m.body.connectionDeviceId)).size === 3,
    );
    assert.deepEqual(
      [...new Set(emulator.ingest.map((m) => m.body.connectionDeviceId))].sort(),
      ["thing-sim-1", "thing-sim-2", "thing-sim-3"],
    );
    await emulator.setDesired("thing-sim-2", { mode: "eco" });
    await emulator.until(
      "sim-2 reported it",
      () => emulator.shadow("thing-sim-2")?.reported.mode === "eco",
    );
    assert.equal(emulator.shadow("thing-sim-1")?.reported.mode, undefined, "sim-1 was not asked");
  });
});
