/**
 * Outpost: an IoT device agent framework for Deno. Every connection and
 * session is an XState v5 actor under an OTP-style supervisor.
 *
 * @example
 * ```ts
 * import { child, createSystem, supervisor } from "./mod.ts";
 * import { fromPromise } from "xstate";
 *
 * const system = createSystem(supervisor("app", {}, [
 *   child("job", fromPromise(async () => "done"), { restart: "transient" }),
 * ]));
 * await system.start();
 * await system.stop();
 * ```
 * @module
 */
export * from "./actors/runtime/mod.ts";
