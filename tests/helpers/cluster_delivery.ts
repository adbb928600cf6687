/**
 * What a consumer of PROTOCOLS.md §0 can say about the records it received
 * from one device, against the seqs the device committed: which are lost,
 * which came twice (and whether the device sent them twice or the broker
 * redelivered them), and which arrived out of order. Pure.
 */

/** One telemetry record or event as a subscriber received it. */
export interface Arrival {
  /** `<prefix>/<id>/telemetry/<stream>` or `…/events/<type>`: the stream it belongs to. */
  topic: string;
  seq: number;
  /** Record time (`ts` of the payload), ms since the epoch. */
  ts: number;
  /** The MQTT DUP flag: the broker sent this message to the subscriber before. */
  dup: boolean;
  /** When it arrived, `performance.now()`. */
  at: number;
}

/** The verdict of {@link deliveryReport}. */
export interface DeliveryReport {
  /** Seqs 1..committed were committed by the device. */
  committed: number;
  received: number;
  /** Committed seqs that never arrived. */
  lost: number;
  /** Up to 20 of them, lowest first. */
  missing: number[];
  /** Arrivals of a seq already received. */
  dups: number;
  /** …of which the broker sent again (DUP set): a redelivery to the subscriber. */
  redelivered: number;
  /** …of which came without DUP: the device published the record again (a resend). */
  resent: number;
  /**
   * First arrivals of a seq lower than one already received on the same
   * stream, without DUP: the device (or the broker's store) reordered.
   */
  outOfOrder: number;
  /** Up to 20 of them as `seq after max`. */
  outOfOrderSamples: string[];
  /** First arrivals below the stream's highest that came as broker redeliveries (DUP set). */
  lateRedeliveries: number;
}

/**
 * Compares `arrivals` (in arrival order) with the committed seqs
 * 1..`committed`. A record may arrive more than once (at least once); on
 * each stream a seq's first arrival must be above every seq before it
 * (in order), unless the broker redelivered it late.
 *
 * @example
 * ```ts
 * const report = deliveryReport([{ topic: "t", seq: 1, ts: 0, dup: false, at: 0 }], 1);
 * report.lost; // 0
 * ```
 */
export function deliveryReport(arrivals: readonly Arrival[], committed: number): DeliveryReport {
  const seen = new Set<number>();
  const highest = new Map<string, number>();
  const report: DeliveryReport = {
    committed,
    received: arrivals.length,
    lost: 0,
    missing: [],
    dups: 0,
    redelivered: 0,
    resent: 0,
    outOfOrder: 0,
    outOfOrderSamples: [],
    lateRedeliveries: 0,
  };
  for (const { topic, seq, dup } of arrivals) {
    if (seen.has(seq)) {
      report.dups++;
      if (dup) report.redelivered++;
      else report.resent++;
      continue;
    }
    seen.add(seq);
    const max = highest.get(topic) ?? 0;
    if (seq < max) {
      if (dup) report.lateRedeliveries++;
      else {
        report.outOfOrder++;
        if (report.outOfOrderSamples.length < 20) {
          report.outOfOrderSamples.push(`${seq} after ${max}`);
        }
      }
    } else highest.set(topic, seq);
  }
  for (let seq = 1; seq <= committed; seq++) {
    if (seen.has(seq)) continue;
    report.lost++;
    if (report.missing.length < 20) report.missing.push(seq);
  }
  return report;
}

/** `lost=N dups=M (resent R, redelivered D) outOfOrder=O …`: the line tests and the bench print. */
export function formatDelivery(report: DeliveryReport): string {
  const parts = [
    `committed=${report.committed}`,
    `received=${report.received}`,
    `lost=${report.lost}`,
    `dups=${report.dups} (resent by the agent ${report.resent}, redelivered by the broker ${report.redelivered})`,
    `outOfOrder=${report.outOfOrder}`,
    `lateRedeliveries=${report.lateRedeliveries}`,
  ];
  if (report.missing.length) parts.push(`first missing: ${report.missing.join(", ")}`);
  if (report.outOfOrderSamples.length) {
    parts.push(`out of order: ${report.outOfOrderSamples.join(", ")}`);
  }
  return parts.join(" ");
}

/**
 * The seqs of 1..`committed` that no session received. Several cloud
 * sessions, each with its own consumer on the broker, tell a record the
 * device never delivered (missing everywhere) from one the broker failed
 * to pass to one session (docs/cluster.md: NATS 2.9 sometimes does).
 *
 * @example
 * ```ts
 * missingFromAll([[{ topic: "t", seq: 1, ts: 0, dup: false, at: 0 }], []], 2); // [2]
 * ```
 */
export function missingFromAll(
  sessions: readonly (readonly Arrival[])[],
  committed: number,
): number[] {
  const seen = new Set<number>();
  for (const arrivals of sessions) for (const { seq } of arrivals) seen.add(seq);
  const missing: number[] = [];
  for (let seq = 1; seq <= committed; seq++) if (!seen.has(seq)) missing.push(seq);
  return missing;
}
