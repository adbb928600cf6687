/**
 * One entry point for every telemetry record and event the agent produces:
 * it gives the record its `seq`, lets each cloud encode it in that cloud's
 * wire format, and appends the results to the durable outbox before
 * anything is sent. The outbox drains per cloud.
 */
import type { Outbox } from "../telemetry/outbox.ts";
import type { CloudEncoder, EncodedRecord } from "../cloud/encoder.ts";

export type { CloudEncoder, EncodedRecord } from "../cloud/encoder.ts";
import { streamNameProblem } from "../../protocols/outpost_topics.ts";

/** Routes records to every cloud's outbox queue. */
export class TelemetryRouter {
  /**
   * `seqPartition`: number records from that partition of the outbox
   * (a simulated device of `outpost fleet`) instead of the device's own seq.
   */
  constructor(
    private readonly outbox: Outbox,
    private readonly clouds: readonly CloudEncoder[],
    private readonly seqPartition?: string,
  ) {}

  /** Stores a telemetry record for every cloud; resolves with its `seq` once it is on disk. */
  async publish(stream: string, values: Record<string, unknown>, ts = new Date()): Promise<number> {
    checkName("stream", stream);
    if (typeof values !== "object" || values === null || Array.isArray(values)) {
      throw new TypeError(
        `Telemetry values of stream "${stream}" must be an object, got ${describe(values)}`,
      );
    }
    const seq = this.outbox.nextSeq(1, this.seqPartition);
    await this.#append((cloud) => cloud.telemetry(seq, ts, stream, values));
    return seq;
  }

  /** Stores an event for every cloud; resolves with its `seq` once it is on disk. */
  async event(
    type: string,
    text: string,
    data?: Record<string, unknown>,
    ts = new Date(),
  ): Promise<number> {
    checkName("event type", type);
    const seq = this.outbox.nextSeq(1, this.seqPartition);
    await this.#append((cloud) => cloud.event(seq, ts, type, text, data));
    return seq;
  }

  // Not async, and no Promise.all for one cloud: this runs once per record.
  #append(encode: (cloud: CloudEncoder) => EncodedRecord | undefined): Promise<unknown> {
    if (this.clouds.length === 1) {
      const [cloud] = this.clouds;
      const record = encode(cloud);
      return record ? this.outbox.append(cloud.name, [record]) : Promise.resolve();
    }
    return Promise.all(this.clouds.map((cloud) => {
      const record = encode(cloud);
      return record && this.outbox.append(cloud.name, [record]);
    }));
  }
}

function checkName(what: string, name: string): void {
  const problem = streamNameProblem(name);
  if (problem) throw new TypeError(`Invalid ${what} ${JSON.stringify(name)}: ${problem}`);
}

function describe(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}
