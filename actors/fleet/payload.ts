/**
 * The telemetry a simulated device publishes: one record per tick whose
 * values come from `[fleet.telemetry.fields]`, each field a generator.
 *
 * | kind       | value                                                        |
 * |------------|--------------------------------------------------------------|
 * | `walk`     | a random walk from `start`, ±`step` a tick, within min..max  |
 * | `sine`     | min..max over `periodSec`, each device at its own phase      |
 * | `random`   | uniform in min..max                                          |
 * | `counter`  | `start`, then + `step` a tick                                |
 * | `constant` | `value` as written                                           |
 * | `bytes`    | a string of `size` characters (filler shared by every device)|
 *
 * A plan is made once for the fleet; a device holds only its walk and
 * counter positions (one Float64Array), so 5,000 devices cost a few
 * hundred kilobytes here. Pure: randomness and time are inputs.
 */

/** One field's generator, as configured. */
export type FieldSpec =
  | { kind: "walk"; start: number; step: number; min: number; max: number }
  | { kind: "sine"; min: number; max: number; periodSec: number }
  | { kind: "random"; min: number; max: number }
  | { kind: "counter"; start: number; step: number }
  | { kind: "constant"; value: string | number | boolean }
  | { kind: "bytes"; size: number };

/** The fields of the default shape: system-like figures, as the agent's `system` source. */
export const DEFAULT_FIELDS: Readonly<Record<string, FieldSpec>> = {
  load1: { kind: "walk", start: 0.5, step: 0.1, min: 0, max: 4 },
  memUsedPercent: { kind: "walk", start: 40, step: 0.5, min: 0, max: 100 },
  temperature: { kind: "sine", min: 35, max: 55, periodSec: 600 },
  uptimeTicks: { kind: "counter", start: 0, step: 1 },
};

/** A device's own generator: the next record's values at a time. */
export interface DevicePayload {
  /** The values of the next record at `nowMs` (wall-clock milliseconds). */
  next(nowMs: number): Record<string, unknown>;
}

type Step = (state: Float64Array, nowMs: number, phase: number, random: () => number) => unknown;

/** The fleet's payload plan: built once, then one small generator per device. */
export class PayloadPlan {
  readonly #names: string[];
  readonly #steps: Step[];
  readonly #initial: number[];

  /** `random` gives the walks their steps (tests pass a seeded one). */
  constructor(
    fields: Readonly<Record<string, FieldSpec>>,
    private readonly random: () => number = Math.random,
  ) {
    this.#names = Object.keys(fields);
    this.#steps = [];
    this.#initial = [];
    for (const spec of Object.values(fields)) this.#steps.push(this.#step(spec));
  }

  /** The generator of device `n` (its sine phase follows from `n`). */
  device(n: number): DevicePayload {
    const state = Float64Array.from(this.#initial);
    // The golden ratio spreads the phases of consecutive devices evenly.
    const phase = (n * 0.6180339887) % 1;
    const names = this.#names;
    const steps = this.#steps;
    const random = this.random;
    return {
      next(nowMs) {
        const values: Record<string, unknown> = {};
        for (let i = 0; i < names.length; i++) {
          values[names[i]] = steps[i](state, nowMs, phase, random);
        }
        return values;
      },
    };
  }

  #slot(initial: number): number {
    this.#initial.push(initial);
    return this.#initial.length - 1;
  }

  #step(spec: FieldSpec): Step {
    switch (spec.kind) {
      case "walk": {
        const at = this.#slot(clamp(spec.start, spec.min, spec.max));
        return (state, _now, _phase, random) => {
          const value = clamp(state[at] + (random() * 2 - 1) * spec.step, spec.min, spec.max);
          state[at] = value;
          return round(value);
        };
      }
      case "sine": {
        const middle = (spec.max + spec.min) / 2;
        const amplitude = (spec.max - spec.min) / 2;
        const periodMs = spec.periodSec * 1000;
        return (_state, now, phase) =>
          round(middle + amplitude * Math.sin(2 * Math.PI * ((now / periodMs + phase) % 1)));
      }
      case "random":
        return (_state, _now, _phase, random) => round(spec.min + random() * (spec.max - spec.min));
      case "counter": {
        const at = this.#slot(spec.start);
        return (state) => {
          const value = state[at];
          state[at] = value + spec.step;
          return value;
        };
      }
      case "constant":
        return () => spec.value;
      case "bytes": {
        const filler = fillerText(spec.size, this.random);
        return () => filler;
      }
    }
  }
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** `size` characters from a URL-safe alphabet: a payload of a known size that JSON keeps as is. */
export function fillerText(size: number, random: () => number = Math.random): string {
  let text = "";
  for (let i = 0; i < size; i++) text += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return text;
}

/** A seeded generator of numbers in [0, 1) (mulberry32), for tests and repeatable runs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

// Two decimals: what a sensor reports, and a shorter payload.
function round(value: number): number {
  return Math.round(value * 100) / 100;
}
