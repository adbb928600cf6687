/**
 * The remote-support API on the local endpoint (PROTOCOLS.md §5,
 * docs/support.md): names, enums and error codes of the TeamViewer IoT Agent
 * API, the topics under `/v1.0/<clientId>/support/…`, and the checks of
 * every request payload. Pure: strings and objects in, objects out.
 *
 * ```
 * app → agent   /v1.0/<cid>/support/request/<module>/<call>   {"id"?: <correlation>, …arguments}
 * agent → app   /v1.0/<cid>/support/event/<module>/<event>    {"id"?: <correlation>, …fields}
 * ```
 */
import { describe, isPlainObject } from "./describe_value.ts";

/** Features whose use a remote party needs permission for. */
export const FEATURES = ["FileTransfer", "RemoteView", "RemoteControl", "ScreenRecording"] as const;
/** One feature under access control. */
export type Feature = typeof FEATURES[number];

/** Access levels of a feature. */
export const ACCESS_LEVELS = ["Allowed", "AfterConfirmation", "Denied"] as const;
/** How a feature may be used. */
export type Access = typeof ACCESS_LEVELS[number];

/** States of an instant-support case. */
export const CASE_STATES = ["Undefined", "Open", "Closed"] as const;
/** Where an instant-support case is. */
export type CaseState = typeof CASE_STATES[number];

/** The `requestError` codes of instant support. */
export const INSTANT_SUPPORT_ERRORS = [
  "InternalError",
  "InvalidToken",
  "InvalidGroup",
  "InvalidSessionCode",
  "Busy",
  "InvalidEmail",
  "CloseRequestFailed",
  "NotFound",
] as const;
/** Why an instant-support call failed. */
export type InstantSupportError = typeof INSTANT_SUPPORT_ERRORS[number];

/** Who is at the other end of a chat. */
export const CHAT_ENDPOINT_TYPES = ["Machine", "InstantSupportSession"] as const;
/** The kind of a chat's remote endpoint. */
export type ChatEndpointType = typeof CHAT_ENDPOINT_TYPES[number];

/** Outcome of `sendMessage`. */
export type SendMessageResult = "Succeeded" | "Failed";

/** A chat message, as the agent stores it and sends it to apps. */
export interface ChatMessage {
  /** The chat id (UUID). */
  chatId: string;
  /** The message id (UUID). */
  messageId: string;
  /** The text. */
  content: string;
  /** ISO-8601 time of the message. */
  timeStamp: string;
  /** Who wrote it. */
  sender: string;
}

/** Errors of the support API itself (bad requests), sent as `…/event/<module>/error`. */
export const SUPPORT_ERRORS = [
  "InvalidJson",
  "MissingParameter",
  "InvalidParameter",
  "UnknownCall",
  "NotFound",
  "InternalError",
] as const;
/** Why a request was not served. */
export type SupportErrorCode = typeof SUPPORT_ERRORS[number];

/** The modules, as they appear in topics. */
export const SUPPORT_MODULES = [
  "connection",
  "sessions",
  "accessControl",
  "instantSupport",
  "chat",
] as const;
/** One support module. */
export type SupportModuleName = typeof SUPPORT_MODULES[number];

/** The calls each module answers. */
export const SUPPORT_CALLS: Readonly<Record<SupportModuleName, readonly string[]>> = {
  connection: ["hello"],
  sessions: ["getRunningSessions", "terminateAll"],
  accessControl: ["getAccess", "setAccess", "acceptAccessRequest", "rejectAccessRequest"],
  instantSupport: [
    "requestInstantSupport",
    "closeInstantSupportCase",
    "acceptConnectionRequest",
    "rejectConnectionRequest",
  ],
  chat: ["obtainChats", "sendMessage", "loadMessages", "deleteHistory", "deleteChat"],
};

/** The longest instant-support `name`. */
export const MAX_NAME_LENGTH = 100;
/** The most messages one `loadMessages` returns. */
export const MAX_PAGE = 500;
/** The longest chat message, in characters. */
export const MAX_MESSAGE_LENGTH = 10_000;

/** A request that failed a check, with the code to answer. */
export class SupportRequestError extends Error {
  /** Builds an error answered as `code`. */
  constructor(readonly code: SupportErrorCode, message: string) {
    super(message);
    this.name = "SupportRequestError";
  }
}

/** A parsed request path. */
export interface SupportCall {
  module: SupportModuleName;
  call: string;
}

/** The path (after `/v1.0/<cid>`) a request is published to. */
export function requestPath(module: SupportModuleName, call: string): string {
  return `/support/request/${module}/${call}`;
}

/** The path (after `/v1.0/<cid>`) an event is published to. */
export function eventPath(module: SupportModuleName, event: string): string {
  return `/support/event/${module}/${event}`;
}

/** True for every path this API owns (requests, and the events the agent publishes). */
export function isSupportPath(path: string): boolean {
  return path.startsWith("/support/");
}

/**
 * Parses a request path `/support/request/<module>/<call>`; throws
 * `SupportRequestError("UnknownCall")` naming the path otherwise.
 */
export function parseRequestPath(path: string): SupportCall {
  const parts = path.split("/");
  const [empty, support, request, module, call] = parts;
  if (
    parts.length !== 5 || empty !== "" || support !== "support" || request !== "request" ||
    !(SUPPORT_MODULES as readonly string[]).includes(module)
  ) {
    throw new SupportRequestError(
      "UnknownCall",
      `Unknown support topic ${describe(path)}: expected /support/request/<module>/<call> ` +
        `with module one of ${SUPPORT_MODULES.join(", ")}`,
    );
  }
  const name = module as SupportModuleName;
  if (!SUPPORT_CALLS[name].includes(call)) {
    throw new SupportRequestError(
      "UnknownCall",
      `Unknown ${name} call ${describe(call)}: expected one of ${SUPPORT_CALLS[name].join(", ")}`,
    );
  }
  return { module: name, call };
}

/** Decodes a request body: a JSON object (an empty payload is `{}`). */
export function decodeRequestBody(payload: Uint8Array): Record<string, unknown> {
  if (payload.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (error) {
    throw new SupportRequestError(
      "InvalidJson",
      `The payload is not UTF-8 JSON: ${(error as Error).message}`,
    );
  }
  if (!isPlainObject(value)) {
    throw new SupportRequestError(
      "InvalidJson",
      `The payload must be a JSON object, got ${describe(value)}`,
    );
  }
  return value;
}

/** The optional correlation id a request carries (string or number), echoed in replies. */
export function correlationOf(body: Record<string, unknown>): string | number | undefined {
  const id = body.id;
  if (typeof id === "string" && id.length <= 64) return id;
  if (typeof id === "number" && Number.isSafeInteger(id)) return id;
  return undefined;
}

/** A required string field of at most `max` characters. */
export function requiredString(
  body: Record<string, unknown>,
  key: string,
  max = 1024,
): string {
  const value = body[key];
  if (value === undefined || value === null) {
    throw new SupportRequestError("MissingParameter", `Missing parameter "${key}"`);
  }
  if (typeof value !== "string" || value.length === 0 || value.length > max) {
    throw new SupportRequestError(
      "InvalidParameter",
      `"${key}" must be a string of 1 to ${max} characters, got ${describe(value)}`,
    );
  }
  return value;
}

/** An optional string field ("" counts as absent). */
export function optionalString(
  body: Record<string, unknown>,
  key: string,
  max = 1024,
): string | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === "") return undefined;
  return requiredString(body, key, max);
}

function oneOfField<T extends string>(
  body: Record<string, unknown>,
  key: string,
  allowed: readonly T[],
): T {
  const value = body[key];
  if (value === undefined || value === null) {
    throw new SupportRequestError("MissingParameter", `Missing parameter "${key}"`);
  }
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new SupportRequestError(
      "InvalidParameter",
      `"${key}" must be one of ${allowed.join(", ")}, got ${describe(value)}`,
    );
  }
  return value as T;
}

/** The `feature` field. */
export function featureOf(body: Record<string, unknown>): Feature {
  return oneOfField(body, "feature", FEATURES);
}

/** The `access` field. */
export function accessOf(body: Record<string, unknown>): Access {
  return oneOfField(body, "access", ACCESS_LEVELS);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID string (chat and message ids). */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** The `chatId` field: a UUID. */
export function chatIdOf(body: Record<string, unknown>): string {
  const value = body.chatId;
  if (value === undefined || value === null) {
    throw new SupportRequestError("MissingParameter", 'Missing parameter "chatId"');
  }
  if (!isUuid(value)) {
    throw new SupportRequestError(
      "InvalidParameter",
      `"chatId" must be a UUID string, got ${describe(value)}`,
    );
  }
  return value.toLowerCase();
}

/** An integer field within `[min, max]`, or `fallback` when absent. */
export function integerOf(
  body: Record<string, unknown>,
  key: string,
  range: { min: number; max: number; fallback?: number },
): number {
  const value = body[key];
  if (value === undefined || value === null) {
    if (range.fallback !== undefined) return range.fallback;
    throw new SupportRequestError("MissingParameter", `Missing parameter "${key}"`);
  }
  if (
    typeof value !== "number" || !Number.isSafeInteger(value) || value < range.min ||
    value > range.max
  ) {
    throw new SupportRequestError(
      "InvalidParameter",
      `"${key}" must be an integer from ${range.min} to ${range.max}, got ${describe(value)}`,
    );
  }
  return value;
}

/** A chat message's text: 1 to {@link MAX_MESSAGE_LENGTH} characters. */
export function contentOf(body: Record<string, unknown>): string {
  return requiredString(body, "content", MAX_MESSAGE_LENGTH);
}

/** `sendMessage`: the app's own request id (a non-negative integer) and the message. */
export interface SendMessageRequest {
  /** The chat id (UUID). */
  chatId: string;
  requestId: number;
  /** The text. */
  content: string;
}

/** Checks a `sendMessage` body. */
export function parseSendMessage(body: Record<string, unknown>): SendMessageRequest {
  return {
    chatId: chatIdOf(body),
    requestId: integerOf(body, "requestId", { min: 0, max: Number.MAX_SAFE_INTEGER }),
    content: contentOf(body),
  };
}

/** `loadMessages`: up to `count` messages older than message `before` (newest first when absent). */
export interface LoadMessagesRequest {
  /** The chat id (UUID). */
  chatId: string;
  count: number;
  before?: string;
}

/** Checks a `loadMessages` body. */
export function parseLoadMessages(body: Record<string, unknown>): LoadMessagesRequest {
  const before = body.before;
  if (before !== undefined && before !== null && before !== "" && !isUuid(before)) {
    throw new SupportRequestError(
      "InvalidParameter",
      `"before" must be a message id (UUID), got ${describe(before)}`,
    );
  }
  return {
    chatId: chatIdOf(body),
    count: integerOf(body, "count", { min: 1, max: MAX_PAGE }),
    before: isUuid(before) ? before.toLowerCase() : undefined,
  };
}
