/**
 * One timer for every simulated device's telemetry tick. A `setInterval`
 * per device would be 5,000 timers; the wheel keeps its entries in slots of
 * `resolutionMs` and runs one timer while it has any, so the cost is one
 * wake-up per slot whatever the number of devices, and devices due in the
 * same slot produce in the same turn (one outbox commit for all of them).
 *
 * Owns: its one timer. Receives: `every` (a device's telemetry worker
 * starts) and the cancel it returned (the worker stops). Sends: calls to
 * the entries' functions. Not an actor: the fleet's devices share it, and
 * it runs only while a worker holds an entry.
 */
import { type Clock, realClock } from "../runtime/clock.ts";
import { getLogger } from "../runtime/logging.ts";

interface Entry {
  fn: () => void;
  slots: number;
  cancelled: boolean;
}

/** Options of {@link TickWheel}. */
export interface TickWheelOptions {
  /** Time source; tests pass XState's SimulatedClock. Default: the real clock. */
  clock?: Pick<Clock, "now" | "setTimeout" | "clearTimeout">;
  /** Width of a slot; intervals are rounded to whole slots. Default 100 ms. */
  resolutionMs?: number;
}

const log = getLogger("fleet");

/** Many periodic calls on one timer. */
export class TickWheel {
  readonly #clock: Pick<Clock, "now" | "setTimeout" | "clearTimeout">;
  readonly #resolution: number;
  readonly #slots = new Map<number, Entry[]>();
  #size = 0;
  // The last slot whose entries ran.
  #done = 0;
  // deno-lint-ignore no-explicit-any
  #timer: any;

  constructor(options: TickWheelOptions = {}) {
    this.#clock = options.clock ?? realClock;
    this.#resolution = options.resolutionMs ?? 100;
    if (!(this.#resolution >= 1)) {
      throw new RangeError(`The tick wheel's resolutionMs must be >= 1, got ${this.#resolution}`);
    }
  }

  /** Entries held (not cancelled). */
  get size(): number {
    return this.#size;
  }

  /** The slot width, in ms. */
  get resolutionMs(): number {
    return this.#resolution;
  }

  /**
   * Calls `fn` every `intervalMs` (rounded to whole slots, at least one),
   * first after `firstInMs` (default one interval); returns the cancel.
   * A throwing `fn` is logged and keeps its place.
   */
  every(intervalMs: number, fn: () => void, firstInMs = intervalMs): () => void {
    if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) {
      throw new RangeError(`A tick interval must be a number of ms > 0, got ${intervalMs}`);
    }
    const entry: Entry = {
      fn,
      slots: Math.max(1, Math.round(intervalMs / this.#resolution)),
      cancelled: false,
    };
    if (this.#size === 0) this.#done = this.#slotAt(this.#clock.now());
    this.#size++;
    this.#put(entry, Math.max(this.#done + 1, this.#slotAt(this.#clock.now() + firstInMs)));
    this.#arm();
    return () => {
      if (entry.cancelled) return;
      entry.cancelled = true;
      if (--this.#size === 0) this.#disarm();
    };
  }

  /** Cancels every entry: nothing is called from now on, until `every` adds one. */
  clear(): void {
    for (const list of this.#slots.values()) for (const entry of list) entry.cancelled = true;
    this.#size = 0;
    this.#disarm();
  }

  #slotAt(ms: number): number {
    return Math.ceil(ms / this.#resolution);
  }

  #put(entry: Entry, slot: number): void {
    const list = this.#slots.get(slot);
    if (list) list.push(entry);
    else this.#slots.set(slot, [entry]);
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#size === 0) return;
    const wait = Math.max(0, (this.#done + 1) * this.#resolution - this.#clock.now());
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#run();
      this.#arm();
    }, wait);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#slots.clear();
  }

  // Every slot up to now, in order. An entry runs at most once per run: a
  // stalled event loop skips ticks, as setInterval does, rather than
  // bursting to catch up.
  #run(): void {
    const now = this.#slotAt(this.#clock.now());
    while (this.#done < now && this.#size > 0) {
      const slot = ++this.#done;
      const list = this.#slots.get(slot);
      if (!list) continue;
      this.#slots.delete(slot);
      for (const entry of list) {
        if (entry.cancelled) continue;
        this.#put(entry, Math.max(slot + entry.slots, now + 1));
        try {
          entry.fn();
        } catch (error) {
          log.error("A fleet tick failed: {error}", { error });
        }
      }
    }
    if (this.#size === 0) this.#slots.clear();
  }
}
