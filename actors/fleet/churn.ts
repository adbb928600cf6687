/**
 * Churn: devices that drop off the network and come back. `percentPerMin`
 * of the fleet goes down each minute, spread evenly over the minute (a
 * fraction left over carries to the next step), each device chosen at
 * random among those up and staying down `downSec`.
 *
 * The plan decides; the fleet acts (its `churn` worker stops a device's
 * clouds and starts them again, fleet.ts). Pure: time and randomness are
 * inputs, so tests step it with any clock.
 */

/** `[fleet.churn]`. */
export interface ChurnSettings {
  /** Share of the fleet that goes down per minute, in percent (over 100: more than once each). */
  percentPerMin: number;
  /** How long a device stays down. */
  downSec: number;
}

/** What one step decided. */
export interface ChurnStep {
  /** Devices to take down now. */
  down: string[];
  /** Devices whose time down is over. */
  back: string[];
}

/** Which devices go down and come back, step by step. */
export class ChurnPlan {
  readonly #perMs: number;
  readonly #downMs: number;
  readonly #random: () => number;
  // Devices down, and when each comes back.
  readonly #down = new Map<string, number>();
  #owed = 0;
  #lastMs: number | undefined;

  constructor(settings: ChurnSettings, random: () => number = Math.random) {
    this.#perMs = settings.percentPerMin / 100 / 60_000;
    this.#downMs = settings.downSec * 1000;
    this.#random = random;
  }

  /** Devices down now. */
  get downCount(): number {
    return this.#down.size;
  }

  /** Whether `id` is down. */
  isDown(id: string): boolean {
    return this.#down.has(id);
  }

  /**
   * At `nowMs` (any monotonic clock), with `up` the devices that may go
   * down (running and not down): those to take down and those to bring back.
   * The first step only starts the clock.
   */
  step(nowMs: number, up: readonly string[]): ChurnStep {
    const back: string[] = [];
    for (const [id, at] of this.#down) {
      if (at > nowMs) continue;
      this.#down.delete(id);
      back.push(id);
    }
    const elapsed = this.#lastMs === undefined ? 0 : Math.max(0, nowMs - this.#lastMs);
    this.#lastMs = nowMs;
    const fleet = up.length + this.#down.size + back.length;
    this.#owed += fleet * this.#perMs * elapsed;
    const count = Math.min(Math.floor(this.#owed), up.length);
    this.#owed -= Math.floor(this.#owed);
    const down = pick(up, count, this.#random);
    for (const id of down) this.#down.set(id, nowMs + this.#downMs);
    return { down, back };
  }

  /** Forgets every device down (the fleet restarted them all). */
  clear(): void {
    this.#down.clear();
  }
}

// `count` distinct items of `items`, at random (a partial Fisher-Yates on a copy).
function pick(items: readonly string[], count: number, random: () => number): string[] {
  if (count <= 0) return [];
  const pool = [...items];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}
