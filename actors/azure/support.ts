/**
 * The `support` child of an Azure cloud: the remote side of the support
 * modules (instant support, chat; docs/support.md) on IoT Hub, through the
 * same `SupportChannel` the generic cloud serves, so the support service
 * does not know which cloud it talks to.
 *
 * Owns: the channel's attachment, held while the hub connection is up.
 * Receives: link status; `outpost.support` direct methods, handed over by
 * the `commands` child (the method name is reserved: {@link AzureSupport.route}).
 * Sends: the service's support messages as device-to-cloud messages on
 * `devices/<id>/messages/events/` with `outpostSupport=<suffix>` (QoS 1,
 * straight through the link, not the outbox: the service needs to know
 * now whether the hub has it); the requests' payloads to the channel.
 * Supervised by: `cloud:<name>` (rest_for_one), before `commands`.
 */
import { fromCallback } from "xstate";
import type { MqttLink } from "../mqtt/link.ts";
import type { SupportChannel, SupportPort } from "../cloud/support.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import {
  decodeSupportMethod,
  encodeSupportMessage,
  SUPPORT_METHOD,
  SUPPORT_PROPERTY,
} from "../../protocols/azure_support.ts";
import { topicMatches } from "../../protocols/mqtt_topic.ts";
import type { AzureCommandHandler, AzureCommandResult } from "./commands.ts";
import { azureMessage } from "./messages.ts";

/**
 * The `base` the support service builds its topics under. On IoT Hub no
 * broker topic carries them: `<BASE>/support/<suffix>` exists only between
 * this adapter and the service, and only `<suffix>` goes on the wire.
 */
const BASE = "azure";

type Attachment = ReturnType<SupportChannel["attach"]>;

const log = getLogger("azure");
const bytes = new TextEncoder();

/** The support channel on one Azure cloud's link. */
export class AzureSupport {
  #attached: Attachment | undefined;

  /**
   * `channel` is the support modules' side (none: every `outpost.support`
   * request answers 404); `deviceId` the id the hub knows now (DPS may
   * assign another).
   */
  constructor(
    private readonly link: MqttLink,
    private readonly options: { cloud: string; deviceId: () => string; channel?: SupportChannel },
  ) {}

  /** True while the channel is attached (the hub connection is up). */
  get attached(): boolean {
    return this.#attached !== undefined;
  }

  /** Hands the channel a port on this cloud, unless it has one. */
  attach(): void {
    const { channel, cloud } = this.options;
    if (!channel || this.#attached) return;
    const port: SupportPort = {
      cloud,
      base: BASE,
      connected: () => this.link.connected,
      publish: (topic, payload) => this.#publish(topic, payload),
    };
    this.#attached = channel.attach(port);
    log.debug("Cloud {cloud}: support channel attached", { cloud });
  }

  /** Takes the port back; the service no longer sends through this cloud. */
  detach(): void {
    const attached = this.#attached;
    if (!attached) return;
    this.#attached = undefined;
    attached.detach();
    log.debug("Cloud {cloud}: support channel detached", { cloud: this.options.cloud });
  }

  /**
   * Answers one `outpost.support` request: 200 `{}` once the channel has
   * the message, 400 when the request is malformed or names no cloud →
   * device support topic, 404 without an attached channel. What the
   * payload says is judged by the service, which reports a message it
   * cannot use as a `…/support/error` message.
   */
  deliver(body: unknown): AzureCommandResult {
    const attached = this.#attached;
    if (!attached) {
      const message = this.options.channel
        ? "The support channel is not attached"
        : "This device has no support channel";
      return { status: 404, payload: { message } };
    }
    let request;
    try {
      request = decodeSupportMethod(body);
    } catch (error) {
      return { status: 400, payload: { message: (error as Error).message } };
    }
    const topic = `${BASE}/support/${request.suffix}`;
    if (!attached.filters.some((filter) => topicMatches(filter, topic))) {
      return {
        status: 400,
        payload: { message: `"${request.suffix}" is not a support topic the device receives` },
      };
    }
    attached.receive(topic, bytes.encode(request.payload));
    return { status: 200, payload: {} };
  }

  /**
   * The cloud's command handler with {@link SUPPORT_METHOD} answered here
   * and every other command handed to `handler`. Reserved: an app's
   * handler of that name is never called. Only a direct method delivers
   * (an offline command of that name answers 400, logged): nobody learns
   * whether a queued support message arrived, or when.
   */
  route(handler: AzureCommandHandler | undefined): AzureCommandHandler {
    return (command, respond) => {
      if (command.name !== SUPPORT_METHOD) return handler?.(command, respond);
      if (command.offline) {
        return {
          status: 400,
          payload: { message: `${SUPPORT_METHOD} is accepted as a direct method only` },
        };
      }
      return this.deliver(command.payload);
    };
  }

  #publish(topic: string, payload: string): Promise<void> {
    try {
      const message = encodeSupportMessage(topic, payload, BASE);
      const record = azureMessage(this.options.deviceId(), message.payload, {
        properties: { [SUPPORT_PROPERTY]: message.suffix },
      });
      return this.link.publish(record.topic, record.payload, { qos: 1 });
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** The `support` child: the channel is attached while the link is up. */
export function supportAttachment(support: AzureSupport, link: MqttLink): ActorLogic {
  return fromCallback(() => {
    const stop = link.onStatus((up) => up ? support.attach() : support.detach());
    if (link.connected) support.attach();
    return () => {
      stop();
      support.detach();
    };
  });
}
