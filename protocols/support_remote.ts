/**
 * The remote side of instant support and chat on a generic MQTT cloud
 * (docs/support.md): topics under `<prefix>/<deviceId>/support/…` and their
 * payloads. Pure; every decoder throws `SupportRemoteError` naming the
 * field that is wrong.
 *
 * ```
 * device → cloud  …/support/instant/<appId>/request            {accessToken,name,group,description,email?,sessionCode?}
 * device → cloud  …/support/instant/<appId>/close              {"sessionCode":"…"}
 * device → cloud  …/support/instant/<appId>/connection/answer  {"answer":"accepted"|"rejected"|"timedOut"}
 * device → cloud  …/support/chat/<chatId>/send                 {"ref":"<uuid>","content":"…"}
 * device → cloud  …/support/error                              {"topic":"…","error":"…"}
 * cloud → device  …/support/instant/<appId>/session            {"sessionCode","name","description","state"}
 * cloud → device  …/support/instant/<appId>/error              {"code":"InvalidToken"|…}
 * cloud → device  …/support/instant/<appId>/connection         {}
 * cloud → device  …/support/chat/<chatId>/created              {"title","endpointType","endpointId"}
 * cloud → device  …/support/chat/<chatId>/messages             {"messages":[{"messageId","content","timeStamp","sender"}]}
 * cloud → device  …/support/chat/<chatId>/sent                 {"ref","messageId","timeStamp"} | {"ref","error"}
 * cloud → device  …/support/chat/<chatId>/closed               {}
 * cloud → device  …/support/chat/<chatId>/removed              {}
 * ```
 */
import { describe, isPlainObject } from "./describe_value.ts";
import {
  CASE_STATES,
  type CaseState,
  CHAT_ENDPOINT_TYPES,
  type ChatEndpointType,
  INSTANT_SUPPORT_ERRORS,
  type InstantSupportError,
  isUuid,
  MAX_MESSAGE_LENGTH,
} from "./support_api.ts";

/** A message from the cloud that cannot be used. */
export class SupportRemoteError extends Error {
  /** Builds an error whose message names the problem. */
  constructor(message: string) {
    super(message);
    this.name = "SupportRemoteError";
  }
}

/** Leaves of `…/support/instant/<appId>/<leaf>` the cloud sends. */
export const INSTANT_DOWN = ["session", "error", "connection"] as const;
/** Leaves of `…/support/chat/<chatId>/<leaf>` the cloud sends. */
export const CHAT_DOWN = ["created", "messages", "sent", "closed", "removed"] as const;

/** A cloud → device support topic, parsed. */
export type SupportDown =
  | { kind: "instant"; appId: string; leaf: typeof INSTANT_DOWN[number] }
  | { kind: "chat"; chatId: string; leaf: typeof CHAT_DOWN[number] };

/** The support topics of one device under `base` (`<prefix>/<deviceId>`). */
export interface SupportTopics {
  /** What the device subscribes to: only cloud → device leaves, never its own. */
  subscriptions: string[];
  /** A device → cloud instant-support topic. */
  instant(appId: string, leaf: "request" | "close" | "connection/answer"): string;
  /** A device → cloud chat topic. */
  chat(chatId: string, leaf: "send"): string;
  /** Where the device reports a cloud message it could not use. */
  error: string;
}

const APP_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** True for an app id that may stand in a topic level. */
export function isAppId(value: unknown): value is string {
  return typeof value === "string" && APP_ID.test(value);
}

/** Builds the support topics under `base`. */
export function supportTopics(base: string): SupportTopics {
  const root = `${base}/support`;
  return {
    subscriptions: [
      ...INSTANT_DOWN.map((leaf) => `${root}/instant/+/${leaf}`),
      ...CHAT_DOWN.map((leaf) => `${root}/chat/+/${leaf}`),
    ],
    instant(appId, leaf) {
      if (!isAppId(appId)) throw new TypeError(`Invalid app id ${describe(appId)} in a topic`);
      return `${root}/instant/${appId}/${leaf}`;
    },
    chat(chatId, leaf) {
      if (!isUuid(chatId)) throw new TypeError(`Invalid chat id ${describe(chatId)} in a topic`);
      return `${root}/chat/${chatId}/${leaf}`;
    },
    error: `${root}/error`,
  };
}

/** Parses a cloud → device support topic under `base`; undefined when it is none. */
export function parseSupportTopic(topic: string, base: string): SupportDown | undefined {
  const root = `${base}/support/`;
  if (!topic.startsWith(root)) return undefined;
  const parts = topic.slice(root.length).split("/");
  if (parts.length !== 3) return undefined;
  const [kind, id, leaf] = parts;
  if (kind === "instant" && isAppId(id) && (INSTANT_DOWN as readonly string[]).includes(leaf)) {
    return { kind, appId: id, leaf: leaf as typeof INSTANT_DOWN[number] };
  }
  if (kind === "chat" && isUuid(id) && (CHAT_DOWN as readonly string[]).includes(leaf)) {
    return { kind, chatId: id.toLowerCase(), leaf: leaf as typeof CHAT_DOWN[number] };
  }
  return undefined;
}

function object(payload: Uint8Array, what: string): Record<string, unknown> {
  if (payload.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (error) {
    throw new SupportRemoteError(`${what} is not UTF-8 JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(value)) {
    throw new SupportRemoteError(`${what} must be a JSON object, got ${describe(value)}`);
  }
  return value;
}

function text(o: Record<string, unknown>, key: string, what: string, max = 1000): string {
  const value = o[key];
  if (typeof value !== "string" || value.length > max) {
    throw new SupportRemoteError(
      `${what}: "${key}" must be a string of at most ${max} characters, got ${describe(value)}`,
    );
  }
  return value;
}

function timestamp(o: Record<string, unknown>, what: string): string {
  const value = o.timeStamp;
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) {
    throw new SupportRemoteError(
      `${what}: "timeStamp" must be an ISO-8601 time, got ${describe(value)}`,
    );
  }
  return new Date(value).toISOString();
}

function uuid(o: Record<string, unknown>, key: string, what: string): string {
  const value = o[key];
  if (!isUuid(value)) {
    throw new SupportRemoteError(`${what}: "${key}" must be a UUID, got ${describe(value)}`);
  }
  return value.toLowerCase();
}

/** What the cloud says about an instant-support case. */
export interface SessionData {
  sessionCode: string;
  name: string;
  description: string;
  state: CaseState;
}

/** Decodes `…/instant/<appId>/session`. */
export function decodeSessionData(payload: Uint8Array): SessionData {
  const what = "Instant-support session data";
  const o = object(payload, what);
  const state = o.state;
  if (typeof state !== "string" || !(CASE_STATES as readonly string[]).includes(state)) {
    throw new SupportRemoteError(
      `${what}: "state" must be one of ${CASE_STATES.join(", ")}, got ${describe(state)}`,
    );
  }
  return {
    sessionCode: text(o, "sessionCode", what, 64),
    name: text(o, "name", what, 100),
    description: text(o, "description", what),
    state: state as CaseState,
  };
}

/** Decodes `…/instant/<appId>/error`. */
export function decodeInstantError(payload: Uint8Array): InstantSupportError {
  const what = "Instant-support error";
  const code = object(payload, what).code;
  if (typeof code !== "string" || !(INSTANT_SUPPORT_ERRORS as readonly string[]).includes(code)) {
    throw new SupportRemoteError(
      `${what}: "code" must be one of ${INSTANT_SUPPORT_ERRORS.join(", ")}, got ${describe(code)}`,
    );
  }
  return code as InstantSupportError;
}

/** Checks that a payload is a JSON object (for leaves without fields). */
export function decodeEmpty(payload: Uint8Array, what: string): void {
  object(payload, what);
}

/** A chat as the cloud announces it. */
export interface ChatAnnouncement {
  title: string;
  endpointType: ChatEndpointType;
  endpointId: string;
}

/** Decodes `…/chat/<chatId>/created`. */
export function decodeChatCreated(payload: Uint8Array): ChatAnnouncement {
  const what = "Chat announcement";
  const o = object(payload, what);
  const type = o.endpointType;
  if (typeof type !== "string" || !(CHAT_ENDPOINT_TYPES as readonly string[]).includes(type)) {
    throw new SupportRemoteError(
      `${what}: "endpointType" must be one of ${CHAT_ENDPOINT_TYPES.join(", ")}, got ${
        describe(type)
      }`,
    );
  }
  return {
    title: text(o, "title", what, 200),
    endpointType: type as ChatEndpointType,
    endpointId: text(o, "endpointId", what, 200),
  };
}

/** One chat message from the cloud. */
export interface RemoteMessage {
  messageId: string;
  content: string;
  timeStamp: string;
  sender: string;
}

/** Decodes `…/chat/<chatId>/messages` (1 to 100 messages). */
export function decodeChatMessages(payload: Uint8Array): RemoteMessage[] {
  const what = "Chat messages";
  const list = object(payload, what).messages;
  if (!Array.isArray(list) || list.length === 0 || list.length > 100) {
    throw new SupportRemoteError(
      `${what}: "messages" must be an array of 1 to 100 messages, got ${describe(list)}`,
    );
  }
  return list.map((m, i) => {
    const where = `${what}[${i}]`;
    if (!isPlainObject(m)) {
      throw new SupportRemoteError(`${where} must be an object, got ${describe(m)}`);
    }
    return {
      messageId: uuid(m, "messageId", where),
      content: text(m, "content", where, MAX_MESSAGE_LENGTH),
      timeStamp: timestamp(m, where),
      sender: text(m, "sender", where, 200),
    };
  });
}

/** The cloud's answer to a sent message. */
export type SentAck =
  | { ref: string; ok: true; messageId: string; timeStamp: string }
  | { ref: string; ok: false; error: string };

/** Decodes `…/chat/<chatId>/sent`. */
export function decodeSent(payload: Uint8Array): SentAck {
  const what = "Chat send acknowledgement";
  const o = object(payload, what);
  const ref = uuid(o, "ref", what);
  if (o.error !== undefined) return { ref, ok: false, error: text(o, "error", what) };
  return { ref, ok: true, messageId: uuid(o, "messageId", what), timeStamp: timestamp(o, what) };
}
