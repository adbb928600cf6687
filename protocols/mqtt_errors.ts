/**
 * Why an MQTT connection failed, in words: the CONNACK return code's
 * meaning, a timeout, or which side of TLS was not trusted.
 */

/** A connect that did not reach an accepted CONNACK. */
export class MqttConnectError extends Error {
  /** The CONNACK return (3.1.1) or reason (5) code when the broker refused. */
  readonly returnCode: number | undefined;

  /** `returnCode` when the broker refused; `cause` is mqtt.js's or the socket's error. */
  constructor(message: string, options: { returnCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "MqttConnectError";
    this.returnCode = options.returnCode;
  }
}

/** A SUBACK that refused some filters of a SUBSCRIBE; the others were granted. */
export class SubscriptionRefusedError extends Error {
  /** The filters the broker refused, as sent. */
  readonly refused: readonly string[];

  /** `refused`: the filters whose SUBACK return code was 0x80 or above. */
  constructor(message: string, refused: readonly string[]) {
    super(message);
    this.name = "SubscriptionRefusedError";
    this.refused = refused;
  }
}

// MQTT 3.1.1 §3.2.2.3; MQTT 5 reason codes come worded by mqtt.js.
const CONNACK_RETURN_CODES: Record<number, string> = {
  1: "unacceptable protocol version",
  2: "client identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

/** Why a connect failed, in words that say which broker and what went wrong. */
export function connectError(
  url: string,
  error: Error | undefined,
  timeoutMs: number,
): MqttConnectError {
  const where = `Cannot connect to MQTT broker ${url}`;
  if (error === undefined) {
    return new MqttConnectError(`${where}: the connection closed before CONNACK`);
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === "number" && error.message.startsWith("Connection refused")) {
    const meaning = CONNACK_RETURN_CODES[code] ??
      error.message.replace(/^Connection refused: /, "").toLowerCase();
    return new MqttConnectError(
      `${where}: the broker refused the connection with return code ${code} (${meaning})`,
      { returnCode: code, cause: error },
    );
  }
  if (error.message === "connack timeout") {
    return new MqttConnectError(`${where}: no CONNACK within ${timeoutMs} ms`, { cause: error });
  }
  if (typeof code === "string" && (UNTRUSTED.includes(code) || /CERT|SSL|TLS/.test(code))) {
    return new MqttConnectError(`${where}: TLS: ${tlsProblem(code, error.message)}`, {
      cause: error,
    });
  }
  return new MqttConnectError(`${where}: ${error.message}`, { cause: error });
}

// Verification codes node:tls reports when no trusted CA signed the broker's chain.
const UNTRUSTED = [
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
];

function tlsProblem(code: string, message: string): string {
  if (UNTRUSTED.includes(code)) {
    return `the broker's certificate is not signed by a trusted CA (${message}); check \`ca\``;
  }
  if (code.includes("CERTIFICATE_REQUIRED")) {
    return `the broker requires a client certificate (${message}); set \`cert\` and \`key\``;
  }
  return message;
}
