/**
 * `@outpost/outpost/testing`: what an embedding app's own tests need to run
 * Outpost for real on loopback: the embedded MQTT broker (port 0 takes a
 * free one) and the runtime's in-memory snapshot store.
 * Time is XState's `SimulatedClock`, passed as `createSystem`'s `clock`.
 *
 * @example
 * ```ts
 * import { startEmbeddedBroker } from "./testing.ts";
 * import { createAgent, parseConfig } from "../../mod.ts";
 *
 * const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0 });
 * const agent = createAgent(parseConfig(
 *   `[clouds.test]\ntype = "mqtt"\nurl = "mqtt://127.0.0.1:${broker.port}"`,
 * ));
 * await agent.start();
 * await agent.stop();
 * await broker.close();
 * ```
 *
 * @module
 */
export {
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  startEmbeddedBroker,
} from "../broker/embedded_broker.ts";
export { memorySnapshotStore } from "../runtime/spec.ts";
