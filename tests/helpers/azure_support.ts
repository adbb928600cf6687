/**
 * The support modules with Azure IoT Hub as their remote side: an agent
 * whose one cloud is the Azure emulator's hub (a device key, no DPS), the
 * local-API bridge that apps connect to, and the supporter as a back end
 * sees IoT Hub: `outpost.support` direct methods in, device-to-cloud
 * messages with an `outpostSupport` property out (docs/support.md, "On
 * Azure IoT Hub").
 */
import { createAgent } from "../../actors/agent/agent.ts";
import type { Agent } from "../../actors/agent/agent.ts";
import { parseConfig } from "../../actors/agent/config.ts";
import { AgentConnection } from "../../actors/support/agent_connection.ts";
import { type AzureEmulator, startAzureEmulator } from "./azure_emulator.ts";
import { startSupportBridge, type SupportBridge } from "./support_local_bridge.ts";
import { testPki } from "./tls.ts";

/** The device id of every Azure support test agent. */
export const DEVICE = "gw-support";
const KEY = btoa("a-device-known-to-the-hub-012345");

/** Everything an Azure support test drives. */
export interface AzureSupportSetup {
  agent: Agent;
  emulator: AzureEmulator;
  bridge: SupportBridge;
  /** A started AgentConnection for app `clientId`, Connected. */
  app(clientId: string): Promise<AgentConnection>;
  /** Invokes `outpost.support` with `{topic: suffix, payload}`; resolves with the device's answer. */
  send(suffix: string, payload?: unknown): Promise<{ status: number; payload: unknown }>;
  /** The `n`th (default 1st) support message with `outpostSupport = suffix`, its payload parsed. */
  sent(suffix: string, n?: number): Promise<Record<string, unknown>>;
  teardown(): Promise<void>;
}

/**
 * Starts the world; `support` is TOML under `[support]`, `onAgent` runs
 * before the agent starts (handlers).
 */
export async function azureSupportSetup(
  options: { support?: string; onAgent?: (agent: Agent) => void } = {},
): Promise<AzureSupportSetup> {
  const pki = await testPki();
  const emulator = await startAzureEmulator({ pki, hubDevices: { [DEVICE]: KEY } });
  const stateDir = await Deno.makeTempDir({ prefix: "outpost-azure-support-" });
  const config = parseConfig(
    `[agent]
deviceId = "${DEVICE}"
stateDir = "${stateDir}"

[telemetry.system]
enabled = false

[support]
${options.support ?? ""}

[clouds.hub]
type = "azure"
hub = "${emulator.hub}"
deviceKey = "${KEY}"
caFile = "${pki.ca.certFile}"

[clouds.hub.backoff]
minMs = 20
maxMs = 200
`,
    { source: "azure support test", env: {} },
  );
  const agent = createAgent(config, { control: false });
  options.onAgent?.(agent);
  const apps: AgentConnection[] = [];
  let bridge: SupportBridge | undefined;
  const teardown = async () => {
    for (const app of apps) await app.stop();
    await bridge?.stop();
    await agent.stop();
    await emulator.stop();
    await Deno.remove(stateDir, { recursive: true });
  };
  try {
    await agent.start();
    await agent.connected();
    bridge = await startSupportBridge(() => agent.localApiModules());
  } catch (error) {
    await teardown();
    throw error;
  }
  const support = (suffix: string) => (m: { properties: Record<string, string> }) =>
    m.properties.outpostSupport === suffix;
  return {
    agent,
    emulator,
    bridge,
    async app(clientId) {
      const app = new AgentConnection({ url: bridge.url, clientId, ...bridge.tls });
      apps.push(app);
      app.start();
      await app.whenConnected();
      return app;
    },
    send: (suffix, payload) =>
      emulator.invoke(DEVICE, "outpost.support", { topic: suffix, payload }),
    async sent(suffix, n = 1) {
      const message = await emulator.waitForMessage(`support message ${suffix}`, support(suffix), {
        n,
      });
      return JSON.parse(message.payload);
    },
    teardown,
  };
}
