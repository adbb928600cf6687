/**
 * The agent as an embedding app sees it: `createAgent(config)`, its
 * configuration loader, and the handler types.
 */
export { type Agent, type AgentOptions, type AgentStatus, createAgent, VERSION } from "./agent.ts";
export {
  type CloudConfig,
  type Config,
  ConfigError,
  type ConfigIssue,
  loadConfig,
  parseConfig,
  resolveConfig,
} from "./config.ts";
export { cloudTypes, registerCloud } from "../clouds.ts";
export type {
  AgentFacts,
  CloudBuild,
  CloudConnector,
  CloudContext,
  CloudServes,
  CloudTable,
  TableSchema,
  TunnelHost,
} from "../cloud/connector.ts";
export type { CloudEncoder, EncodedRecord } from "../cloud/encoder.ts";
export {
  type CommandContext,
  type CommandHandler,
  type DesiredHandler,
  HandlerRegistry,
} from "../cloud/handlers.ts";
export type { SupportChannel, SupportPort } from "../cloud/support.ts";

export type { CloudHandle } from "./clouds.ts";
export type { ConsoleSection } from "../console/config.ts";
export type {
  AgentSection,
  AwsCloudConfig,
  AwsEnvelope,
  AwsProvisioning,
  AzureCloudConfig,
  BrokerSection,
  C8yBootstrap,
  C8yCloudConfig,
  C8yHardware,
  C8yRestart,
  C8yShell,
  ConnectionBackoff,
  LocalApiSection,
  LogSection,
  MqttCloudConfig,
  MqttEndpointConfig,
  OutboxSection,
  RemoteAccessSection,
  SupportFeature,
  SupportSection,
} from "./config_types.ts";
