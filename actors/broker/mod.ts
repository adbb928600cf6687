/**
 * The embedded MQTT broker (aedes), as a function for tests and apps and as
 * an actor for the agent tree.
 *
 * @example
 * ```ts
 * import { startEmbeddedBroker } from "./mod.ts";
 *
 * const broker = await startEmbeddedBroker({ port: 0 });
 * await broker.close();
 * ```
 * @module
 */
export {
  type EmbeddedBroker,
  embeddedBroker,
  type EmbeddedBrokerOptions,
  isLoopbackHost,
  startEmbeddedBroker,
} from "./embedded_broker.ts";
