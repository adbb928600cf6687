/**
 * The `commands` child of an Azure cloud: direct methods and IoT Central's
 * offline commands (PROTOCOLS.md §3).
 *
 * Owns: nothing beyond its subscriptions. Receives: requests on
 * `$iothub/methods/POST/<name>/?$rid=…` (`comp*cmd` split into component
 * and command) and cloud-to-device messages on
 * `devices/<id>/messages/devicebound/…` (a `method-name` property makes one
 * an offline command). Sends: the handler's answer on
 * `$iothub/methods/res/<status>/?$rid=…` with a JSON body; 501 with a
 * message when no handler knows the command, 500 when the handler threw,
 * 400 when the payload is not JSON. Offline commands get no response (the
 * protocol has none). Supervised by: `cloud:<name>` (rest_for_one).
 */
import { fromCallback } from "xstate";
import { holdSubscriptions, type MqttLink } from "../mqtt/link.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import {
  AZURE_TOPICS,
  c2dFilter,
  methodResponseTopic,
  parseC2dTopic,
  parseMethodTopic,
  splitCommandName,
} from "../../protocols/azure_topics.ts";

/** A command as the app receives it. */
export interface AzureCommand {
  /** The full name (`comp*cmd` for a component's command). */
  name: string;
  /** The component, if the name has one. */
  component?: string;
  /** The command within the component. */
  command: string;
  /** The parsed JSON payload (null when empty). */
  payload: unknown;
  /** The method's `$rid`, or the message id of an offline command. */
  requestId: string;
  /** True for an IoT Central offline command (cloud-to-device; nobody waits for an answer). */
  offline: boolean;
}

/** The answer to a direct method. */
export interface AzureCommandResult {
  /** Default 200. */
  status?: number;
  /** JSON body; default `{}`. */
  payload?: unknown;
}

/** Answers a command; `undefined` means "no such command" (501). */
export type AzureCommandHandler = (
  command: AzureCommand,
) => AzureCommandResult | undefined | Promise<AzureCommandResult | undefined>;

const log = getLogger("azure");
const text = new TextDecoder();

/** The `commands` child. */
export function azureCommands(
  link: MqttLink,
  options: { cloud: string; deviceId: string; handler: () => AzureCommandHandler | undefined },
): ActorLogic {
  const { cloud } = options;
  async function run(command: AzureCommand): Promise<{ status: number; payload: unknown }> {
    const handler = options.handler();
    try {
      const result = handler ? await handler(command) : undefined;
      if (result === undefined) {
        return { status: 501, payload: { message: `Unknown command "${command.name}"` } };
      }
      return { status: result.status ?? 200, payload: result.payload ?? {} };
    } catch (error) {
      log.warn("Cloud {cloud}: command {name} failed: {error}", {
        cloud,
        name: command.name,
        error: (error as Error).message,
      });
      return { status: 500, payload: { message: (error as Error).message } };
    }
  }

  async function onMethod(topic: string, payload: Uint8Array): Promise<void> {
    let request;
    try {
      request = parseMethodTopic(topic);
    } catch (error) {
      log.warn("Cloud {cloud}: unreadable method topic: {error}", {
        cloud,
        error: (error as Error).message,
      });
      return;
    }
    if (!request) return;
    let answer: { status: number; payload: unknown };
    let body: unknown = null;
    const raw = text.decode(payload);
    try {
      body = raw.trim() === "" ? null : JSON.parse(raw);
    } catch {
      answer = {
        status: 400,
        payload: { message: `The payload of "${request.name}" is not JSON` },
      };
    }
    answer ??= await run({
      name: request.name,
      component: request.component,
      command: request.command,
      payload: body,
      requestId: request.rid,
      offline: false,
    });
    log.info("Cloud {cloud}: command {name} answered {status}", {
      cloud,
      name: request.name,
      status: answer.status,
    });
    await link.publish(
      methodResponseTopic(answer.status, request.rid),
      JSON.stringify(answer.payload),
      { qos: 0 },
    ).catch((error) =>
      log.warn("Cloud {cloud}: cannot answer command {name}: {error}", {
        cloud,
        name: request.name,
        error: (error as Error).message,
      })
    );
  }

  async function onCloudMessage(topic: string, payload: Uint8Array): Promise<void> {
    let properties;
    try {
      properties = parseC2dTopic(options.deviceId, topic);
    } catch (error) {
      log.warn("Cloud {cloud}: unreadable cloud-to-device topic: {error}", {
        cloud,
        error: (error as Error).message,
      });
      return;
    }
    const method = properties?.["method-name"];
    if (!properties || !method) return;
    const raw = text.decode(payload);
    let body: unknown = raw;
    try {
      body = raw.trim() === "" ? null : JSON.parse(raw);
    } catch {
      // An offline command may carry plain text; it is passed on as a string.
    }
    const result = await run({
      ...splitCommandName(method),
      payload: body,
      requestId: properties["$.mid"] ?? "",
      offline: true,
    });
    log.info("Cloud {cloud}: offline command {name} handled with {status}", {
      cloud,
      name: method,
      status: result.status,
    });
  }

  return fromCallback(() =>
    holdSubscriptions(link, [
      [AZURE_TOPICS.methods, (m) => void onMethod(m.topic, m.payload)],
      [c2dFilter(options.deviceId), (m) => void onCloudMessage(m.topic, m.payload)],
    ])
  );
}
