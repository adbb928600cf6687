/**
 * The newest committed records of each cloud, kept in memory for a drain
 * that has caught up with its producers: its next `peek` is answered from
 * here instead of SQLite. A caught-up drain is the steady state of a device
 * (a record at a time, sent as soon as it is committed), and there a read
 * per record cost more than the publish (the local API: two reads of ~10 µs
 * for every value, BENCHMARKS.md).
 *
 * A tail exists for a cloud once a read from SQLite reached the end of that
 * cloud's records; from then on it holds every record committed for the
 * cloud after that point, in id order, until the drain reads past them. It
 * is dropped, and the drain reads SQLite again until it catches up, when it
 * grows past {@link MAX_TAIL_RECORDS} or {@link MAX_TAIL_BYTES} (the drain
 * fell behind) or when the cloud's bound dropped records. Only committed
 * records enter it, so what it hands out is on disk.
 */
import type { Row, StoredRecord } from "./outbox_record.ts";

/** Most records a tail holds; a drain further behind reads SQLite. */
export const MAX_TAIL_RECORDS = 1024;
/** Most payload bytes (characters of a text payload) a tail holds. */
export const MAX_TAIL_BYTES = 1024 * 1024;

interface Tail {
  /** Every record of the cloud with a higher id than this is in `records`. */
  after: number;
  records: StoredRecord[];
  /** Records before this index were read past. */
  head: number;
  bytes: number;
}

/** The tails of every cloud of one outbox. */
export class OutboxTails {
  #tails = new Map<string, Tail>();

  /**
   * A read of `cloud`'s records from SQLite reached the end: there is none
   * with an id above `through`. Starts the cloud's tail if it has none.
   */
  covered(cloud: string, through: number): void {
    if (!this.#tails.has(cloud)) {
      this.#tails.set(cloud, { after: through, records: [], head: 0, bytes: 0 });
    }
  }

  /**
   * `appends` were committed, their rows numbered from `firstId` on in
   * order (AUTOINCREMENT gives the rows of one transaction consecutive ids).
   */
  committed(appends: readonly { cloud: string; rows: readonly Row[] }[], firstId: number): void {
    let id = firstId;
    for (const { cloud, rows } of appends) {
      const tail = this.#tails.get(cloud);
      if (!tail) {
        id += rows.length;
        continue;
      }
      for (const { topic, payload, qos, retain } of rows) {
        tail.records.push({ id: id++, topic, payload, qos, retain: retain === 1 });
        tail.bytes += typeof payload === "string" ? payload.length : payload.byteLength;
      }
      if (tail.records.length - tail.head > MAX_TAIL_RECORDS || tail.bytes > MAX_TAIL_BYTES) {
        this.#tails.delete(cloud);
      }
    }
  }

  /**
   * Up to `limit` records of `cloud` with an id above `afterId`, or
   * undefined when the tail cannot tell (none, or it starts above `afterId`).
   * Records up to `afterId` are forgotten: a drain only moves forward.
   */
  read(cloud: string, afterId: number, limit: number): StoredRecord[] | undefined {
    const tail = this.#tails.get(cloud);
    if (!tail || afterId < tail.after) return undefined;
    const { records } = tail;
    while (tail.head < records.length && records[tail.head].id <= afterId) {
      const { payload } = records[tail.head];
      tail.bytes -= typeof payload === "string" ? payload.length : payload.byteLength;
      tail.head++;
    }
    tail.after = afterId;
    if (tail.head === records.length) {
      records.length = 0;
      tail.head = 0;
      return [];
    }
    const found = records.slice(tail.head, tail.head + limit);
    if (tail.head >= MAX_TAIL_RECORDS / 2) {
      records.splice(0, tail.head);
      tail.head = 0;
    }
    return found;
  }

  /** Drops the tail of `cloud` (its bound dropped records). */
  forget(cloud: string): void {
    this.#tails.delete(cloud);
  }

  /** Drops every tail. */
  clear(): void {
    this.#tails.clear();
  }
}
