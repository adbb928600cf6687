/**
 * The registry of cloud types: the only list of them. The configuration's
 * `[clouds.<name>]` union, its error messages, the `OUTPOST_*` overrides and
 * the agent's builder all read it. A cloud type is one folder under
 * `actors/` with a `CloudConnector` (actors/cloud/connector.ts), one line
 * below, and a doc page (docs/clouds.md says how).
 *
 * `registerCloud` adds a type at run time (an embedding app's own cloud,
 * or a test's); register before the configuration is parsed.
 */
import { z } from "zod";
import type { CloudConnector, CloudTable } from "./cloud/connector.ts";
import { genericConnector } from "./generic/connector.ts";
import { c8yConnector } from "./c8y/connector.ts";
import { awsConnector } from "./aws/connector.ts";
import { azureConnector } from "./azure/connector.ts";

/** A connector of any table and parts types, as the registry holds them. */
// deno-lint-ignore no-explicit-any
export type AnyCloudConnector = CloudConnector<any, any, any>;
type AnyConnector = AnyCloudConnector;

/** The cloud types Outpost ships with, in the order error messages list them. */
export const BUILT_IN_CLOUDS: readonly AnyConnector[] = [
  genericConnector,
  c8yConnector,
  awsConnector,
  azureConnector,
];

const registry = new Map<string, AnyConnector>(BUILT_IN_CLOUDS.map((c) => [c.type, c]));
let union: { version: number; schema: z.ZodType } | undefined;
let version = 0;

/**
 * Adds a cloud type; throws when its `type` is taken.
 *
 * @example
 * ```ts
 * registerCloud(echoConnector);
 * const config = parseConfig('[clouds.e]\ntype = "echo"\nurl = "mqtt://127.0.0.1:1883"');
 * ```
 */
export function registerCloud<C extends CloudTable, P, T extends CloudTable>(
  connector: CloudConnector<C, P, T>,
): void {
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(connector.type)) {
    throw new TypeError(
      `A cloud type must be 1 to 32 characters from a-z 0-9 _ - starting with a letter, got ${
        JSON.stringify(connector.type)
      }`,
    );
  }
  if (!(connector.schema instanceof z.ZodObject)) {
    throw new TypeError(
      `The schema of cloud type "${connector.type}" must be a zod object schema (z.strictObject)`,
    );
  }
  if (registry.has(connector.type)) {
    throw new Error(`The cloud type "${connector.type}" is already registered`);
  }
  registry.set(connector.type, connector);
  version++;
}

/** Removes a type added by {@link registerCloud} (tests); built-in types stay. */
export function unregisterCloud(type: string): void {
  if (BUILT_IN_CLOUDS.some((c) => c.type === type)) return;
  if (registry.delete(type)) version++;
}

/** The registered cloud types, built-in first. */
export function cloudTypes(): string[] {
  return [...registry.keys()];
}

/** The connector of `type`; throws naming the known types when there is none. */
export function connectorOf(type: string): AnyConnector {
  const connector = registry.get(type);
  if (!connector) {
    throw new Error(`Unknown cloud type "${type}" (known: ${cloudTypes().join(", ")})`);
  }
  return connector;
}

/** One `[clouds.<name>]` table of any registered type, chosen by `type`. */
export function cloudTableSchema(): z.ZodType {
  if (union?.version !== version) {
    const schemas = [...registry.values()].map((c) => c.schema);
    union = {
      version,
      // deno-lint-ignore no-explicit-any
      schema: z.discriminatedUnion("type", schemas as any),
    };
  }
  return union.schema;
}
