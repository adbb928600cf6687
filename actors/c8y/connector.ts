/**
 * The Cumulocity cloud (`[clouds.<name>] type = "c8y"`) as the agent's
 * registry sees it. The builder (mod.ts) loads when a table names it.
 */
import type { CloudConnector } from "../cloud/connector.ts";
import { brokerUrls, mqttConnectionOptions } from "../cloud/mqtt_config.ts";
import { type C8yCloudConfig, c8yCloudSchema, type C8yTable } from "./config.ts";

/** Cumulocity IoT over MQTT SmartREST 2.0 with Cloud Remote Access (PROTOCOLS.md §1). */
export const c8yConnector: CloudConnector<C8yCloudConfig, Record<never, never>, C8yTable> = {
  type: "c8y",
  schema: c8yCloudSchema,
  // Commands as custom operations, desired state as c8y_Configuration (docs/c8y.md).
  serves: { commands: true, desired: true },
  // Cumulocity knows a device by its serial: the client id and the device's name follow it.
  resolve(cloud, agent) {
    const serial = cloud.serial ?? agent.deviceId;
    return {
      ...cloud,
      ...brokerUrls(cloud),
      serial,
      clientId: cloud.clientId || `d:${serial}`,
      deviceName: cloud.deviceName ?? `Outpost ${serial}`,
    };
  },
  async build(cloud, ctx) {
    const { c8yCloud } = await import("./mod.ts");
    // The login (<tenant>/<user>, stored or registered credentials, or none with a
    // certificate) is the c8y subtree's to decide, through the connection's hook.
    const { username: _, password: __, ...connection } = await mqttConnectionOptions(cloud);
    const built = await c8yCloud({
      name: ctx.name,
      config: cloud,
      connection,
      credentialsFile: ctx.stateFile(`c8y-${ctx.name}.credentials.json`),
      tunnels: ctx.tunnels,
      handlers: ctx.handlers,
      configurationFile: ctx.stateFile(`c8y-${ctx.name}.configuration.json`),
      support: ctx.support,
    });
    return { link: built.link, encoder: built.encoder, children: built.children, parts: {} };
  },
};
