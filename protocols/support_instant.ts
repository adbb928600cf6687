/**
 * Instant support's request check (PROTOCOLS.md §5, docs/support.md): which
 * fields are required, their limits, and which `requestError` code each
 * problem answers. Pure; the access token never appears in a message.
 */
import { describe } from "./describe_value.ts";
import {
  type InstantSupportError,
  MAX_NAME_LENGTH,
  requiredString,
  type SupportErrorCode,
  SupportRequestError,
} from "./support_api.ts";

/** An instant-support request as the app makes it. */
export interface InstantSupportRequest {
  /** The supporter's access token (never logged). */
  accessToken: string;
  /** The name of the request (at most 100 characters). */
  name: string;
  /** The group the request goes to. */
  group: string;
  /** What help is needed. */
  description: string;
  /** An e-mail address to reach the requester. */
  email?: string;
  /** The case number the supporter tracks. */
  sessionCode?: string;
}

/** The result of checking an instant-support request. */
export type InstantSupportCheck =
  | { ok: true; request: InstantSupportRequest }
  | { ok: false; code: InstantSupportError | SupportErrorCode; message: string };

const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_-]{7,199}$/;
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]{2,}$/;
const SESSION_CODE = /^s\d{2}-\d{3}-\d{3}$/;

/**
 * Checks `requestInstantSupport`: `accessToken`, `name` (≤ 100), `group` and
 * `description` are required; `email` and `sessionCode` are optional. Field
 * problems with a dedicated code (token, group, email, session code) answer
 * that code; other missing or invalid fields answer MissingParameter /
 * InvalidParameter. The access token never appears in a message.
 */
export function checkInstantSupportRequest(body: Record<string, unknown>): InstantSupportCheck {
  try {
    const token = body.accessToken;
    if (token === undefined || token === null) {
      return { ok: false, code: "MissingParameter", message: 'Missing parameter "accessToken"' };
    }
    if (typeof token !== "string" || !TOKEN.test(token)) {
      return {
        ok: false,
        code: "InvalidToken",
        message: '"accessToken" must be 8 to 200 characters from A-Z a-z 0-9 _ -',
      };
    }
    const name = requiredString(body, "name", MAX_NAME_LENGTH);
    if (body.group === undefined || body.group === null) {
      return { ok: false, code: "MissingParameter", message: 'Missing parameter "group"' };
    }
    if (typeof body.group !== "string" || body.group.trim() === "" || body.group.length > 100) {
      return {
        ok: false,
        code: "InvalidGroup",
        message: `"group" must be a group name of 1 to 100 characters, got ${describe(body.group)}`,
      };
    }
    const description = requiredString(body, "description", 1000);
    const email = body.email;
    if (email !== undefined && email !== null && email !== "") {
      if (typeof email !== "string" || email.length > 254 || !EMAIL.test(email)) {
        return {
          ok: false,
          code: "InvalidEmail",
          message: `"email" must be an e-mail address, got ${describe(email)}`,
        };
      }
    }
    const code = body.sessionCode;
    if (code !== undefined && code !== null && code !== "") {
      if (typeof code !== "string" || !SESSION_CODE.test(code)) {
        return {
          ok: false,
          code: "InvalidSessionCode",
          message: `"sessionCode" must look like "s01-234-567", got ${describe(code)}`,
        };
      }
    }
    return {
      ok: true,
      request: {
        accessToken: token,
        name,
        group: body.group,
        description,
        email: typeof email === "string" && email !== "" ? email : undefined,
        sessionCode: typeof code === "string" && code !== "" ? code : undefined,
      },
    };
  } catch (error) {
    if (error instanceof SupportRequestError) {
      return { ok: false, code: error.code, message: error.message };
    }
    throw error;
  }
}
