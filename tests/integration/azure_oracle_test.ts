/**
 * Oracle: the official Azure IoT Node SDK (azure-iot-device,
 * azure-iot-provisioning-device, with their MQTT transports) and Outpost's
 * AzureDevice do the same IoT Central device flow against the same
 * emulator; what each put on the wire is compared after normalizing the
 * device id, `$rid`s, operation ids, message ids and the SDK's
 * client-version strings (`ClientVersion=…`, `DeviceClientType=…`).
 *
 * The SDK runs in a Deno subprocess with the test CA passed through
 * `--cert`: its DPS transport has no CA option.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { AzureDevice } from "../../actors/facades/azure_device.ts";
import { memoryCredentialStorage } from "../../actors/azure/credentials.ts";
import { type AzureEmulator, startAzureEmulator } from "../helpers/azure_emulator.ts";
import { testPki } from "../helpers/tls.ts";

const KEY = btoa("the-device-key-for-the-oracle-01");
const MODEL = "dtmi:outpost:oracle;1";
const DESIRED = { fanSpeed: 3, thermostat: { __t: "c", target: 22 } };

/** Runs the SDK's flow as `id` with `secret` (a key or `x509:<cert>:<key>`); resolves once it answered the method and exited. */
async function runSdk(
  emulator: AzureEmulator,
  caFile: string,
  id = "sdk-1",
  secret = KEY,
): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--cert",
      caFile,
      new URL("../helpers/azure_sdk_device.ts", import.meta.url).pathname,
      "oracle",
      emulator.hub,
      emulator.idScope,
      id,
      secret,
      MODEL,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const steps: string[] = [];
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let invoked: Promise<unknown> | undefined;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const step = JSON.parse(line).step as string;
        steps.push(step);
        if (step === "listening") invoked = emulator.invoke(id, "reboot", {});
      }
    }
  } finally {
    reader.releaseLock();
  }
  const status = await child.status;
  const errors = await stderr;
  await invoked;
  equal(status.code, 0, `the SDK process failed: ${errors}`);
  deepEqual(steps, [
    "registered",
    "connected",
    "telemetry",
    "twin",
    "acked",
    "listening",
    "answered",
  ]);
}

/** Does the same flow with Outpost as `id`, with a key or an X.509 identity. */
async function runOutpost(
  emulator: AzureEmulator,
  ca: string,
  stateDir: string,
  id = "out-1",
  x509?: { cert: string; key: string },
): Promise<void> {
  const device = new AzureDevice(id, emulator.idScope, x509 ? "x509" : "deviceKey", x509 ?? KEY, {
    stateDir,
    dpsHost: emulator.hub,
    ca,
    storage: memoryCredentialStorage(),
    logLevel: "disabled",
  });
  device.setModelId(MODEL);
  device.on("properties", () => true);
  device.on("command", (command) => command.ack({ ok: command.command }, 200));
  try {
    await device.connect();
    await device.sendTelemetry({ temperature: 21.5 }, { alert: "a b", "$.sub": "thermostat1" });
    const twin = emulator.twin(id);
    await emulator.waitFor(
      "both acks",
      () => twin.reported.fanSpeed !== undefined && twin.reported.thermostat !== undefined,
    );
    await emulator.waitFor(
      "the telemetry",
      () => emulator.messages.some((m) => m.deviceId === id),
    );
    deepEqual(await emulator.invoke(id, "reboot", {}), {
      status: 200,
      payload: { ok: "reboot" },
    });
  } finally {
    await device.disconnect();
  }
}

/** The wire as one client used it, normalized. */
function wire(emulator: AzureEmulator, id: string) {
  const norm = (text: string) =>
    text.replaceAll(id, "<id>").replaceAll(emulator.hub, "<hub>")
      .replace(/([?&]\$rid=)[^&]*/g, "$1<rid>")
      .replace(/(operationId=)[^&]*/g, "$1<op>")
      .replace(/&ClientVersion=[^&]*/g, "")
      .replace(/&DeviceClientType=[^&]*/g, "");
  const sasFields = (password?: string) =>
    password === undefined ? [] : password.replace(/^SharedAccessSignature /, "").split("&")
      .map((p) => p.slice(0, p.indexOf("="))).sort();
  const logins = emulator.connects.filter((c) => c.clientId === id && c.accepted);
  const topics = new Set(
    emulator.publishes.filter((p) => p.clientId === id && !p.topic.startsWith("devices/"))
      .map((p) => norm(p.topic)),
  );
  const [message] = emulator.messages.filter((m) => m.deviceId === id);
  const { "$.mid": mid, ...bag } = message.properties;
  const methodAnswer = emulator.publishes.find((p) =>
    p.clientId === id && p.topic.startsWith("$iothub/methods/res/")
  );
  const { $version: _, ...reported } = emulator.twin(id).reported;
  return {
    logins: logins.map((c) => ({
      service: c.service,
      username: norm(c.username ?? ""),
      sas: sasFields(c.password),
      skn: /skn=([^&]*)/.exec(c.password ?? "")?.[1],
    })),
    subscriptions: new Set(
      emulator.subscriptions.filter((s) => s.clientId === id).map((s) => norm(s.filter)),
    ),
    topics,
    registration: JSON.parse(
      norm(JSON.stringify(emulator.registrations.find((r) => r.clientId === id)?.body)),
    ),
    telemetry: {
      bag,
      hasMessageId: typeof mid === "string" && mid !== "",
      payload: message.payload,
    },
    method: { topic: norm(methodAnswer!.topic), payload: JSON.parse(methodAnswer!.payload) },
    reported,
  };
}

Deno.test("the official SDK and Outpost put the same CONNECT, topics, property bags and acks on the wire", async () => {
  const pki = await testPki();
  const emulator = await startAzureEmulator({ pki, devices: { "sdk-1": KEY, "out-1": KEY } });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-oracle-" });
  try {
    for (const id of ["sdk-1", "out-1"]) emulator.presetDesired(id, DESIRED);
    await runSdk(emulator, pki.ca.certFile);
    await runOutpost(emulator, pki.ca.cert, stateDir);
    const sdk = wire(emulator, "sdk-1");
    const outpost = wire(emulator, "out-1");
    // User names including api-version and model-id, and the SAS fields of each password.
    deepEqual(outpost.logins, sdk.logins);
    equal(sdk.logins[0].skn, "registration");
    deepEqual(outpost.registration, sdk.registration);
    deepEqual(outpost.telemetry, sdk.telemetry);
    deepEqual(outpost.method, sdk.method);
    deepEqual(outpost.reported, sdk.reported);
    // Outpost also reads the twin at boot and listens for offline commands (C2D); every
    // topic and subscription the SDK used, Outpost used too.
    for (const topic of sdk.topics) ok(outpost.topics.has(topic), `Outpost never used ${topic}`);
    for (const filter of sdk.subscriptions) {
      ok(outpost.subscriptions.has(filter), `Outpost never subscribed to ${filter}`);
    }
    deepEqual(emulator.violations, []);
  } finally {
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("with X.509 the official SDK and Outpost log in the same way (certificate, no password) and agree on the rest", async () => {
  const pki = await testPki();
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-oracle-" });
  // One X.509 identity (CN dev-1), so each side gets an emulator of its own.
  const forSdk = await startAzureEmulator({ pki, x509Devices: ["dev-1"] });
  const forOutpost = await startAzureEmulator({ pki, x509Devices: ["dev-1"] });
  try {
    for (const emulator of [forSdk, forOutpost]) emulator.presetDesired("dev-1", DESIRED);
    await runSdk(
      forSdk,
      pki.ca.certFile,
      "dev-1",
      `x509:${pki.client.certFile}:${pki.client.keyFile}`,
    );
    await runOutpost(forOutpost, pki.ca.cert, stateDir, "dev-1", {
      cert: pki.client.cert,
      key: pki.client.key,
    });
    const sdk = wire(forSdk, "dev-1");
    const outpost = wire(forOutpost, "dev-1");
    deepEqual(outpost.logins, sdk.logins);
    deepEqual(sdk.logins.map((l) => l.sas), [[], []], "no password on either side");
    deepEqual(outpost.registration, sdk.registration);
    deepEqual(outpost.telemetry, sdk.telemetry);
    deepEqual(outpost.method, sdk.method);
    deepEqual(outpost.reported, sdk.reported);
    for (const topic of sdk.topics) ok(outpost.topics.has(topic), `Outpost never used ${topic}`);
    deepEqual([...forSdk.violations, ...forOutpost.violations], []);
  } finally {
    await forSdk.stop();
    await forOutpost.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
