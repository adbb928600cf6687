/**
 * The acks an Outbox has taken but not yet deleted, per cloud. When they
 * are deleted is the Outbox's to decide (outbox.ts); until then its `peek`
 * hides them, and a commit that fails hands them back to be kept again.
 */

/** Acks of one cloud waiting for their delete; `max` lets `peek` skip the check. */
interface CloudAcks {
  ids: number[];
  max: number;
}

/** Acked record ids of every cloud, waiting for the commit that deletes them. */
export class PendingAcks {
  #byCloud = new Map<string, CloudAcks>();
  #count = 0;

  /** Ids kept since the last {@link take}, over every cloud. */
  get count(): number {
    return this.#count;
  }

  /** Keeps `id` of `cloud` until the next {@link take}. */
  keep(cloud: string, id: number): void {
    let acks = this.#byCloud.get(cloud);
    if (!acks) this.#byCloud.set(cloud, acks = { ids: [], max: 0 });
    acks.ids.push(id);
    if (id > acks.max) acks.max = id;
    this.#count++;
  }

  /** The kept ids of `cloud` above `afterId`, those a read from there could meet; else undefined. */
  above(cloud: string, afterId: number): Set<number> | undefined {
    const acks = this.#byCloud.get(cloud);
    // Only acks above `afterId` can be among the rows: a pass that starts over.
    return acks !== undefined && acks.max > afterId
      ? new Set(acks.ids.filter((id) => id > afterId))
      : undefined;
  }

  /** Every kept id, per cloud; this starts over empty. */
  take(): ReadonlyMap<string, { readonly ids: readonly number[] }> {
    const taken = this.#byCloud;
    this.#byCloud = new Map();
    this.#count = 0;
    return taken;
  }
}
