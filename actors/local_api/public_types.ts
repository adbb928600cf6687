/**
 * The local API's protocol types that the public API names: error codes
 * and metric shapes (PROTOCOLS.md §4).
 *
 * @module
 */
export { LocalApiErrorCode } from "../../protocols/local_api_errors.ts";
export type {
  MetricDefinition,
  MetricUpdate,
  ValueType,
} from "../../protocols/local_api_payloads.ts";
