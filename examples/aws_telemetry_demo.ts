/**
 * The AWS reference client's telemetry demo (`run_telemetry_demo.py`), on
 * Outpost: on the first run it provisions the device by CSR into a
 * certificate store laid out like the seed's, then syncs the classic
 * shadow (`event_publishing_enabled`, `event_type_blacklist`), and publishes
 * a few telemetry events with `eventType = "reference-client-test"` to the
 * Basic Ingest rule in the seed's envelope. Unlike the seed, every event is
 * stored before it is sent, so one published while offline arrives later.
 *
 *   deno run -A examples/aws_telemetry_demo.ts \
 *     --url mqtts://<prefix>-ats.iot.eu-west-1.amazonaws.com:8883 \
 *     --cert-store ./certificate_store --rule iot_data_platform_telemetry_stg \
 *     --claim-cert claim.pem.crt --claim-key claim.pem.key --template <template> \
 *     --serial <serial>
 *
 * A store that already holds `clientID.txt`, `deviceCert.cert` and
 * `devicePrivateKey.pem` needs no claim. Every option can come from the
 * environment: AWS_URL, AWS_CERT_STORE, AWS_CA_FILE, AWS_RULE,
 * AWS_CLAIM_CERT, AWS_CLAIM_KEY, AWS_TEMPLATE, AWS_SERIAL, AWS_STATE_DIR,
 * AWS_COUNT (events to send, default 5).
 */
import { parseArgs } from "node:util";
import { AwsDevice } from "../actors/facades/aws.ts";

const env = (name: string) => Deno.env.get(name);
const { values } = parseArgs({
  options: {
    url: { type: "string", default: env("AWS_URL") },
    "cert-store": { type: "string", default: env("AWS_CERT_STORE") ?? "certificate_store" },
    "ca-file": { type: "string", default: env("AWS_CA_FILE") },
    rule: { type: "string", default: env("AWS_RULE") },
    "claim-cert": { type: "string", default: env("AWS_CLAIM_CERT") },
    "claim-key": { type: "string", default: env("AWS_CLAIM_KEY") },
    template: { type: "string", default: env("AWS_TEMPLATE") },
    serial: { type: "string", default: env("AWS_SERIAL") },
    "state-dir": { type: "string", default: env("AWS_STATE_DIR") ?? ".outpost-aws" },
    count: { type: "string", default: env("AWS_COUNT") ?? "5" },
  },
});

if (!values.url || !values.rule) {
  console.error(
    "Usage: aws_telemetry_demo.ts --url mqtts://<endpoint>:8883 --rule <ingest rule> " +
      "[--cert-store dir] [--claim-cert f --claim-key f --template t --serial s]",
  );
  Deno.exit(2);
}

const provisioning = values["claim-cert"] && values["claim-key"] && values.template
  ? {
    claimCertFile: values["claim-cert"],
    claimKeyFile: values["claim-key"],
    template: values.template,
    parameters: (values.serial ? { SerialNumber: values.serial } : {}) as Record<string, string>,
  }
  : undefined;

const device = new AwsDevice({
  url: values.url,
  certStore: values["cert-store"],
  caFile: values["ca-file"],
  stateDir: values["state-dir"],
  deviceId: values.serial,
  ingestRule: values.rule,
  envelope: {
    assetType: "ID_Cutter",
    senderType: "prinect",
    eventSubtype: "InkConsumptionSummary",
  },
  provisioning,
});

await device.connect();
console.log(`connected as ${device.thingName}`);
console.log("telemetry settings:", JSON.stringify(device.telemetrySettings));

const count = Number(values.count);
for (let i = 0; i < count; i++) {
  await device.publish("reference-client-test", {
    productiondataacquisition: { message: [{ deviceid: "6000", sequence: i }] },
  });
}
// Wait (at most 30 s) until AWS acknowledged every event, as the seed waits for its publishes.
const deadline = Date.now() + 30_000;
while (device.pending() > 0 && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
console.log(`published ${count} event(s); ${device.pending()} still queued`);
console.log("reported:", JSON.stringify(device.shadow().reported));
await device.disconnect();
