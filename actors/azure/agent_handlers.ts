/**
 * The agent's handlers (`agent.onDesired`, `agent.onCommand`) as an Azure
 * cloud's property and command handlers, so an app answers the same
 * whichever cloud asked.
 */
import type { HandlerRegistry } from "../cloud/handlers.ts";
import type { AzureCommandHandler } from "./commands.ts";
import type { PropertyHandler } from "./twin.ts";

/**
 * A writable property goes to the desired-state handlers as a one-key
 * document (`{name: value}`, or `{component: {name: value}}`); it is
 * acknowledged (200) when a handler applied it. Without handlers, nothing is
 * acknowledged.
 */
export function azurePropertyHandler(registry: HandlerRegistry): PropertyHandler | undefined {
  if (registry.desired.size === 0) return undefined;
  return async (change) => {
    const key = change.component ?? change.name;
    const document = change.component === undefined
      ? { [change.name]: change.value }
      : { [change.component]: { [change.name]: change.value } };
    const applied = await registry.applyDesired(document, change.version);
    return Object.hasOwn(applied, key);
  };
}

/**
 * A command goes to the handler of its full name, else of its command name
 * (`thermostat*reboot` → `reboot`); the return value is the 200 body.
 */
export function azureCommandHandler(registry: HandlerRegistry, cloud: string): AzureCommandHandler {
  return async (command) => {
    const handler = registry.commands.get(command.name) ?? registry.commands.get(command.command);
    if (!handler) return undefined;
    const payload = await handler(command.payload, {
      name: command.name,
      requestId: command.requestId,
      cloud,
    });
    return { status: 200, payload: payload ?? {} };
  };
}
