/**
 * The error codes of the local API (PROTOCOLS.md §4), numbered and spelled
 * as the TeamViewer IoT MQTT SDK knows them (typos included: apps compare
 * the names), and the `{"errorcode","errorMessage"}` reply that carries one.
 */

/** Every error code an app can receive, by the SDK's name. */
export const LocalApiErrorCode = {
  UnknownError: 0,
  NoBackendConnection: 1,
  NoLicence: 2,
  InternalError: 3,
  InvalidJson: 4,
  JsonIsNotAObject: 5,
  MissingParameter: 6,
  ParameterIsNotAString: 7,
  ParameterIsNotANumber: 8,
  ParameterisNotABool: 9,
  ParameterIsNotAnArray: 10,
  ParameterIsNotAnInteger: 11,
  UnknownValueUnit: 12,
  UnknownMetricType: 13,
  ValueUnitOrValueTypeHasToBeProvided: 14,
  UnknownSensorId: 15,
  UnknownMetricId: 16,
  NoMetricsUpdated: 17,
  ForbiddendAccess: 18,
  OutOfRange: 19,
} as const;

/** One of the SDK's error code names. */
export type LocalApiErrorName = keyof typeof LocalApiErrorCode;

/** The error reply body. */
export interface LocalApiErrorBody {
  errorcode: number;
  errorMessage: string;
}

const NAMES = Object.fromEntries(
  Object.entries(LocalApiErrorCode).map(([name, code]) => [code, name]),
) as Record<number, LocalApiErrorName>;

/** The SDK's name of `code`, or undefined for a number it does not know. */
export function errorName(code: number): LocalApiErrorName | undefined {
  return NAMES[code];
}

/** A request the local API refuses, with the code the app will see. */
export class LocalApiError extends Error {
  /** The SDK's error code. */
  readonly code: number;

  constructor(name: LocalApiErrorName, message: string) {
    super(message);
    this.name = "LocalApiError";
    this.code = LocalApiErrorCode[name];
  }

  /** The reply body: `{"errorcode":<n>,"errorMessage":"…"}`. */
  toBody(): LocalApiErrorBody {
    return { errorcode: this.code, errorMessage: this.message };
  }
}

/**
 * Decodes an error reply; undefined when the payload is not one (so a
 * client can tell an error body from a success body on the same callback).
 */
export function decodeErrorBody(payload: unknown): LocalApiErrorBody | undefined {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return undefined;
  const { errorcode, errorMessage } = payload as Record<string, unknown>;
  if (!Number.isInteger(errorcode) || typeof errorMessage !== "string") return undefined;
  return { errorcode: errorcode as number, errorMessage };
}
