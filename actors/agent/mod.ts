/**
 * The agent as an embedding app sees it: `createAgent(config)`, its
 * configuration loader, and the handler types.
 */
export { type Agent, type AgentOptions, type AgentStatus, createAgent, VERSION } from "./agent.ts";
export {
  CLOUD_TYPES,
  type CloudConfig,
  type Config,
  ConfigError,
  type ConfigIssue,
  loadConfig,
  parseConfig,
} from "./config.ts";
export type { CommandContext, CommandHandler, DesiredHandler } from "./handlers.ts";
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
