/**
 * Measuring helpers shared by the benchmarks in `bench/`: forced garbage
 * collection for heap figures, order statistics for latencies and rates,
 * and a plain-text table so every figure is printed next to its baseline.
 */

/**
 * Runs V8's full collector twice (the second pass frees what the first one
 * only finalized). Needs `--v8-flags=--expose-gc`; without it heap figures
 * would include garbage, so the benchmark refuses to guess.
 */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") {
    throw new Error(
      "Cannot measure retained heap: gc() is not exposed; run with --v8-flags=--expose-gc",
    );
  }
  gc();
  gc();
}

/** `heapUsed` in bytes after a full collection. */
export function heapUsedAfterGc(): number {
  collectGarbage();
  return Deno.memoryUsage().heapUsed;
}

/** The `p`-th percentile (0..100) of `values`, by nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError("Cannot take a percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** The median of `values`. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** A row of the results table: what was measured, both figures, and the unit. */
export interface ResultRow {
  metric: string;
  supervised: number;
  bare: number;
  unit: string;
  /** Digits after the decimal point for both figures. Default 0. */
  digits?: number;
}

/** Options of {@link formatTable}. */
export interface TableOptions {
  /** Headers of the two figure columns. Default `["supervised", "bare xstate"]`. */
  labels?: readonly [string, string];
  /** Adds a column with the first figure minus the second, in the row's unit. Default false. */
  difference?: boolean;
}

/** Formats rows as an aligned table with a `first / second` ratio column. */
export function formatTable(rows: readonly ResultRow[], options: TableOptions = {}): string {
  const [first, second] = options.labels ?? ["supervised", "bare xstate"];
  const header = [
    "metric",
    first,
    second,
    "ratio",
    ...(options.difference ? ["difference"] : []),
    "unit",
  ];
  const cells = rows.map((row) => [
    row.metric,
    formatNumber(row.supervised, row.digits ?? 0),
    formatNumber(row.bare, row.digits ?? 0),
    `${formatNumber(row.supervised / row.bare, 2)}x`,
    ...(options.difference ? [formatSigned(row.supervised - row.bare, row.digits ?? 0)] : []),
    row.unit,
  ]);
  const last = header.length - 1;
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c.map((cell, i) => i === 0 || i === last ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))
      .join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** `min..max` of `values`, formatted with `digits`. */
export function formatSpread(values: readonly number[], digits: number): string {
  return `${formatNumber(Math.min(...values), digits)}..${
    formatNumber(Math.max(...values), digits)
  }`;
}

function formatSigned(value: number, digits: number): string {
  return `${value >= 0 ? "+" : ""}${formatNumber(value, digits)}`;
}

/** `12345.678` with 1 digit as `12,345.7`. */
export function formatNumber(value: number, digits: number): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}
