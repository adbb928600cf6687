/**
 * How a cloud turns the agent's records into its own messages: the one
 * thing the telemetry router asks of every cloud.
 */

/** A record as one cloud will publish it. */
export interface EncodedRecord {
  /** The MQTT topic it is published to. */
  topic: string;
  /** Its bytes (a string is sent as UTF-8). */
  payload: string | Uint8Array;
  /** 1: resent until the broker acknowledges; 0: at most once. */
  qos: 0 | 1;
  /** Kept as the topic's retained message. Default false. */
  retain?: boolean;
}

/**
 * How one cloud turns the agent's records into its own messages. Returning
 * `undefined` means this cloud does not take the record (AWS while its
 * shadow disables publishing, or for a blacklisted event type).
 */
export interface CloudEncoder {
  /** The cloud's configured name: its outbox queue. */
  readonly name: string;
  /** A telemetry record of `stream` with its `seq` and time; undefined: not for this cloud. */
  telemetry(
    seq: number,
    ts: Date,
    stream: string,
    values: Record<string, unknown>,
  ): EncodedRecord | undefined;
  /** An event of `type` with its `seq` and time; undefined: not for this cloud. */
  event(
    seq: number,
    ts: Date,
    type: string,
    text: string,
    data?: Record<string, unknown>,
  ): EncodedRecord | undefined;
}
