/**
 * An agent wired to a test broker, with its state in a temporary directory.
 */
import { type Agent, createAgent } from "../../actors/agent/agent.ts";
import { parseConfig } from "../../actors/agent/config.ts";

/** Options of {@link testAgent}. */
export interface TestAgentOptions {
  /** Broker URL of the cloud named "test". */
  url: string;
  /** State directory; a new temporary one when missing. */
  stateDir?: string;
  deviceId?: string;
  maxRecords?: number;
  /** Extra TOML appended to the generated configuration. */
  extra?: string;
}

/** Builds (does not start) an agent whose one cloud is `test` at `url`. */
export async function testAgent(
  options: TestAgentOptions,
): Promise<{ agent: Agent; stateDir: string }> {
  const stateDir = options.stateDir ?? await Deno.makeTempDir({ prefix: "outpost-agent-" });
  const config = parseConfig(
    `
[agent]
deviceId = "${options.deviceId ?? "dev-1"}"
stateDir = "${stateDir}"

[outbox]
maxRecords = ${options.maxRecords ?? 100_000}

[telemetry.system]
enabled = false

[clouds.test]
type = "mqtt"
url = "${options.url}"

[clouds.test.backoff]
minMs = 20
maxMs = 200
${options.extra ?? ""}
`,
    { source: "test agent", env: {} },
  );
  return { agent: createAgent(config, { control: false }), stateDir };
}
