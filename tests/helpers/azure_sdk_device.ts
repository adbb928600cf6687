/**
 * The official Azure IoT Node SDK doing what an IoT Central device does, for
 * the oracle test and the benchmark: DPS registration with a symmetric key
 * and the IoT Central model payload, then on the assigned hub: telemetry
 * with properties, a twin read, a writable-property ack (the PnP shape is
 * written here: the SDK has no builder for it), and a direct method answer.
 *
 * Run as a subprocess with the test CA trusted through `--cert` (the SDK's
 * DPS transport takes no CA option):
 *   deno run -A --cert ca.pem tests/helpers/azure_sdk_device.ts <mode> <dpsHost> <idScope> <deviceId> <key> <modelId> [count] [window]
 * `<key>` is the device's base64 key, or `x509:<certFile>:<keyFile>`.
 * mode `oracle`: the flow above, then waits for a `reboot` method and exits.
 * mode `bench`: registers, connects, sends `count` events with sendEvent,
 * `window` of them awaiting their PUBACK at once (1: one at a time), prints
 * `{"step":"sent","sent":n,"ms":t}` and exits.
 * Progress is one JSON line per step on stdout.
 */
import { ProvisioningDeviceClient } from "azure-iot-provisioning-device";
import { Mqtt as DpsMqtt } from "azure-iot-provisioning-device-mqtt";
import { SymmetricKeySecurityClient } from "azure-iot-security-symmetric-key";
import { X509Security } from "azure-iot-security-x509";
import { Client, Message } from "azure-iot-device";
import { Mqtt } from "azure-iot-device-mqtt";

const [mode, dpsHost, idScope, deviceId, key, modelId, countText, windowText] = Deno.args;
const say = (step: string, data: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ step, ...data }));

// `key` is a base64 symmetric key, or `x509:<certFile>:<keyFile>` for an X.509 device.
const x509 = key.startsWith("x509:")
  ? {
    cert: await Deno.readTextFile(key.split(":")[1]),
    key: await Deno.readTextFile(key.split(":")[2]),
  }
  : undefined;
const security = x509
  ? new X509Security(deviceId, x509)
  : new SymmetricKeySecurityClient(deviceId, key);
// Two copies of azure-iot-common in the SDK's tree make the same class two types.
const provisioning = ProvisioningDeviceClient.create(
  dpsHost,
  idScope,
  new DpsMqtt(),
  security as unknown as Parameters<typeof ProvisioningDeviceClient.create>[3],
);
provisioning.setProvisioningPayload({ iotcModelId: modelId, modelId });
// deno-lint-ignore no-explicit-any
const registration: any = await provisioning.register();
say("registered", { hub: registration.assignedHub });

const client = Client.fromConnectionString(
  `HostName=${registration.assignedHub};DeviceId=${registration.deviceId};` +
    (x509 ? "x509=true" : `SharedAccessKey=${key}`),
  Mqtt,
);
await client.setOptions({ modelId, ...x509 });
await client.open();
say("connected");

function message(body: unknown, id: string): Message {
  const m = new Message(JSON.stringify(body));
  m.messageId = id;
  m.contentType = "application/json";
  m.contentEncoding = "utf-8";
  return m;
}

if (mode === "bench") {
  const count = Number(countText ?? 1000);
  const window = Number(windowText ?? 1);
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await client.sendEvent(message({ i, temperature: 21.5 }, `m${i}`));
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  say("sent", { sent: count, ms: performance.now() - started });
  await client.close();
  Deno.exit(0);
}

const telemetry = message({ temperature: 21.5 }, "oracle-1");
telemetry.properties.add("alert", "a b");
telemetry.properties.add("$.sub", "thermostat1");
await client.sendEvent(telemetry);
say("telemetry");

const twin = await client.getTwin();
const desired = twin.properties.desired;
say("twin", { desired });
// The Plug and Play writable-property acknowledgement, as IoT Central documents it.
await new Promise<void>((resolve, reject) =>
  twin.properties.reported.update(
    {
      fanSpeed: { value: desired.fanSpeed, ac: 200, av: desired.$version, ad: "completed" },
      thermostat: {
        __t: "c",
        target: {
          value: desired.thermostat.target,
          ac: 200,
          av: desired.$version,
          ad: "completed",
        },
      },
    },
    (error?: Error) => (error ? reject(error) : resolve()),
  )
);
say("acked");

const answered = new Promise<void>((resolve) => {
  client.onDeviceMethod("reboot", (_request, response) => {
    response.send(200, { ok: "reboot" }, () => resolve());
  });
});
say("listening");
await answered;
say("answered");
await client.close();
Deno.exit(0);
