/**
 * What a Cumulocity device says on every connect (PROTOCOLS.md §1), in
 * order: `100` (the device), `110` (its hardware), `114` (the operations it
 * serves now), `117` (the required interval, when configured), `150` (the
 * remote access protocols, with remote access) and `500` (the operations
 * pending). Pure: the session (session.ts) publishes these lines and logs
 * the operations announced.
 */
import {
  createDevice,
  FRAGMENTS,
  hardware,
  pendingOperations,
  remoteAccessProtocols,
  requiredInterval,
  supportedOperations,
} from "../../protocols/c8y_messages.ts";
import { SUPPORT_FRAGMENT } from "../../protocols/c8y_support.ts";
import type { C8yCloudConfig } from "./config.ts";

/** What a session serves besides its table's switches, for the `114` line. */
export interface Served {
  /** Remote access is on. */
  remoteAccess: boolean;
  /** An `onDesired` handler is registered: `c8y_Configuration`. */
  desired: boolean;
  /** The command names with an `onCommand` handler. */
  commands: ReadonlySet<string>;
  /** Support is on and the support modules are there: `outpost_Support`. */
  support: boolean;
}

/** The lines a device publishes on every connect, in order. */
export function announcementLines(config: C8yCloudConfig, served: Served): string[] {
  const lines = [
    createDevice(config.deviceName, config.deviceType),
    hardware(config.serial, config.hardware.model, config.hardware.revision),
    supportedOperations(enabledOperations(config, served)),
  ];
  // 0 is "not sent": the platform reads an interval <= 0 as "no monitoring" or maintenance.
  if (config.requiredIntervalMin > 0) lines.push(requiredInterval(config.requiredIntervalMin));
  if (served.remoteAccess) lines.push(remoteAccessProtocols());
  // With a clean session, operations created while the device was away wait for this.
  lines.push(pendingOperations());
  return lines;
}

/**
 * The fragments announced in `114`: what would be served now. A configured
 * command fragment is announced while its command has a handler.
 */
export function enabledOperations(config: C8yCloudConfig, served: Served): string[] {
  const commands = Object.entries(config.operations.commands)
    .filter(([, name]) => served.commands.has(name))
    .map(([fragment]) => fragment);
  return [
    ...(config.restart.enabled ? [FRAGMENTS.restart] : []),
    ...(config.shell.enabled ? [FRAGMENTS.shell] : []),
    ...(served.desired ? [FRAGMENTS.configuration] : []),
    ...(served.remoteAccess ? [FRAGMENTS.remoteAccess] : []),
    ...commands,
    ...(served.support ? [SUPPORT_FRAGMENT] : []),
  ];
}
