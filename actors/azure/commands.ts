/**
 * The `commands` child of an Azure cloud: direct methods and IoT Central's
 * offline commands (PROTOCOLS.md §3).
 *
 * Owns: nothing beyond its subscriptions. Receives: requests on
 * `$iothub/methods/POST/<name>/?$rid=…` (`comp*cmd` split into component
 * and command) and cloud-to-device messages on
 * `devices/<id>/messages/devicebound/…` (a `method-name` property makes one
 * an offline command). Sends: one answer per request on
 * `$iothub/methods/res/<status>/?$rid=…` with a JSON body: the first of the
 * handler's `respond` call (published at once, while the handler may go on
 * working), its return value, or 500 when it threw; 501 with a message when
 * no handler knows the command, 400 when the payload is not JSON. Whatever
 * the handler does after it answered (a throw, a second answer) is logged,
 * never sent. Offline commands get no response (the protocol has none).
 * Supervised by: `cloud:<name>` (rest_for_one).
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

/**
 * Sends a command's answer now, before the handler returns; the first answer
 * is the only one (later ones are logged and dropped). Resolves once it is
 * published; never rejects (a failed publish is logged).
 */
export type AzureCommandResponder = (result: AzureCommandResult) => Promise<void>;

/**
 * Answers a command: with `respond(...)` as soon as it knows the answer, or
 * with its return value; `undefined` without a `respond` call means "no such
 * command" (501). A throw before any answer is a 500.
 */
export type AzureCommandHandler = (
  command: AzureCommand,
  respond: AzureCommandResponder,
) => AzureCommandResult | undefined | Promise<AzureCommandResult | undefined>;

interface Answer {
  status: number;
  payload: unknown;
}

const log = getLogger("azure");
const text = new TextDecoder();

/** The `commands` child. */
export function azureCommands(
  link: MqttLink,
  options: { cloud: string; deviceId: string; handler: () => AzureCommandHandler | undefined },
): ActorLogic {
  const { cloud } = options;
  /** A responder that hands the first answer to `send` and drops (and logs) later ones. */
  function firstAnswer(command: AzureCommand, send: (answer: Answer) => Promise<void>) {
    const state: { sent?: Answer; respond: AzureCommandResponder } = {
      respond: (result) => {
        if (state.sent) {
          log.warn(
            "Cloud {cloud}: command {name} was already answered {status}; ignoring a second answer",
            { cloud, name: command.name, status: state.sent.status },
          );
          return Promise.resolve();
        }
        state.sent = { status: result.status ?? 200, payload: result.payload ?? {} };
        return send(state.sent);
      },
    };
    return state;
  }

  /** Runs the handler: its `respond` call, else its result, else 501 / 500, goes to `send` once. */
  async function run(command: AzureCommand, send: (answer: Answer) => Promise<void>) {
    const answer = firstAnswer(command, send);
    try {
      const handler = options.handler();
      const result = handler ? await handler(command, answer.respond) : undefined;
      if (result !== undefined) await answer.respond(result);
      else if (!answer.sent) {
        await answer.respond({
          status: 501,
          payload: { message: `Unknown command "${command.name}"` },
        });
      }
    } catch (error) {
      const message = (error as Error).message;
      // The cloud may have its answer already; an error after it cannot change it.
      log.warn("Cloud {cloud}: command {name} failed{after}: {error}", {
        cloud,
        name: command.name,
        after: answer.sent ? ` after it answered ${answer.sent.status}` : "",
        error: message,
      });
      if (!answer.sent) await answer.respond({ status: 500, payload: { message } });
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
    const raw = text.decode(payload);
    const send = (answer: Answer) => {
      log.info("Cloud {cloud}: command {name} answered {status}", {
        cloud,
        name: request.name,
        status: answer.status,
      });
      return link.publish(
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
    };
    let body: unknown;
    try {
      body = raw.trim() === "" ? null : JSON.parse(raw);
    } catch {
      return send({
        status: 400,
        payload: { message: `The payload of "${request.name}" is not JSON` },
      });
    }
    await run({
      name: request.name,
      component: request.component,
      command: request.command,
      payload: body,
      requestId: request.rid,
      offline: false,
    }, send);
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
    // Nobody waits for an offline command's answer: it is only logged.
    await run({
      ...splitCommandName(method),
      payload: body,
      requestId: properties["$.mid"] ?? "",
      offline: true,
    }, (answer) => {
      log.info("Cloud {cloud}: offline command {name} handled with {status}", {
        cloud,
        name: method,
        status: answer.status,
      });
      return Promise.resolve();
    });
  }

  return fromCallback(() =>
    holdSubscriptions(link, [
      [AZURE_TOPICS.methods, (m) => void onMethod(m.topic, m.payload)],
      [c2dFilter(options.deviceId), (m) => void onCloudMessage(m.topic, m.payload)],
    ])
  );
}
