/**
 * What a running fleet reports: its counters, the summary line printed
 * every `summaryEverySec`, and the printer. On a terminal the line updates
 * in place (a progress display); otherwise each summary is a plain line,
 * so a log collector gets one record per interval.
 */
import { getLogger } from "../runtime/logging.ts";
import { RepeatedErrors } from "../runtime/repeated_errors.ts";

/** A fleet's figures at one moment. */
export interface FleetStats {
  /** Devices configured. */
  devices: number;
  /** Devices whose subtree runs. */
  started: number;
  /** Devices whose every cloud is connected. */
  connected: number;
  /** Devices taken down by churn. */
  down: number;
  /** Records stored in the outbox by the devices since the fleet started. */
  produced: number;
  /** Records the broker acknowledged since the fleet started. */
  delivered: number;
  /** Records waiting in the outbox. */
  queued: number;
  /** Records the outbox bound dropped since the fleet started. */
  dropped: number;
  /** Actor crashes, connections lost (not by churn), records that could not be stored, devices that could not be built. */
  errors: number;
  /** Restarts of actors by their supervisors. */
  restarts: number;
  /** Time since the fleet started. */
  uptimeMs: number;
}

const log = getLogger("fleet");

/** The counters the devices and the tree add to; the fleet reads them into {@link FleetStats}. */
export class FleetCounters {
  produced = 0;
  dropped = 0;
  errors = 0;
  restarts = 0;
  readonly #storeErrors = new RepeatedErrors(log);

  /** A device's record is on disk (bound once: called for every record). */
  readonly stored = (): void => {
    this.produced++;
  };

  /** A device's record could not be stored. */
  readonly storeFailed = (error: unknown): void => {
    this.errors++;
    this.#storeErrors.error("Cannot store a simulated device's record", {}, error);
  };
}

/**
 * One summary line; `rate` is records delivered per second since the last one.
 *
 * @example
 * ```ts
 * formatSummary(stats, 99.8);
 * // "fleet: 1000/1000 connected | 99.8 records/s | 3 queued | 0 errors | 0 restarts"
 * ```
 */
export function formatSummary(stats: FleetStats, rate: number): string {
  const parts = [
    `fleet: ${stats.connected}/${stats.devices} connected` +
    (stats.started < stats.devices ? ` (${stats.started} started)` : "") +
    (stats.down > 0 ? ` (${stats.down} down by churn)` : ""),
    `${rate.toFixed(1)} records/s`,
    `${stats.queued} queued`,
    ...(stats.dropped > 0 ? [`${stats.dropped} dropped`] : []),
    `${stats.errors} errors`,
    `${stats.restarts} restarts`,
  ];
  return parts.join(" | ");
}

/** The line printed once the fleet has stopped. */
export function formatFinal(stats: FleetStats): string {
  const seconds = stats.uptimeMs / 1000;
  const rate = seconds > 0 ? stats.delivered / seconds : 0;
  return `fleet stopped after ${seconds.toFixed(0)} s: ${stats.started} of ${stats.devices} ` +
    `devices ran, ${stats.delivered} records delivered (${rate.toFixed(1)}/s), ` +
    `${stats.produced} produced, ${stats.queued} queued, ${stats.dropped} dropped, ` +
    `${stats.errors} errors, ${stats.restarts} restarts`;
}

/** Where the printer writes: `Deno.stdout` satisfies it. */
export interface SummaryOutput {
  /** Whether it is a terminal (one line updated in place). */
  isTerminal(): boolean;
  /** Writes bytes synchronously. */
  writeSync(bytes: Uint8Array): number;
}

/** Options of {@link SummaryPrinter}. */
export interface SummaryPrinterOptions {
  /** Time between two summaries. */
  everyMs: number;
  /** Default `Deno.stdout`. */
  out?: SummaryOutput;
}

const encoder = new TextEncoder();

/** Prints a fleet's summary every `everyMs`, then its final line. */
export class SummaryPrinter {
  readonly #stats: () => FleetStats;
  readonly #everyMs: number;
  readonly #out: SummaryOutput;
  readonly #terminal: boolean;
  #timer: ReturnType<typeof setInterval> | undefined;
  #last: { delivered: number; at: number } | undefined;
  #open = false;

  /** `stats` is read at every summary (a fleet's `stats`). */
  constructor(stats: () => FleetStats, options: SummaryPrinterOptions) {
    this.#stats = stats;
    this.#everyMs = options.everyMs;
    this.#out = options.out ?? Deno.stdout;
    this.#terminal = this.#out.isTerminal();
  }

  /** Prints one summary now and then every `everyMs`. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.print();
    this.#timer = setInterval(() => this.print(), this.#everyMs);
  }

  /** Prints one summary. */
  print(): void {
    const stats = this.#stats();
    const at = performance.now();
    const last = this.#last;
    const seconds = last ? (at - last.at) / 1000 : 0;
    const rate = last && seconds > 0 ? (stats.delivered - last.delivered) / seconds : 0;
    this.#last = { delivered: stats.delivered, at };
    const line = formatSummary(stats, rate);
    if (this.#terminal) {
      this.#write(`\r\x1b[2K${line}`);
      this.#open = true;
    } else this.#write(`${line}\n`);
  }

  /** Stops the summaries; `note` is printed on a line of its own. */
  stop(note?: string): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#endLine();
    if (note) this.#write(`${note}\n`);
  }

  /** Prints the final line. */
  final(stats: FleetStats): void {
    this.stop();
    this.#write(`${formatFinal(stats)}\n`);
  }

  #endLine(): void {
    if (!this.#open) return;
    this.#write("\n");
    this.#open = false;
  }

  #write(text: string): void {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += this.#out.writeSync(bytes.subarray(written));
  }
}
