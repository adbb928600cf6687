import { equal, match } from "node:assert/strict";
import { startAwsEmulator } from "../helpers/aws_emulator.ts";

Deno.test("the AWS telemetry demo provisions, syncs the shadow and publishes on the emulator; a second run reuses the store", async () => {
  const emulator = await startAwsEmulator();
  const dir = await Deno.makeTempDir({ prefix: "outpost-aws-demo-" });
  const example = new URL("../../examples/aws_telemetry_demo.ts", import.meta.url);
  const run = async () => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", example.pathname],
      env: {
        NO_COLOR: "1",
        AWS_URL: emulator.url,
        AWS_CA_FILE: emulator.pki.ca.certFile,
        AWS_RULE: "iot_data_platform_telemetry_test",
        AWS_CERT_STORE: `${dir}/certificate_store`,
        AWS_STATE_DIR: `${dir}/state`,
        AWS_CLAIM_CERT: emulator.pki.client.certFile,
        AWS_CLAIM_KEY: emulator.pki.client.keyFile,
        AWS_TEMPLATE: "fleet",
        AWS_SERIAL: "demo-1",
        AWS_COUNT: "3",
      },
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(stdout);
    equal(code, 0, `${out}\n${new TextDecoder().decode(stderr)}`);
    return out;
  };
  try {
    const first = await run();
    match(first, /connected as thing-demo-1/);
    match(first, /published 3 event\(s\); 0 still queued/);
    // AWS acknowledged them; the rules engine (the emulator) may still be reading.
    await emulator.until("three events", () => emulator.ingest.length === 3);
    for (const { topic, body } of emulator.ingest) {
      equal(topic, "$aws/rules/iot_data_platform_telemetry_test");
      equal(body.eventType, "reference-client-test");
      equal(body.assetType, "ID_Cutter");
      equal(body.connectionDeviceId, "thing-demo-1");
    }
    await emulator.until(
      "the shadow",
      () => emulator.shadow("thing-demo-1")?.reported.event_publishing_enabled === true,
    );
    const second = await run();
    match(second, /connected as thing-demo-1/);
    equal(emulator.registered.length, 1, "the second run did not provision again");
    await emulator.until("three more events", () => emulator.ingest.length === 6);
  } finally {
    await emulator.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
