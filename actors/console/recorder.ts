/**
 * The console's memory of the recent past: the last log lines (as written
 * to the log, redacted) and, per cloud, one sample of its outbox every few
 * seconds for the last hour (queue depth and records sent per second).
 *
 * Owns: the log ring and the samples; both outlive restarts of the actors
 * that fill and serve them, and end with the agent's run. Receives: log
 * lines through `tapLog`, the clouds' counters from the control plane on
 * each tick. Sends: each new line and sample to its listeners (the event
 * stream). Supervised by: the `console` supervisor, as its `recorder` child.
 */
import { fromCallback } from "xstate";
import type { CloudView } from "../agent/control_plane.ts";
import { getLogger, type LogLevel, type LogLine, tapLog } from "../runtime/logging.ts";
import { RepeatedErrors } from "../runtime/repeated_errors.ts";
import type { ActorLogic } from "../runtime/spec.ts";

/** One point of a cloud's outbox plot. */
export interface Sample {
  /** ms since 1970. */
  t: number;
  /** Records waiting. */
  queued: number;
  /** Records acknowledged per second since the previous sample. */
  rate: number;
}

/** What the recorder keeps. */
export interface RecorderOptions {
  /** Log lines kept. */
  logLines: number;
  /** Time between two samples. Default 5 s. */
  sampleMs?: number;
  /** How far back samples are kept. Default one hour. */
  historyMs?: number;
}

/** Listeners of what the recorder adds. */
export interface RecorderListener {
  log?(line: LogLine): void;
  sample?(cloud: string, sample: Sample): void;
}

const LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warning", "error", "fatal"];

/** The log ring and the outbox samples. */
export class ConsoleRecorder {
  readonly sampleMs: number;
  readonly #logLines: number;
  readonly #maxSamples: number;
  #logs: LogLine[] = [];
  #history = new Map<string, Sample[]>();
  #lastSent = new Map<string, { t: number; sent: number }>();
  #listeners = new Set<RecorderListener>();

  constructor(options: RecorderOptions) {
    this.#logLines = options.logLines;
    this.sampleMs = options.sampleMs ?? 5000;
    this.#maxSamples = Math.ceil((options.historyMs ?? 3600_000) / this.sampleMs);
  }

  /** Keeps `line`, dropping the oldest beyond the limit. */
  addLog(line: LogLine): void {
    this.#logs.push(line);
    if (this.#logs.length > this.#logLines) {
      this.#logs.splice(0, this.#logs.length - this.#logLines);
    }
    for (const listener of this.#listeners) listener.log?.(line);
  }

  /** The last `limit` lines at `level` or above, oldest first. */
  logs(options: { level?: LogLevel; limit?: number } = {}): LogLine[] {
    const lowest = LEVELS.indexOf(options.level ?? "trace");
    const kept = this.#logs.filter((line) => LEVELS.indexOf(line.level) >= lowest);
    return kept.slice(Math.max(0, kept.length - (options.limit ?? kept.length)));
  }

  /** Takes one sample of every cloud at time `t`. */
  sample(clouds: readonly CloudView[], t: number): void {
    for (const cloud of clouds) {
      const last = this.#lastSent.get(cloud.name);
      const seconds = last ? (t - last.t) / 1000 : 0;
      const rate = seconds > 0 ? Math.max(0, cloud.sent - last!.sent) / seconds : 0;
      this.#lastSent.set(cloud.name, { t, sent: cloud.sent });
      const sample = { t, queued: cloud.queued, rate: Math.round(rate * 100) / 100 };
      const samples = this.#history.get(cloud.name) ?? [];
      samples.push(sample);
      if (samples.length > this.#maxSamples) samples.shift();
      this.#history.set(cloud.name, samples);
      for (const listener of this.#listeners) listener.sample?.(cloud.name, sample);
    }
  }

  /** Every cloud's samples, oldest first. */
  history(): Record<string, Sample[]> {
    return Object.fromEntries([...this.#history].map(([name, samples]) => [name, [...samples]]));
  }

  /** Adds a listener; returns a function that removes it. */
  listen(listener: RecorderListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }
}

/**
 * The `recorder` actor: taps the log and samples `clouds()` now and every
 * `recorder.sampleMs` until it stops.
 *
 * @example
 * ```ts
 * child("recorder", recorderActor(recorder, () => plane.clouds()));
 * ```
 */
export function recorderActor(
  recorder: ConsoleRecorder,
  clouds: () => CloudView[],
): ActorLogic {
  return fromCallback(() => {
    const errors = new RepeatedErrors(getLogger("console"));
    const untap = tapLog((line) => recorder.addLog(line));
    // A failing store is the store actor's to report; the plot just has a gap.
    const sample = () => {
      try {
        recorder.sample(clouds(), Date.now());
      } catch (error) {
        errors.error("Cannot sample the outboxes for the console", {}, error);
      }
    };
    sample();
    const timer = setInterval(sample, recorder.sampleMs);
    return () => {
      clearInterval(timer);
      untap();
    };
  });
}
