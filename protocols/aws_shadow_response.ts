/**
 * What AWS IoT answers on the shadow's response topics, decoded and checked
 * (PROTOCOLS.md §2): accepted documents, rejections, deltas and documents.
 * Pure; whatever arrives is untrusted, so a bad payload throws only a
 * `ShadowError` with code "malformed".
 */
import { isPlainObject, ShadowError, type ShadowState } from "./aws_shadow.ts";
import { describe, quote } from "./describe_value.ts";

export interface ShadowAccepted {
  kind: "accepted";
  state: { desired?: ShadowState; reported?: ShadowState; delta?: ShadowState };
  metadata?: ShadowState;
  version: number;
  timestamp: number;
  clientToken?: string;
}

/** `<op>/rejected`: 400 bad request, 404 no shadow, 409 version conflict, 429 too many requests… */
export interface ShadowRejected {
  kind: "rejected";
  code: number;
  message: string;
  timestamp?: number;
  clientToken?: string;
}

/** `update/delta`: desired state that differs from reported. */
export interface ShadowDelta {
  kind: "delta";
  state: ShadowState;
  version: number;
  timestamp: number;
  metadata?: ShadowState;
  clientToken?: string;
}

/** One side of `update/documents`. */
export interface ShadowDocument {
  state: { desired?: ShadowState; reported?: ShadowState };
  metadata?: ShadowState;
  version: number;
}

/** `update/documents`: the shadow before and after an update (no `previous` on creation). */
export interface ShadowDocuments {
  kind: "documents";
  previous?: ShadowDocument;
  current: ShadowDocument;
  timestamp: number;
  clientToken?: string;
}

/** Any shadow response. */
export type ShadowResponse = ShadowAccepted | ShadowRejected | ShadowDelta | ShadowDocuments;

/**
 * Reads a shadow response. With `topic`, its ending decides the kind
 * (`…/accepted`, `…/rejected`, `…/update/delta`, `…/update/documents`);
 * without it the shape does: `code` means rejected, `current` documents,
 * `state` whose keys are only desired/reported/delta accepted, other
 * `state` delta, and `version` alone (as `delete/accepted`) accepted.
 *
 * @throws {ShadowError} "malformed", saying what is wrong.
 */
export function decodeResponse(payload: Uint8Array | string, topic?: string): ShadowResponse {
  const doc = parseDocument(payload);
  const kind = topic === undefined ? kindOfShape(doc) : kindOfTopic(topic);
  switch (kind) {
    case "rejected":
      return decodeRejected(doc);
    case "delta":
      return decodeDelta(doc);
    case "documents":
      return decodeDocuments(doc);
    default:
      return decodeAccepted(doc);
  }
}

type Kind = ShadowResponse["kind"];

function kindOfTopic(topic: string): Kind {
  if (topic.endsWith("/rejected")) return "rejected";
  if (topic.endsWith("/update/delta")) return "delta";
  if (topic.endsWith("/update/documents")) return "documents";
  if (topic.endsWith("/accepted")) return "accepted";
  throw new ShadowError("malformed", `Topic ${quote(topic)} is not a shadow response topic`);
}

function kindOfShape(doc: Record<string, unknown>): Kind {
  if ("code" in doc) return "rejected";
  if ("current" in doc) return "documents";
  const state = doc.state;
  if (isPlainObject(state)) {
    const sections = ["desired", "reported", "delta"];
    return Object.keys(state).every((key) => sections.includes(key)) ? "accepted" : "delta";
  }
  return "accepted";
}

function decodeAccepted(doc: Record<string, unknown>): ShadowAccepted {
  const what = "accepted shadow response";
  return {
    kind: "accepted",
    // delete/accepted carries no state at all.
    state: stateSections(what, doc, ["desired", "reported", "delta"]),
    ...optionalMetadata(what, doc),
    version: versionField(what, doc),
    timestamp: timestampField(what, doc),
    ...optionalToken(what, doc),
  };
}

function decodeRejected(doc: Record<string, unknown>): ShadowRejected {
  const what = "rejected shadow response";
  const { code, message } = doc;
  if (!Number.isSafeInteger(code)) {
    throw malformed(what, `code must be an integer, found ${describe(code)}`);
  }
  if (typeof message !== "string") {
    throw malformed(what, `message must be a string, found ${describe(message)}`);
  }
  const rejected: ShadowRejected = { kind: "rejected", code: code as number, message };
  if (doc.timestamp !== undefined) rejected.timestamp = timestampField(what, doc);
  return { ...rejected, ...optionalToken(what, doc) };
}

function decodeDelta(doc: Record<string, unknown>): ShadowDelta {
  const what = "shadow delta";
  return {
    kind: "delta",
    state: objectField(what, doc, "state"),
    version: versionField(what, doc),
    timestamp: timestampField(what, doc),
    ...optionalMetadata(what, doc),
    ...optionalToken(what, doc),
  };
}

function decodeDocuments(doc: Record<string, unknown>): ShadowDocuments {
  const what = "shadow documents";
  const documents: ShadowDocuments = {
    kind: "documents",
    current: decodeDocument(`${what} current`, objectField(what, doc, "current")),
    timestamp: timestampField(what, doc),
    ...optionalToken(what, doc),
  };
  if (doc.previous !== undefined && doc.previous !== null) {
    documents.previous = decodeDocument(`${what} previous`, objectField(what, doc, "previous"));
  }
  return documents;
}

function decodeDocument(what: string, doc: Record<string, unknown>): ShadowDocument {
  return {
    state: stateSections(what, doc, ["desired", "reported"]),
    ...optionalMetadata(what, doc),
    version: versionField(what, doc),
  };
}

function stateSections(
  what: string,
  doc: Record<string, unknown>,
  names: readonly ("desired" | "reported" | "delta")[],
): ShadowAccepted["state"] {
  const state = doc.state === undefined ? {} : objectField(what, doc, "state");
  const sections: ShadowAccepted["state"] = {};
  for (const name of names) {
    // A section AWS has deleted is absent; a null one means the same.
    if (state[name] !== undefined && state[name] !== null) {
      sections[name] = objectField(what, state, name, "state.");
    }
  }
  return sections;
}

function parseDocument(payload: Uint8Array | string): Record<string, unknown> {
  let text: string;
  if (typeof payload === "string") text = payload;
  else if (payload instanceof Uint8Array) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
    } catch {
      throw new ShadowError("malformed", "Shadow response: the payload is not valid UTF-8");
    }
  } else {
    throw new ShadowError(
      "malformed",
      `Shadow response: expected bytes or text, found ${describe(payload)}`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ShadowError("malformed", `Shadow response: invalid JSON: ${reason.slice(0, 200)}`);
  }
  if (!isPlainObject(doc)) {
    throw new ShadowError(
      "malformed",
      `Shadow response: must be a JSON object, found ${describe(doc)}`,
    );
  }
  return doc;
}

function objectField(
  what: string,
  doc: Record<string, unknown>,
  key: string,
  path = "",
): Record<string, unknown> {
  const value = doc[key];
  if (!isPlainObject(value)) {
    throw malformed(what, `${path}${key} must be an object, found ${describe(value)}`);
  }
  return value;
}

function versionField(what: string, doc: Record<string, unknown>): number {
  const { version } = doc;
  if (!Number.isSafeInteger(version) || (version as number) < 0) {
    throw malformed(what, `version must be a non-negative integer, found ${describe(version)}`);
  }
  return version as number;
}

function timestampField(what: string, doc: Record<string, unknown>): number {
  const { timestamp } = doc;
  if (typeof timestamp !== "number" || !Number.isFinite(timestamp) || timestamp < 0) {
    throw malformed(what, `timestamp must be a non-negative number, found ${describe(timestamp)}`);
  }
  return timestamp;
}

function optionalMetadata(what: string, doc: Record<string, unknown>): { metadata?: ShadowState } {
  if (doc.metadata === undefined) return {};
  return { metadata: objectField(what, doc, "metadata") };
}

function optionalToken(what: string, doc: Record<string, unknown>): { clientToken?: string } {
  const { clientToken } = doc;
  if (clientToken === undefined) return {};
  if (typeof clientToken !== "string") {
    throw malformed(what, `clientToken must be a string, found ${describe(clientToken)}`);
  }
  return { clientToken };
}

function malformed(what: string, problem: string): ShadowError {
  return new ShadowError("malformed", `Cannot read ${what}: ${problem}`);
}
