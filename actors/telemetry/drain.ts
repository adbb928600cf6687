/**
 * The outbox drain of one cloud: moves that cloud's outbox to its broker,
 * oldest record first, at least once.
 *
 * Owns: nothing durable; its position is the outbox itself (a record leaves
 * only when the broker acknowledged it), so a restart resumes from the
 * oldest unacked record. Receives: the link's status, the outbox's append
 * notices, `outpost.stop`. Sends: QoS 0/1 publishes through the cloud's
 * MqttLink, acks to the Outbox. Supervised by the agent's `telemetry`
 * supervisor, one child per configured cloud.
 *
 * Order: publishes are issued in id order on one connection, which MQTT
 * delivers in order; up to `window` QoS 1 publishes await their PUBACK at
 * once. After a connection drop the next pass starts again from the oldest
 * unacked record, so records in flight at the drop may arrive twice.
 */
import { fromCallback } from "xstate";
import type { MqttLink, PublishOptions } from "../mqtt/link.ts";
import { getLogger } from "../runtime/logging.ts";
import {
  type DrainPassInput,
  type OutboxDrainEvent,
  outboxDrainMachine,
} from "../../machines/outbox_drain.ts";
import type { Outbox, StoredRecord } from "./outbox.ts";

/** Options of {@link outboxDrain}. */
export interface OutboxDrainOptions {
  /** The cloud's connection; publishes go through it. */
  link: MqttLink;
  /** The cloud whose records are drained, as named in {@link Outbox.append}. */
  cloud: string;
  /** Most publishes awaiting their acknowledgement at once. Default {@link DRAIN_WINDOW}. */
  window?: number;
  /** Records read from the outbox at a time. Default 256. */
  batch?: number;
  /** Wait before retrying after a failed publish while the link stays up. Default 1000 ms. */
  retryMs?: number;
  /**
   * How long a pass that ran dry waits for new records before the drain
   * reports `idle`. A producer committing more often than this keeps one
   * pass, instead of two state changes and a new pass per commit (2 % of
   * the local API benchmark's CPU). Default 50 ms; 0 reports at once.
   */
  idleAfterMs?: number;
}

/** The drain's actor logic, as given to `child(...)`. */
export type OutboxDrainLogic = typeof outboxDrainMachine;

const log = getLogger("telemetry");

/**
 * Publishes a drain keeps awaiting their PUBACK by default. Delivery is
 * bound by the broker's acknowledgement latency times this window: on
 * loopback mosquitto, 64 gave 12,800 records/s and 128 gave 14,300
 * (BENCHMARKS.md), at a cost of one stored record per slot.
 */
export const DRAIN_WINDOW = 128;

/**
 * Builds the drain of `options.cloud`'s records in `outbox` through `options.link`.
 *
 * @example
 * ```ts
 * supervisor("telemetry", {}, [
 *   child("drain:c8y", outboxDrain(outbox, { link: c8yLink, cloud: "c8y", window: 32 })),
 * ]);
 * ```
 */
export function outboxDrain(outbox: Outbox, options: OutboxDrainOptions): OutboxDrainLogic {
  const { link, cloud } = options;
  const window = positiveInteger(cloud, "window", options.window ?? DRAIN_WINDOW);
  const batch = positiveInteger(cloud, "batch", options.batch ?? 256);
  const retryMs = options.retryMs ?? 1000;
  if (!Number.isFinite(retryMs) || retryMs < 0) {
    throw new TypeError(`Outbox drain of cloud "${cloud}": retryMs must be >= 0, got ${retryMs}`);
  }
  const idleAfterMs = options.idleAfterMs ?? 50;
  if (!Number.isFinite(idleAfterMs) || idleAfterMs < 0) {
    throw new TypeError(
      `Outbox drain of cloud "${cloud}": idleAfterMs must be >= 0, got ${idleAfterMs}`,
    );
  }
  return outboxDrainMachine.provide({
    actors: {
      linkStatus: fromCallback<OutboxDrainEvent>(({ sendBack }) => {
        sendBack({ type: link.connected ? "link.up" : "link.down" });
        return link.onStatus((up) => sendBack({ type: up ? "link.up" : "link.down" }));
      }),
      drainPass: fromCallback<OutboxDrainEvent, DrainPassInput>(({ sendBack, input }) =>
        drainPass({
          outbox,
          link,
          cloud,
          window,
          batch,
          idleAfterMs,
          after: input.after,
          report: sendBack,
        })
      ),
      appendWatch: fromCallback<OutboxDrainEvent>(({ sendBack }) =>
        outbox.onAppend(cloud, () => sendBack({ type: "outbox.appended" }))
      ),
    },
    actions: {
      reportFailure: (_, { error }) => {
        log.warning(
          "Publishing the outbox of cloud {cloud} failed; it resumes from the oldest unacked record: {error}",
          { cloud, error: error instanceof Error ? error.message : String(error) },
        );
      },
    },
    delays: { retryDelay: retryMs },
  });
}

// Telemetry's options, shared by every publish rather than made for each.
const TELEMETRY: PublishOptions = Object.freeze({ qos: 1, retain: false });

interface PassOptions {
  outbox: Outbox;
  link: MqttLink;
  cloud: string;
  window: number;
  batch: number;
  idleAfterMs: number;
  after: number;
  report: (event: OutboxDrainEvent) => void;
}

// One pass over the outbox from the record after `after`, for as long as
// the machine stays in `draining`; returns its cleanup. Completions that
// arrive after the pass ended are ignored: those records are sent again
// next pass.
function drainPass(
  { outbox, link, cloud, window, batch, idleAfterMs, after, report }: PassOptions,
): () => void {
  let alive = true;
  let cursor = after;
  let buffer: StoredRecord[] = [];
  let next = 0;
  let inFlight = 0;
  let dry: ReturnType<typeof setTimeout> | undefined;

  const end = (event: OutboxDrainEvent) => {
    alive = false;
    report(event);
  };
  const failed = (error: unknown) => {
    if (alive) end({ type: "drain.failed", error });
  };
  // Every record up to the cursor was published and acknowledged.
  const empty = () => {
    dry = undefined;
    if (alive && inFlight === 0) end({ type: "drain.empty", through: cursor });
  };
  const fill = () => {
    if (dry !== undefined) {
      clearTimeout(dry);
      dry = undefined;
    }
    while (alive && inFlight < window) {
      if (next === buffer.length) {
        try {
          buffer = outbox.peek(cloud, cursor, batch);
        } catch (error) {
          // A storage failure: the outbox told the store's monitor; this pass ends.
          end({ type: "drain.failed", error });
          return;
        }
        next = 0;
        if (buffer.length === 0) break;
      }
      const { id, topic, payload, qos, retain } = buffer[next++];
      cursor = id;
      inFlight++;
      link.publish(topic, payload, qos === 1 && !retain ? TELEMETRY : { qos, retain }).then(() => {
        if (!alive) return;
        inFlight--;
        outbox.ack(cloud, id);
        fill();
      }, failed);
    }
    if (!alive || inFlight > 0) return;
    if (idleAfterMs === 0) empty();
    else dry = setTimeout(empty, idleAfterMs);
  };

  const unsubscribe = outbox.onAppend(cloud, fill);
  fill();
  return () => {
    alive = false;
    clearTimeout(dry);
    unsubscribe();
  };
}

function positiveInteger(cloud: string, name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(
      `Outbox drain of cloud "${cloud}": ${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}
