/**
 * The iotc `async_device_key` sample on Outpost: an IoT Central device that
 * connects with a symmetric key through DPS, sends telemetry every 3 s,
 * acknowledges writable properties and answers commands.
 *
 * Run: deno run -A examples/azure_device_key.ts
 * samples.ini (or the file named by $AZURE_SAMPLES_INI):
 *   [DEVICE_A]
 *   ScopeId = scopeid
 *   DeviceId = deviceid
 *   ; either one or the other
 *   DeviceKey = device_key
 *   GroupKey = group_key
 *   ; optional: ModelId, DpsHost (host:port), CaFile, Iterations (then it
 *   disconnects), IntervalSec (default 3), StateDir
 */
import { AzureDevice, type IoTCCommand, IOTCLogLevel } from "../actors/facades/azure.ts";
import { sampleSection, sendSampleTelemetry } from "./azure_samples_ini.ts";

const config = await sampleSection("DEVICE_A");
const groupKey = config.GroupKey;
const device = new AzureDevice(
  config.DeviceId,
  config.ScopeId,
  groupKey ? "groupKey" : "deviceKey",
  groupKey ?? config.DeviceKey,
  {
    dpsHost: config.DpsHost,
    ca: config.CaFile ? await Deno.readTextFile(config.CaFile) : undefined,
    stateDir: config.StateDir,
    logLevel: IOTCLogLevel.IOTC_LOGGING_ALL,
  },
);
if (config.ModelId) device.setModelId(config.ModelId);

function onProps(name: string, value: unknown): boolean {
  console.log(`Received property ${name}: ${JSON.stringify(value)}`);
  return true;
}

async function onCommands(command: IoTCCommand): Promise<void> {
  console.log(`Received command ${command.name}: ${JSON.stringify(command.payload)}`);
  await command.ack("Command received");
}

device.on("properties", onProps);
device.on("command", onCommands);
await device.connect();

await sendSampleTelemetry(device, config);
await device.disconnect();
