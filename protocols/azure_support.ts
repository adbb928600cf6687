/**
 * The remote side of the support modules on Azure IoT Hub (docs/azure.md,
 * docs/support.md "On Azure IoT Hub"). The support topics of the generic
 * cloud (`<base>/support/<suffix>`, protocols/support_remote.ts) travel as
 * IoT Hub messages named by their suffix:
 *
 * ```
 * device → cloud  devices/<id>/messages/events/…&outpostSupport=<suffix>   the topic's JSON payload
 * cloud → device  direct method outpost.support                            {"topic":"<suffix>","payload":{…}}
 * ```
 *
 * Pure. Error policy: a request that cannot be delivered throws
 * `SupportMethodError` naming the field that is wrong; keys of the request
 * other than `topic` and `payload` are ignored. What the payload says is
 * for the support service to judge, not this codec.
 */
import { describe, isPlainObject } from "./describe_value.ts";
import { topicNameProblem } from "./mqtt_topic.ts";

/** The direct method that carries support messages to the device; reserved on every Azure cloud. */
export const SUPPORT_METHOD = "outpost.support";
/** The device-to-cloud message property that names a support message by its topic suffix. */
export const SUPPORT_PROPERTY = "outpostSupport";

/** An `outpost.support` request that cannot be delivered. */
export class SupportMethodError extends Error {
  /** Builds an error whose message names the problem. */
  constructor(message: string) {
    super(message);
    this.name = "SupportMethodError";
  }
}

/** A support message as the device sends it or the support channel hears it. */
export interface SupportMessage {
  /** The topic below `…/support/` (`chat/<chatId>/messages`). */
  suffix: string;
  /** Its JSON payload. */
  payload: string;
}

/** Why `suffix` cannot stand below `…/support/`, or undefined when it can. */
function suffixProblem(suffix: string): string | undefined {
  if (suffix === "") return "it is empty";
  if (suffix.split("/").includes("")) return "it has an empty level";
  return topicNameProblem(suffix);
}

/**
 * Reads the body of an `outpost.support` request (already parsed JSON).
 * A missing `payload` is `{}`.
 *
 * @throws {SupportMethodError} when the body is not `{"topic": <suffix>, "payload"?: {…}}`.
 *
 * @example
 * ```ts
 * decodeSupportMethod({ topic: "chat/25666256-4fcf-41c0-9971-7343680d96dc/closed" });
 * // { suffix: "chat/25666256-4fcf-41c0-9971-7343680d96dc/closed", payload: "{}" }
 * ```
 */
export function decodeSupportMethod(body: unknown): SupportMessage {
  if (!isPlainObject(body)) {
    throw new SupportMethodError(
      `An ${SUPPORT_METHOD} request must be an object like {"topic","payload"}, got ${
        describe(body)
      }`,
    );
  }
  const { topic, payload } = body;
  if (typeof topic !== "string") {
    throw new SupportMethodError(
      `An ${SUPPORT_METHOD} request needs "topic", the support topic below "…/support/", got ${
        describe(topic)
      }`,
    );
  }
  const problem = suffixProblem(topic);
  if (problem) {
    throw new SupportMethodError(
      `The "topic" of an ${SUPPORT_METHOD} request cannot be ${describe(topic)}: ${problem}`,
    );
  }
  if (payload !== undefined && !isPlainObject(payload)) {
    throw new SupportMethodError(
      `The "payload" of an ${SUPPORT_METHOD} request must be a JSON object, got ${
        describe(payload)
      }`,
    );
  }
  return { suffix: topic, payload: JSON.stringify(payload ?? {}) };
}

/**
 * A support message the service publishes on `<base>/support/<suffix>`, as
 * it goes to the hub. The `topic` field of `…/support/error` (the message
 * the device could not use) names the cloud's own suffix, not `base`, which
 * means nothing on the hub.
 *
 * @throws {TypeError} when `topic` is not below `<base>/support/`.
 */
export function encodeSupportMessage(topic: string, payload: string, base: string): SupportMessage {
  const root = `${base}/support/`;
  const suffix = topic.startsWith(root) ? topic.slice(root.length) : "";
  if (suffixProblem(suffix)) {
    throw new TypeError(`Cannot send ${describe(topic)} to Azure: not a topic below "${root}"`);
  }
  if (suffix !== "error") return { suffix, payload };
  let error: unknown;
  try {
    error = JSON.parse(payload);
  } catch {
    return { suffix, payload };
  }
  if (!isPlainObject(error) || typeof error.topic !== "string" || !error.topic.startsWith(root)) {
    return { suffix, payload };
  }
  return { suffix, payload: JSON.stringify({ ...error, topic: error.topic.slice(root.length) }) };
}
