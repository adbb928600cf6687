/**
 * What an Outbox can be told at construction ({@link OutboxOptions}), and
 * what it runs with once the defaults are applied and every value checked
 * ({@link outboxSettings}): configuration is validated once, at the edge.
 */
import { clearImmediate, setImmediate } from "node:timers";
import type { Clock } from "../runtime/clock.ts";
import type { StoreHealth } from "../store/storage_fault.ts";

/** Options of the `Outbox` constructor (outbox.ts). */
export interface OutboxOptions {
  /** Most records kept per cloud; older ones are dropped. Default 100,000. */
  maxRecords?: number;
  /**
   * Times the group-commit window (a 0 ms timer) and the ack delay. Default:
   * `setImmediate` for 0 ms, which ends the window once pending I/O has run
   * (a 0 ms `setTimeout` takes about 2 ms in Deno, which capped an app that
   * awaits each append at ~430 appends/s), `setTimeout` otherwise.
   */
  clock?: Pick<Clock, "setTimeout" | "clearTimeout">;
  /** Wall-clock milliseconds stored as `created_at`. Default `Date.now`. */
  now?: () => number;
  /** Pending records that commit at once without waiting for the window. Default 500. */
  batchSize?: number;
  /**
   * Acked records deleted in one commit without waiting for an append or
   * the ack delay; also the most acked records sent again after a crash.
   * Default 512: a commit per ack turn cost more than the publishes
   * themselves (BENCHMARKS.md, "Agent").
   */
  ackBatch?: number;
  /** Longest an acked record waits for its delete when nothing else commits. Default 1000 ms. */
  ackDelayMs?: number;
  /**
   * How far the sequence ceiling file is raised at a time, at least; a fast
   * producer gets larger steps (seq_allocator.ts). Default 1000.
   */
  seqBlock?: number;
  /**
   * Keeps the device's seq above every number handed out even when the
   * database is lost (`<stateDir>/outpost.seq`; see seq_allocator.ts).
   */
  seqCeilingFile?: string;
  /** Told about storage failures (corrupt file, full or read-only disk). */
  health?: StoreHealth;
}

/**
 * The default clock. 0 ms is the group-commit window, "after the I/O
 * already waiting"; the ack delay is a timer.
 */
const IMMEDIATE: Pick<Clock, "setTimeout" | "clearTimeout"> = {
  setTimeout: (fn, ms) =>
    ms === 0 ? { immediate: setImmediate(fn) } : { timeout: setTimeout(fn, ms) },
  clearTimeout: (handle) =>
    handle.immediate === undefined
      ? clearTimeout(handle.timeout)
      : clearImmediate(handle.immediate),
};

/** {@link OutboxOptions} with the defaults applied; the Outbox's own parts (`seqCeilingFile`, `health`) left out. */
export type OutboxSettings = Readonly<Required<Omit<OutboxOptions, "seqCeilingFile" | "health">>>;

/**
 * Applies the defaults of `options` and checks each value.
 *
 * @throws {TypeError} naming the first option that is out of range.
 */
export function outboxSettings(options: OutboxOptions): OutboxSettings {
  const maxRecords = positiveInteger("maxRecords", options.maxRecords ?? 100_000);
  const batchSize = positiveInteger("batchSize", options.batchSize ?? 500);
  const ackBatch = positiveInteger("ackBatch", options.ackBatch ?? 512);
  const ackDelayMs = options.ackDelayMs ?? 1000;
  if (!Number.isFinite(ackDelayMs) || ackDelayMs < 0) {
    throw new TypeError(`Outbox: ackDelayMs must be >= 0, got ${ackDelayMs}`);
  }
  return {
    maxRecords,
    batchSize,
    ackBatch,
    ackDelayMs,
    seqBlock: positiveInteger("seqBlock", options.seqBlock ?? 1000),
    clock: options.clock ?? IMMEDIATE,
    now: options.now ?? Date.now,
  };
}

/** `value` when it is a positive safe integer; else a TypeError naming option `name`. */
export function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`Outbox: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}
