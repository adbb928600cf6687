/**
 * The `support` child of an AWS cloud: the remote side of instant support
 * and chat (docs/support.md, "On AWS IoT Core") on
 * `<prefix>/<thing>/support/…`, the generic cloud's topics and payloads,
 * which AWS IoT Core carries like any other topic.
 *
 * ```
 * cloud:<name>       rest_for_one
 * ├── connection
 * ├── …
 * ├── support        ← this actor (with `support = true`)
 * └── drain
 * ```
 *
 * Owns: the support service's port on this cloud and its subscriptions,
 * both made once the thing name is known (after provisioning). Receives:
 * the cloud → device support messages, handed to the service. Sends: what
 * the service publishes through the port (QoS 1, not retained). Supervised
 * by: its cloud's supervisor; stopping detaches the port.
 */
import { fromCallback } from "xstate";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import { holdSubscriptions, type MqttLink } from "../mqtt/link.ts";
import type { SupportChannel } from "../cloud/support.ts";
import { outpostTopics } from "../../protocols/outpost_topics.ts";

/** What the `support` child needs. */
export interface AwsSupportOptions {
  /** The cloud's name: the port's, and the chats' it opens. */
  cloud: string;
  link: MqttLink;
  /** The support modules' side. */
  channel: SupportChannel;
  /** `topicPrefix`: support topics are `<prefix>/<thing>/support/…`. */
  prefix: string;
  /** The thing name, once the device has an identity. */
  thingName: () => Promise<string>;
}

const log = getLogger("aws");

/**
 * The `support` child.
 *
 * @example
 * ```ts
 * child("support", awsSupport({ cloud: "aws", link, channel, prefix: "outpost", thingName }));
 * ```
 */
export function awsSupport(options: AwsSupportOptions): ActorLogic {
  const { cloud, link } = options;
  return fromCallback(() => {
    const cleanups: (() => void)[] = [];
    let stopped = false;
    options.thingName().then(
      (thing) => {
        if (stopped) return;
        // The same base as the device's other Outpost topics, checked the same way.
        const base = outpostTopics(thing, options.prefix).status.slice(0, -"/status".length);
        const attached = options.channel.attach({
          cloud,
          base,
          connected: () => link.connected,
          publish: (topic, payload) => link.publish(topic, payload, { qos: 1, retain: false }),
        });
        cleanups.push(
          holdSubscriptions(
            link,
            attached.filters.map((filter) => [filter, (m) => attached.receive(m.topic, m.payload)]),
          ),
          () => attached.detach(),
        );
        log.debug("Cloud {cloud}: support on {base}/support/…", { cloud, base });
      },
      (error: Error) =>
        log.warn("Cloud {cloud}: no remote support without a thing name: {error}", {
          cloud,
          error: error.message,
        }),
    );
    return () => {
      stopped = true;
      for (const cleanup of cleanups.splice(0)) cleanup();
    };
  }) as unknown as ActorLogic;
}
