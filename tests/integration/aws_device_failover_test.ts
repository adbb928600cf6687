/**
 * AwsDevice's `fallbackUrls`: with its first endpoint down, the device
 * provisions and connects through the next one (docs/failover.md).
 */
import { equal, ok } from "node:assert/strict";
import { AwsDevice } from "../../actors/facades/aws_device.ts";
import { startAwsEmulator } from "../helpers/aws_emulator.ts";
import { freePort } from "../helpers/brokers.ts";

Deno.test("an AwsDevice whose first endpoint is down provisions and connects through its fallback URL", async () => {
  const emulator = await startAwsEmulator();
  const dir = await Deno.makeTempDir({ prefix: "outpost-aws-failover-" });
  const device = new AwsDevice({
    url: `mqtts://127.0.0.1:${freePort()}`,
    fallbackUrls: [emulator.url],
    certStore: `${dir}/certificate_store`,
    caFile: emulator.pki.ca.certFile,
    stateDir: `${dir}/state`,
    deviceId: "failover-1",
    provisioning: {
      claimCertFile: emulator.pki.client.certFile,
      claimKeyFile: emulator.pki.client.keyFile,
      template: "fleet",
      parameters: { SerialNumber: "failover-1" },
    },
  });
  try {
    await device.connect();
    ok(device.thingName, "provisioned a thing through the second endpoint");
    equal(device.pending(), 0);
  } finally {
    await device.disconnect();
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
