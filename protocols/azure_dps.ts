/**
 * Device Provisioning Service payloads over MQTT (PROTOCOLS.md §3): the
 * registration request body, and what a reply means for the device
 * (still assigning, assigned, throttled, or failed with a reason). Pure;
 * the retry policy lives in machines/azure_dps.ts.
 *
 * @module
 */
import { describe, isPlainObject } from "./describe_value.ts";

/** What a DPS reply tells the device to do next. */
export type DpsOutcome =
  | { kind: "assigning"; operationId: string; retryAfterSec?: number }
  | { kind: "assigned"; hub: string; deviceId: string }
  | { kind: "throttled"; status: number; retryAfterSec?: number }
  | { kind: "failed"; status: number; reason: string };

/**
 * The body of `iotdps-register`: the registration id and, when a model id
 * is set, IoT Central's payload `{"iotcModelId":m,"modelId":m}`.
 *
 * @example
 * ```ts
 * dpsRegistrationBody("dev-1", "dtmi:x;1");
 * // '{"registrationId":"dev-1","payload":{"iotcModelId":"dtmi:x;1","modelId":"dtmi:x;1"}}'
 * ```
 */
export function dpsRegistrationBody(registrationId: string, modelId?: string): string {
  const body: Record<string, unknown> = { registrationId };
  if (modelId) body.payload = { iotcModelId: modelId, modelId };
  return JSON.stringify(body);
}

/**
 * Reads a reply on `$dps/registrations/res/<status>/?…`. Status 429 and
 * above is throttling (retry later); 202 carries an `operationId`; 200
 * carries `registrationState`; any other status is a failure with the
 * service's message.
 */
export function parseDpsReply(
  status: number,
  payload: string,
  retryAfterSec?: number,
): DpsOutcome {
  if (status >= 429) return { kind: "throttled", status, retryAfterSec };
  let body: unknown;
  try {
    body = payload.trim() === "" ? {} : JSON.parse(payload);
  } catch {
    return {
      kind: "failed",
      status,
      reason: `DPS answered ${status} with a body that is not JSON`,
    };
  }
  const fields = isPlainObject(body) ? body : {};
  if (status === 202 || (status === 200 && fields.status === "assigning")) {
    if (typeof fields.operationId !== "string" || fields.operationId === "") {
      return { kind: "failed", status, reason: `DPS answered ${status} without an operationId` };
    }
    return { kind: "assigning", operationId: fields.operationId, retryAfterSec };
  }
  if (status === 200) {
    const state = isPlainObject(fields.registrationState) ? fields.registrationState : {};
    const outcome = state.status ?? fields.status;
    if (
      outcome === "assigned" && typeof state.assignedHub === "string" && state.assignedHub &&
      typeof state.deviceId === "string" && state.deviceId
    ) {
      return { kind: "assigned", hub: state.assignedHub, deviceId: state.deviceId };
    }
    const message = state.errorMessage ?? fields.errorMessage;
    return {
      kind: "failed",
      status,
      reason: `registration ${typeof outcome === "string" ? outcome : "not assigned"}${
        typeof message === "string" ? `: ${message}` : ""
      }`,
    };
  }
  const message = fields.message ?? fields.errorMessage ?? fields.Message;
  const code = fields.errorCode ?? fields.ErrorCode;
  return {
    kind: "failed",
    status,
    reason: `DPS refused the registration with ${status}${code === undefined ? "" : ` (${code})`}${
      typeof message === "string"
        ? `: ${message}`
        : isPlainObject(body)
        ? ""
        : ` (${describe(body)})`
    }`,
  };
}
