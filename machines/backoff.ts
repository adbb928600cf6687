/**
 * Exponential backoff, the one way Outpost waits before trying again: the
 * supervisor between restarts (actors/runtime/policy.ts), the MQTT
 * connection between connects (machines/mqtt_connection.ts), DPS between
 * throttled requests (machines/azure_dps.ts) and while it is unreachable
 * (actors/azure/dps.ts), and AWS fleet provisioning between rounds
 * (actors/aws/provisioning.ts). Each caller keeps its own defaults; the
 * curve is this one.
 *
 * ```
 * delay(attempt) = min(maxMs, minMs · 2^attempt) · (1 − jitter · random)
 * ```
 *
 * Pure: the caller counts attempts and draws `random`.
 */

/** Exponential backoff between retries: the curve, without who counts the attempts. */
export interface RetryBackoff {
  /** Delay before the first retry; doubles with each further one. */
  minMs: number;
  /** Ceiling of the delay. */
  maxMs: number;
  /** Fraction (0..1) of the delay that is randomly taken off; 0 waits exactly. */
  jitter: number;
}

/**
 * Delay in whole milliseconds before retry number `attempt`, counted from 0
 * (the first retry waits `minMs`): `minMs · 2^attempt`, capped at `maxMs`,
 * minus up to `jitter` of it. `random` is a number in [0, 1); 0 gives the
 * delay before jitter, which is also the longest the wait can be. A
 * negative attempt counts as 0.
 *
 * @example
 * ```ts
 * backoffDelay({ minMs: 1000, maxMs: 60_000, jitter: 0 }, 3, 0); // 8000
 * ```
 */
export function backoffDelay(backoff: RetryBackoff, attempt: number, random: number): number {
  // Past 2^52 the doubling means nothing, and 2^1024 would make 0 · Infinity = NaN.
  const exponent = Math.min(Math.max(attempt, 0), 52);
  const base = Math.min(backoff.maxMs, backoff.minMs * 2 ** exponent);
  return Math.round(base * (1 - backoff.jitter * random));
}

/**
 * `given` over `defaults`, with the rule every caller follows: a `minMs`
 * given without a `maxMs` raises the default ceiling to it, so `{ minMs:
 * 60000 }` means "at least a minute", not an invalid curve. Validation (and
 * its message) stays with the caller, which knows where the values came from.
 */
export function withBackoffDefaults<B extends RetryBackoff>(
  defaults: Readonly<B>,
  given: Partial<B> | undefined,
): B {
  const backoff = { ...defaults, ...given } as B;
  if (given?.minMs !== undefined && given.maxMs === undefined) {
    backoff.maxMs = Math.max(backoff.maxMs, backoff.minMs);
  }
  return backoff;
}
