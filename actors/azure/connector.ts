/**
 * The Azure IoT cloud (`[clouds.<name>] type = "azure"`: IoT Hub, DPS, IoT
 * Central) as the agent's registry sees it. The builder (mod.ts) loads when
 * a table names it.
 */
import type { CloudConnector } from "../cloud/connector.ts";
import { readPem } from "../cloud/mqtt_config.ts";
import { getLogger } from "../runtime/logging.ts";
import { SUPPORT_METHOD } from "../../protocols/azure_support.ts";
import { type AzureCloudConfig, azureCloudSchema, type AzureTable } from "./config.ts";

/** What `agent.cloud(name).parts` holds for an Azure cloud. */
export interface AzureParts {
  /** The credentials in use (from DPS, the cache or the configuration). */
  credentials: import("./credentials.ts").AzureCredentials;
  /** The device twin. */
  twin: import("./twin.ts").AzureTwin;
}

const log = getLogger("azure");

/** Azure IoT Hub over MQTT, with DPS and IoT Central conventions (PROTOCOLS.md §3). */
export const azureConnector: CloudConnector<AzureCloudConfig, AzureParts, AzureTable> = {
  type: "azure",
  schema: azureCloudSchema,
  serves: { commands: true, desired: true },
  // Azure registers the agent's device id unless the table names another.
  resolve: (cloud, agent) => ({ ...cloud, deviceId: cloud.deviceId ?? agent.deviceId }),
  async build(cloud, ctx) {
    if (ctx.handlers.commands.has(SUPPORT_METHOD)) {
      log.warning(
        "Cloud {cloud}: the onCommand handler {name} is never called: Azure reserves that direct method for support messages",
        { cloud: ctx.name, name: SUPPORT_METHOD },
      );
    }
    const { azureCloud, fileCredentialStorage } = await import("./mod.ts");
    const { azureCommandHandler, azurePropertyHandler } = await import("./agent_handlers.ts");
    const x509 = cloud.certFile === undefined
      ? undefined
      : { cert: (await readPem(cloud.certFile))!, key: (await readPem(cloud.keyFile))! };
    const built = await azureCloud({
      name: ctx.name,
      deviceId: cloud.deviceId,
      idScope: cloud.idScope,
      dpsHost: cloud.dpsHost,
      deviceKey: cloud.deviceKey,
      groupKey: cloud.groupKey,
      x509,
      ca: await readPem(cloud.caFile),
      rejectUnauthorized: !cloud.insecure,
      modelId: cloud.modelId,
      hub: cloud.hub,
      tokenTtlSec: cloud.tokenTtlSec,
      dpsRetryMs: cloud.dpsRetrySec * 1000,
      unreachableConnects: cloud.unreachableConnects,
      unreachableWindowMs: cloud.unreachableWindowSec * 1000,
      keepaliveSec: cloud.keepaliveSec,
      backoff: cloud.backoff,
      storage: fileCredentialStorage(ctx.stateFile(`azure-${ctx.name}.credentials.json`)),
      properties: () => azurePropertyHandler(ctx.handlers),
      commands: () => azureCommandHandler(ctx.handlers, ctx.name),
      support: ctx.support,
      reconnect: () => ctx.send("connection", { type: "reconnect" }),
    });
    const { link, encoder, children, credentials, twin } = built;
    return { link, encoder, children, parts: { credentials, twin } };
  },
};
