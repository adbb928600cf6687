/**
 * The public face of the remote-support modules: `AgentConnection` for apps
 * on the device (with its four modules and their types), and the local-API
 * module contract the support API is served through.
 *
 * @example An app that answers access requests
 * ```ts
 * const connection = new AgentConnection({ url: "mqtts://127.0.0.1:18884", ca, cert, key, clientId });
 * connection.accessControl.setCallbacks({
 *   accessRequest: (feature) => connection.accessControl.acceptAccessRequest(feature),
 * });
 * connection.start();
 * ```
 * @module
 */
export {
  AgentConnection,
  type AgentConnectionOptions,
  AgentRequestError,
  type ConnectionStatus,
} from "./agent_connection.ts";
export {
  type AccessControlCallbacks,
  AccessControlModule,
  type ChatCallbacks,
  type ChatInfo,
  type ChatMessage,
  ChatModule,
  type InstantSupportCallbacks,
  InstantSupportModule,
  type ModuleLink,
  type RunningSession,
  type SessionCallbacks,
  type SessionData,
  SessionManagementModule,
} from "./agent_modules.ts";
export {
  type Access,
  ACCESS_LEVELS,
  CASE_STATES,
  type CaseState,
  CHAT_ENDPOINT_TYPES,
  type ChatEndpointType,
  type Feature,
  FEATURES,
  INSTANT_SUPPORT_ERRORS,
  type InstantSupportError,
  type SendMessageResult,
  SUPPORT_MODULES,
  type SupportModuleName,
} from "../../protocols/support_api.ts";
export type { InstantSupportRequest } from "../../protocols/support_instant.ts";
export type { LocalApiModule, LocalApiOutput, LocalApiRequest } from "../local_api/module.ts";
