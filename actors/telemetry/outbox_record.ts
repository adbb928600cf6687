/**
 * A record as a producer hands it to the outbox, and its check: every
 * record is validated once, at the edge, before it is stored.
 */
import { topicNameProblem } from "../../protocols/mqtt_topic.ts";

/** A message to deliver to a cloud, as given to `Outbox.append`. */
export interface OutboxRecord {
  /** An MQTT topic name (no wildcards). */
  topic: string;
  /** Published as given; a string is published as its UTF-8 encoding. */
  payload: string | Uint8Array;
  /** 0: sent once, lost if the connection drops mid-send; 1: resent until the broker acknowledges. */
  qos: 0 | 1;
  /** Default false. */
  retain?: boolean;
}

/** A record as it waits in the outbox. */
export interface StoredRecord {
  /** Increases with every append; the delivery order. */
  id: number;
  /** The MQTT topic name it is published to. */
  topic: string;
  /**
   * What is published: a string (published as its UTF-8 encoding) when it
   * was appended as text, the bytes otherwise.
   */
  payload: string | Uint8Array;
  /** The QoS it is published with. */
  qos: 0 | 1;
  /** Whether the broker keeps it as the topic's retained message. */
  retain: boolean;
}

/**
 * A validated record, as stored. A text payload stays a string: SQLite keeps
 * it as TEXT and hands it back as a string, so neither the append nor the
 * drain turns it into bytes (an ArrayBuffer per record each way); the MQTT
 * client writes it as UTF-8.
 */
export interface Row {
  topic: string;
  payload: string | Uint8Array;
  qos: 0 | 1;
  retain: 0 | 1;
}

const encoder = new TextEncoder();

/**
 * Validates `records` for `cloud`; throws a TypeError naming the record.
 * Bytes are copied (the caller may reuse its buffer); a string with a lone
 * surrogate becomes bytes, as its UTF-8 encoding would be anyway.
 */
export function toRows(cloud: string, records: readonly OutboxRecord[]): Row[] {
  if (typeof cloud !== "string" || cloud.length === 0) {
    throw new TypeError(
      `Cannot append to the outbox: cloud must be a non-empty string, got ${JSON.stringify(cloud)}`,
    );
  }
  if (!Array.isArray(records)) {
    throw new TypeError(
      `Cannot append to the outbox of cloud "${cloud}": records must be an array`,
    );
  }
  return records.map((record, i) => {
    const what = `Cannot append record ${i} to the outbox of cloud "${cloud}"`;
    const { topic, payload, qos, retain } = record ?? {};
    if (typeof topic !== "string") {
      throw new TypeError(`${what}: topic must be a string, got ${JSON.stringify(topic)}`);
    }
    const problem = topicNameProblem(topic);
    if (problem) throw new TypeError(`${what}: ${problem}`);
    if (qos !== 0 && qos !== 1) {
      throw new TypeError(
        `${what} (topic "${topic}"): qos must be 0 or 1, got ${JSON.stringify(qos)}`,
      );
    }
    if (retain !== undefined && typeof retain !== "boolean") {
      throw new TypeError(
        `${what} (topic "${topic}"): retain must be a boolean, got ${JSON.stringify(retain)}`,
      );
    }
    let stored: string | Uint8Array;
    if (typeof payload === "string") {
      stored = payload.isWellFormed() ? payload : encoder.encode(payload);
    } else if (payload instanceof Uint8Array) stored = payload.slice();
    else throw new TypeError(`${what} (topic "${topic}"): payload must be a string or Uint8Array`);
    return { topic, payload: stored, qos, retain: retain ? 1 : 0 };
  });
}
