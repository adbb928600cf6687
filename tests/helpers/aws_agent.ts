/**
 * An Outpost agent with one AWS cloud "aws" wired to the emulator of
 * aws_emulator.ts: fleet provisioning with the test PKI's client
 * certificate as the claim, template "fleet", serial "dev-1" (so the thing
 * is "thing-dev-1"), Basic Ingest rule "telemetry".
 */
import { type Agent, createAgent } from "../../actors/agent/agent.ts";
import { parseConfig } from "../../actors/agent/config.ts";
import type { AwsParts } from "../../actors/aws/mod.ts";
import type { AwsEmulator } from "./aws_emulator.ts";

/** The thing name the emulator gives device "dev-1". */
export const THING = "thing-dev-1";

/** TOML of the agent; `cloud` adds keys to `[clouds.aws]`. */
export function awsConfigText(emulator: AwsEmulator, stateDir: string, cloud = ""): string {
  const { pki } = emulator;
  return `
[agent]
deviceId = "dev-1"
stateDir = "${stateDir}"

[telemetry.system]
enabled = false

[clouds.aws]
type = "aws"
url = "${emulator.url}"
caFile = "${pki.ca.certFile}"
ingestRule = "telemetry"
${cloud}

[clouds.aws.provisioning]
enabled = true
claimCertFile = "${pki.client.certFile}"
claimKeyFile = "${pki.client.keyFile}"
template = "fleet"
parameters = { SerialNumber = "dev-1" }

[clouds.aws.backoff]
minMs = 20
maxMs = 200
`;
}

/** Builds and starts an agent on the emulator. */
export async function startAwsAgent(
  emulator: AwsEmulator,
  stateDir: string,
  cloud = "",
): Promise<{ agent: Agent; aws: AwsParts }> {
  const config = parseConfig(awsConfigText(emulator, stateDir, cloud), {
    source: "aws test",
    env: {},
  });
  const agent = createAgent(config, { control: false });
  await agent.start();
  return { agent, aws: agent.cloud<AwsParts>("aws")!.parts };
}
