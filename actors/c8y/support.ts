/**
 * The support modules' remote side on a Cumulocity cloud (docs/support.md,
 * "On Cumulocity"). The support service speaks topics (`SupportPort`);
 * Cumulocity carries no topics of a device's choosing, so this adapter gives
 * the service a port whose topics become `outpost_Support` events, and turns
 * `outpost_Support` operations into messages on the topics the service
 * listens to (protocols/c8y_support.ts has the wire format).
 *
 * Owned by the Cumulocity session (not an actor): attached while the session
 * runs, with `[clouds.<name>.operations] support = true`.
 */
import type { MqttLink } from "../mqtt/link.ts";
import { getLogger } from "../runtime/logging.ts";
import type { SupportChannel, SupportPort } from "../cloud/support.ts";
import { C8Y_TOPICS } from "../../protocols/c8y_messages.ts";
import { parseSupportFragment, supportEvent } from "../../protocols/c8y_support.ts";
import { topicMatches } from "../../protocols/mqtt_topic.ts";
import type { OperationOutcome } from "./operations.ts";

/**
 * The `base` of a Cumulocity port: the service builds its topics under
 * `<base>/support/…`; only the part below `…/support/` travels.
 */
export const SUPPORT_BASE = "c8y";

const ROOT = `${SUPPORT_BASE}/support/`;

const log = getLogger("c8y");

/** One Cumulocity cloud's face towards the support modules. */
export class C8ySupport {
  #attached: ReturnType<SupportChannel["attach"]> | undefined;

  /** An adapter for cloud `cloud` publishing on `link`. */
  constructor(
    private readonly o: { cloud: string; link: MqttLink; channel: SupportChannel },
  ) {}

  /** Hands the support modules this cloud's port. */
  start(): void {
    this.#attached = this.o.channel.attach(this.#port());
  }

  /** Takes the port back. */
  stop(): void {
    this.#attached?.detach();
    this.#attached = undefined;
  }

  /**
   * Delivers the `outpost_Support` fragment of an operation to the support
   * modules: success once handed over (what they make of the payload comes
   * back as an `error` event when they cannot use it), failure when it is no
   * message they listen to.
   */
  deliver(fragment: unknown): OperationOutcome {
    const attached = this.#attached;
    if (!attached) return { ok: false, reason: "The support modules are not running" };
    const { topic, payload } = parseSupportFragment(fragment);
    const full = ROOT + topic;
    if (!attached.filters.some((filter) => topicMatches(filter, full))) {
      return {
        ok: false,
        reason: `outpost_Support topic ${
          JSON.stringify(topic)
        } is not a message the device takes (docs/support.md lists them)`,
      };
    }
    attached.receive(full, new TextEncoder().encode(payload));
    return { ok: true };
  }

  #port(): SupportPort {
    const { cloud, link } = this.o;
    return {
      cloud,
      base: SUPPORT_BASE,
      connected: () => link.connected,
      publish: async (topic, payload) => {
        if (!topic.startsWith(ROOT)) {
          throw new Error(`${JSON.stringify(topic)} is not a support topic of this cloud`);
        }
        const relative = topic.slice(ROOT.length);
        const event = supportEvent(relative, withRelativeTopic(payload), new Date());
        await link.publish(
          event.transient ? C8Y_TOPICS.createTransientEvent : C8Y_TOPICS.createEvent,
          event.body,
          { qos: 1 },
        );
        log.debug("Cloud {cloud}: support message {topic} sent as an event", {
          cloud,
          topic: relative,
        });
      },
    };
  }
}

// The service's error reports name the topic as it knows it; the platform knows the part below ROOT.
function withRelativeTopic(payload: string): string {
  try {
    const value = JSON.parse(payload);
    if (typeof value?.topic === "string" && value.topic.startsWith(ROOT)) {
      return JSON.stringify({ ...value, topic: value.topic.slice(ROOT.length) });
    }
  } catch {
    // Not JSON: sent as it is.
  }
  return payload;
}
