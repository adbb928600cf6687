/**
 * An agent wired to a test broker, with its state in a temporary directory.
 */
import { type Agent, createAgent } from "../../actors/agent/agent.ts";
import { parseConfig } from "../../actors/agent/config.ts";

/** Options of {@link testAgent}. */
export interface TestAgentOptions {
  /** Broker URL of the cloud named "test" (or `urls`). */
  url?: string;
  /** Brokers of the cloud named "test" to fail over between, instead of `url`. */
  urls?: string[];
  /** State directory; a new temporary one when missing. */
  stateDir?: string;
  deviceId?: string;
  maxRecords?: number;
  /** Extra TOML appended to the generated configuration. */
  extra?: string;
}

/** Builds (does not start) an agent whose one cloud is `test` at `url` (or `urls`). */
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
${options.urls ? `urls = ${JSON.stringify(options.urls)}` : `url = "${options.url}"`}

[clouds.test.backoff]
minMs = 20
maxMs = 200
${options.extra ?? ""}
`,
    { source: "test agent", env: {} },
  );
  return { agent: createAgent(config, { control: false }), stateDir };
}
