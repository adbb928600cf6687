/**
 * The support modules' remote side on Cumulocity (docs/support.md, "On
 * Cumulocity"): the topic-based messages of support_remote.ts, carried by
 * what Cumulocity has instead of topics. A message keeps its topic below
 * `…/support/` (`chat/<chatId>/send`) and its JSON payload.
 *
 * ```
 * device → cloud  event/events/create        (t/event/events/create for instant/<appId>/request)
 *                 {"type":"outpost_Support","text":"<topic>","time":"<ISO-8601>",
 *                  "outpost_Support":{"topic":"<topic>","payload":{…}}}
 * cloud → device  an operation (devicecontrol/notifications)
 *                 {"id":"…","status":"PENDING",…,
 *                  "outpost_Support":{"topic":"<topic>","payload":{…}}}
 *                 answered 504, then 506 once handed to the support modules, or
 *                 505 with the reason when it is no support message the device takes
 * ```
 *
 * Pure. A fragment from the cloud is untrusted: the parser throws only
 * {@link C8yMessageError}.
 */
import { C8yMessageError } from "./c8y_downstream.ts";
import { jsonEvent } from "./c8y_json.ts";
import { describe, isPlainObject } from "./describe_value.ts";
import { topicMatches } from "./mqtt_topic.ts";

/** The operation fragment, and the event type and fragment, of support messages. */
export const SUPPORT_FRAGMENT = "outpost_Support";

/** A cloud → device support message, as an `outpost_Support` operation carries it. */
export interface SupportDelivery {
  /** Its topic below `…/support/`, such as `chat/<chatId>/messages`. */
  topic: string;
  /** Its payload as the support modules read it: JSON text (`{}` when the fragment has none). */
  payload: string;
}

/**
 * Reads the `outpost_Support` fragment of an operation.
 *
 * @example
 * ```ts
 * parseSupportFragment({ topic: "chat/25666256-4fcf-41c0-9971-7343680d96dc/closed" });
 * // { topic: "chat/25666256-4fcf-41c0-9971-7343680d96dc/closed", payload: "{}" }
 * ```
 * @throws {C8yMessageError} naming the field that is wrong.
 */
export function parseSupportFragment(fragment: unknown): SupportDelivery {
  const what = `The ${SUPPORT_FRAGMENT} fragment`;
  if (!isPlainObject(fragment)) {
    throw new C8yMessageError(
      `${what} must be an object like {"topic":"chat/<chatId>/messages","payload":{…}}, got ${
        describe(fragment)
      }`,
      { fragment: SUPPORT_FRAGMENT },
    );
  }
  const { topic, payload } = fragment;
  if (
    typeof topic !== "string" || topic === "" || topic.length > 200 || /[+#\0]/.test(topic) ||
    topic.startsWith("/") || topic.endsWith("/")
  ) {
    throw new C8yMessageError(
      `${what}: "topic" must be a support topic below …/support/ such as "chat/<chatId>/messages", got ${
        describe(topic)
      }`,
      { fragment: SUPPORT_FRAGMENT },
    );
  }
  if (payload !== undefined && !isPlainObject(payload)) {
    throw new C8yMessageError(
      `${what}: "payload" must be a JSON object, got ${describe(payload)}`,
      { fragment: SUPPORT_FRAGMENT },
    );
  }
  return { topic, payload: JSON.stringify(payload ?? {}) };
}

// The instant-support request carries the supporter's access token: the
// platform must deliver it, never store it.
const TRANSIENT = ["instant/+/request"];

/** A device → cloud support message as a Cumulocity event. */
export interface SupportEvent {
  /** The event's JSON body. */
  body: string;
  /** True: publish on `t/event/events/create`, so the platform never stores it. */
  transient: boolean;
}

/**
 * The event of a device → cloud support message on `topic` (below
 * `…/support/`) with the JSON text `payload` (kept as text when it is not JSON).
 *
 * @example
 * ```ts
 * supportEvent("error", '{"topic":"chat/x/messages","error":"unknown chat"}', new Date(0)).body;
 * // '{"type":"outpost_Support","text":"error","time":"1970-01-01T00:00:00.000Z",
 * //   "outpost_Support":{"topic":"error","payload":{"topic":"chat/x/messages","error":"unknown chat"}}}'
 * ```
 */
export function supportEvent(topic: string, payload: string, time: Date): SupportEvent {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    value = payload;
  }
  return {
    body: jsonEvent({
      type: SUPPORT_FRAGMENT,
      text: topic,
      time,
      fragments: { [SUPPORT_FRAGMENT]: { topic, payload: value } },
    }),
    transient: TRANSIENT.some((filter) => topicMatches(filter, topic)),
  };
}
