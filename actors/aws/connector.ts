/**
 * The AWS IoT Core cloud (`[clouds.<name>] type = "aws"`) as the agent's
 * registry sees it. The builder (mod.ts) loads when a table names it.
 */
import type { CloudConnector } from "../cloud/connector.ts";
import { brokerUrls, readPem } from "../cloud/mqtt_config.ts";
import { type AwsCloudConfig, awsCloudSchema, type AwsTable } from "./config.ts";
import type { AwsParts } from "./mod.ts";

export type { AwsParts } from "./mod.ts";

/**
 * AWS IoT Core: mTLS, fleet provisioning, device shadow, Basic Ingest (PROTOCOLS.md §2);
 * `onDesired` through the classic shadow, `onCommand` and support on Outpost's topics
 * (with `commands = true`, `support = true`; docs/aws.md).
 */
export const awsConnector: CloudConnector<AwsCloudConfig, AwsParts, AwsTable> = {
  type: "aws",
  schema: awsCloudSchema,
  serves: { commands: true, desired: true },
  // Every endpoint in `urls` reaches the same AWS account and region (docs/failover.md).
  resolve: (cloud) => ({ ...cloud, ...brokerUrls(cloud) }),
  async build(cloud, ctx) {
    const { awsCloud } = await import("./mod.ts");
    const provisioning = cloud.provisioning.enabled ? cloud.provisioning : undefined;
    const built = await awsCloud({
      name: ctx.name,
      config: cloud,
      deviceId: ctx.deviceId,
      certStore: cloud.certStore ?? ctx.stateFile(`aws-${ctx.name}`),
      db: ctx.db,
      pems: {
        ca: await readPem(cloud.caFile),
        cert: await readPem(cloud.certFile),
        key: await readPem(cloud.keyFile),
        claimCert: await readPem(provisioning?.claimCertFile),
        claimKey: await readPem(provisioning?.claimKeyFile),
      },
      handlers: ctx.handlers,
      support: ctx.support,
    });
    const { link, encoder, children, identity, shadows, gate } = built;
    return { link, encoder, children, parts: { identity, shadows, gate } };
  },
};
