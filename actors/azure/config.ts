/**
 * Keys of `[clouds.<name>] type = "azure"` that belong to the Azure
 * connector's own policies, as zod fields the azure table in
 * actors/agent/config_clouds.ts spreads into its object (docs/azure.md).
 */
import { int } from "../agent/config_fields.ts";
import { UNREACHABLE_DEFAULTS } from "./credentials.ts";

/**
 * When a hub that does not answer sends the cloud back to DPS:
 * `unreachableConnects` failed connects within `unreachableWindowSec`.
 *
 * @example
 * ```ts
 * const azureCloud = z.strictObject({ type: z.literal("azure"), ...azureUnreachableFields });
 * ```
 */
export const azureUnreachableFields = {
  unreachableConnects: int(1, 10_000).default(UNREACHABLE_DEFAULTS.connects),
  unreachableWindowSec: int(1, 604_800).default(UNREACHABLE_DEFAULTS.windowMs / 1000),
};
