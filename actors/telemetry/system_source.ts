/**
 * The built-in `system` telemetry source: the host's load, memory and
 * uptime, and the agent's own resident memory, sampled on an interval.
 *
 * Owns: one interval timer. Receives: nothing. Sends: a record on stream
 * `system` through `emit` at start and every `intervalMs`. Supervised by:
 * the telemetry supervisor, as a permanent child; stopping it clears the
 * timer. A sample that cannot be taken (the agent runs without
 * `--allow-sys`) is logged once per outage and skipped, never a crash: a
 * restart would fail the same way.
 */
import { fromCallback } from "xstate";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";

/** The stream the samples are published on. */
export const SYSTEM_STREAM = "system";

/** Options of {@link systemSource}. */
export interface SystemSourceOptions {
  /** Time between samples, in ms. */
  intervalMs: number;
  /** Receives each sample; usually the telemetry router's `publish`. */
  emit: (stream: string, values: Record<string, number>) => void;
  /** Takes one sample. Default {@link sampleSystem}; tests pass their own. */
  sample?: () => Record<string, number>;
}

const log = getLogger("telemetry", "system");

/**
 * One sample of the host and the agent: `load1`, `load5`, `load15`,
 * `memTotalBytes`, `memAvailableBytes`, `memUsedPercent` (0..100, two
 * decimals), `uptimeSec` and `agentRssBytes`.
 *
 * @throws when the process may not read system information (`--allow-sys`).
 */
export function sampleSystem(): Record<string, number> {
  const [load1, load5, load15] = Deno.loadavg();
  const memory = Deno.systemMemoryInfo();
  const used = memory.total > 0 ? (memory.total - memory.available) / memory.total : 0;
  return {
    load1,
    load5,
    load15,
    memTotalBytes: memory.total,
    memAvailableBytes: memory.available,
    memUsedPercent: Math.round(Math.min(1, Math.max(0, used)) * 10_000) / 100,
    uptimeSec: Deno.osUptime(),
    agentRssBytes: Deno.memoryUsage().rss,
  };
}

/**
 * The source as actor logic, for `child("system", systemSource({...}))`.
 *
 * @example
 * ```ts
 * child("system", systemSource({
 *   intervalMs: 60_000,
 *   emit: (stream, values) => void router.publish(stream, values),
 * }));
 * ```
 */
export function systemSource(options: SystemSourceOptions): ActorLogic {
  const { intervalMs, emit, sample = sampleSystem } = options;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError(
      `The system source's intervalMs must be a positive number, got ${intervalMs}`,
    );
  }
  return fromCallback(() => {
    let failing = false;
    // Runs from a timer, where a throw would escape the actor and end the
    // process; so every failure is caught here and logged instead.
    function tick(): void {
      try {
        emit(SYSTEM_STREAM, sample());
        if (failing) log.info("System telemetry is being sampled again");
        failing = false;
      } catch (error) {
        if (!failing) {
          log.warn(
            "Cannot take or publish a system telemetry sample; retrying every {intervalMs} ms: {error}",
            {
              intervalMs,
              error,
            },
          );
        }
        failing = true;
      }
    }
    tick();
    const timer = setInterval(tick, intervalMs);
    return () => clearInterval(timer);
  });
}
