/**
 * The `commands` child of an AWS cloud: `agent.onCommand` handlers on
 * Outpost's command topics, carried by AWS IoT Core like any other topic
 * (docs/aws.md, "Commands"; the answers follow PROTOCOLS.md §0).
 *
 * ```
 * cloud:<name>       rest_for_one
 * ├── connection
 * ├── provisioning
 * ├── shadow:<name>
 * ├── commands       ← this actor (with `commands = true`)
 * ├── support
 * └── drain
 * ```
 *
 * Owns: the subscription to `<prefix>/<thing>/commands/+/+`, made once the
 * thing name is known (after provisioning). Receives: commands. Sends: one
 * answer per command on `<prefix>/<thing>/responses/<name>/<requestId>`,
 * QoS 1, not retained. Supervised by: its cloud's supervisor. A handler's
 * failure is an answer (500), never a crash.
 */
import { fromCallback } from "xstate";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import { holdSubscriptions, type MqttLink } from "../mqtt/link.ts";
import type { HandlerRegistry } from "../cloud/handlers.ts";
import { outpostTopics, parseCommandTopic } from "../../protocols/outpost_topics.ts";
import { answerCommand, encodeAnswer } from "../../protocols/outpost_commands.ts";

/** What the `commands` child needs. */
export interface AwsCommandsOptions {
  /** The cloud's name, for logs and the handlers' context. */
  cloud: string;
  link: MqttLink;
  /** The agent's handlers; the one of a command's name answers it. */
  handlers: HandlerRegistry;
  /** `topicPrefix`: commands arrive on `<prefix>/<thing>/commands/…`. */
  prefix: string;
  /** The thing name, once the device has an identity. */
  thingName: () => Promise<string>;
}

const log = getLogger("aws");

/**
 * The `commands` child.
 *
 * @example
 * ```ts
 * child("commands", awsCommands({ cloud: "aws", link, handlers, prefix: "outpost", thingName }));
 * ```
 */
export function awsCommands(options: AwsCommandsOptions): ActorLogic {
  return fromCallback(() => {
    let release: (() => void) | undefined;
    let stopped = false;
    options.thingName().then((thing) => {
      if (stopped) return;
      const topics = outpostTopics(thing, options.prefix);
      release = holdSubscriptions(options.link, [
        [topics.commands, (m) => void answer(options, topics, m.topic, m.payload)],
      ]);
      log.debug("Cloud {cloud}: serving commands on {filter}", {
        cloud: options.cloud,
        filter: topics.commands,
      });
    }, (error: Error) =>
      log.warn("Cloud {cloud}: no commands without a thing name: {error}", {
        cloud: options.cloud,
        error: error.message,
      }));
    return () => {
      stopped = true;
      release?.();
    };
  }) as unknown as ActorLogic;
}

async function answer(
  options: AwsCommandsOptions,
  topics: ReturnType<typeof outpostTopics>,
  topic: string,
  payload: Uint8Array,
): Promise<void> {
  const { cloud, link, handlers } = options;
  const address = parseCommandTopic(topic, topics);
  if (!address) {
    log.warn("Cloud {cloud}: ignored a message on {topic}: not a command topic", { cloud, topic });
    return;
  }
  const { name, requestId } = address;
  const handler = handlers.commands.get(name);
  const result = await answerCommand(
    name,
    payload,
    handler && ((input) => handler(input, { name, requestId, cloud })),
  );
  if (result.status >= 400) {
    log.warn("Cloud {cloud}: command {name} ({requestId}) answered {status}", {
      cloud,
      name,
      requestId,
      status: result.status,
    });
  }
  await link.publish(topics.response(name, requestId), encodeAnswer(result), { qos: 1 }).catch((
    error: Error,
  ) =>
    log.warn("Cloud {cloud}: the answer to command {name} ({requestId}) was not sent: {error}", {
      cloud,
      name,
      requestId,
      error: error.message,
    })
  );
}
