/**
 * The iotc `async_x509` sample on Outpost: an IoT Central device that
 * connects with an X.509 certificate through DPS, sends telemetry every
 * 3 s, acknowledges writable properties and answers commands.
 *
 * Run: deno run -A examples/azure_x509.ts
 * samples.ini (or the file named by $AZURE_SAMPLES_INI):
 *   [X509]
 *   ScopeId = scopeid
 *   DeviceId = deviceid
 *   CertFilePath = path_to_cert_file
 *   KeyFilePath = path_to_key_file
 *   ; optional: ModelId, DpsHost (host:port), CaFile, Iterations (then it
 *   disconnects), IntervalSec (default 3), StateDir
 * An encrypted key (the seed's CertPassphrase) is not supported: decrypt it first.
 */
import {
  AzureDevice,
  type IoTCCommand,
  IOTCConnectType,
  IOTCLogLevel,
} from "../actors/facades/azure.ts";
import { sampleSection, sendSampleTelemetry } from "./azure_samples_ini.ts";

const config = await sampleSection("X509");
if (config.CertPassphrase) {
  throw new Error("CertPassphrase is not supported: use an unencrypted key file (mode 0600)");
}
const device = new AzureDevice(
  config.DeviceId,
  config.ScopeId,
  IOTCConnectType.IOTC_CONNECT_X509_CERT,
  {
    cert: await Deno.readTextFile(config.CertFilePath),
    key: await Deno.readTextFile(config.KeyFilePath),
  },
  {
    dpsHost: config.DpsHost,
    ca: config.CaFile ? await Deno.readTextFile(config.CaFile) : undefined,
    stateDir: config.StateDir,
    logLevel: IOTCLogLevel.IOTC_LOGGING_ALL,
  },
);
if (config.ModelId) device.setModelId(config.ModelId);

device.on("properties", (name, value) => {
  console.log(`Received property ${name}: ${JSON.stringify(value)}`);
  return true;
});
device.on("command", async (command: IoTCCommand) => {
  console.log(`Received command ${command.name}: ${JSON.stringify(command.payload)}`);
  await command.ack("Command received");
});
await device.connect();

await sendSampleTelemetry(device, config);
await device.disconnect();
