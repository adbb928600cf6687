/**
 * `outpost fleet`: N simulated devices in one process, for load-testing a
 * backend. Each device is a real agent subtree: its own identity and
 * connection, built by the same cloud connectors as `outpost run`, its own
 * outbox queue and dense seqs, desired-state and command handlers, and a
 * telemetry generator. docs/fleet.md is the guide.
 *
 * ```
 * fleet.toml ─▶ loadFleetConfig ─▶ createFleet ─▶ fleet (rest_for_one)
 *                                                ├── store
 *                                                ├── devices ── device:<id> … (ramp adds them)
 *                                                ├── ramp
 *                                                └── churn
 * ticks (one wheel) ─▶ device router ─seq─▶ Outbox (one db, queue <cloud>/<id>) ─▶ drain ─▶ broker
 * ```
 *
 * @example
 * ```ts
 * import { createFleet, loadFleetConfig, SummaryPrinter } from "./actors/fleet/mod.ts";
 *
 * const fleet = createFleet(await loadFleetConfig("examples/fleet.toml", { devices: 100 }));
 * await fleet.start();
 * const printer = new SummaryPrinter(() => fleet.stats(), { everyMs: 5000 });
 * printer.start();
 * // … later
 * printer.final(await fleet.stop());
 * ```
 *
 * @module
 */
export {
  deviceClouds,
  deviceIdOf,
  type FleetConfig,
  type FleetOverrides,
  type FleetSection,
  loadFleetConfig,
  parseFleetConfig,
} from "./config.ts";
export { createFleet, type Fleet, type FleetOptions } from "./fleet.ts";
export { DEVICES_PATH, type SimDevice } from "./device.ts";
export {
  type FleetStats,
  formatFinal,
  formatSummary,
  type SummaryOutput,
  SummaryPrinter,
  type SummaryPrinterOptions,
} from "./summary.ts";
