/**
 * Seq partitions: the simulated devices of `outpost fleet` share one outbox
 * and each numbers its records densely from its own counter, with the
 * guarantees of the device's own seq (committed with the records, no gap
 * and no visible repeat after a crash), and the device's own seq untouched.
 */
import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../actors/store/mod.ts";
import { Outbox } from "../../actors/telemetry/mod.ts";
import { TelemetryRouter } from "../../actors/agent/telemetry_router.ts";

async function withStateDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fleet-seq-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function storedSeq(db: DatabaseSync, partition: string): number | undefined {
  const row = db.prepare("SELECT value FROM outbox_counters WHERE name = 'seq' AND cloud = ?")
    .get(partition) as { value: number } | undefined;
  return row?.value;
}

const record = (seq: number) => ({
  topic: "outpost/x/telemetry/t",
  payload: `${seq}`,
  qos: 1 as const,
});

Deno.test("each seq partition counts from 1 on its own, beside the device's own seq", async () => {
  await withStateDir((dir) => {
    const db = openDatabase(dir);
    const outbox = new Outbox(db);
    try {
      assert.deepEqual(
        [outbox.nextSeq(1, "sim-1"), outbox.nextSeq(1, "sim-2"), outbox.nextSeq(1, "sim-1")],
        [1, 1, 2],
      );
      assert.equal(outbox.nextSeq(3, "sim-2"), 2, "a range of 3 starts after the last one");
      assert.equal(outbox.nextSeq(1, "sim-2"), 5);
      assert.equal(outbox.nextSeq(), 1, "the device's own seq is not moved by partitions");
      assert.throws(() => outbox.nextSeq(1, ""), /partition must be a non-empty string/);
      assert.throws(() => outbox.nextSeq(0, "sim-1"), /count must be a positive integer/);
    } finally {
      outbox.close();
      db.close();
    }
  });
});

Deno.test("a partition's next number commits with the records that carry it and survives a reopen", async () => {
  await withStateDir(async (dir) => {
    let db = openDatabase(dir);
    let outbox = new Outbox(db);
    const first = outbox.nextSeq(1, "sim-1");
    assert.equal(storedSeq(db, "sim-1"), undefined, "handing out a number writes nothing");
    await outbox.append("hub/sim-1", [record(first)]);
    assert.equal(storedSeq(db, "sim-1"), 2, "stored with the commit of seq 1");
    outbox.nextSeq(1, "sim-1");
    outbox.close();
    db.close();

    db = openDatabase(dir);
    outbox = new Outbox(db);
    try {
      assert.equal(outbox.nextSeq(1, "sim-1"), 2, "a number no record carried is handed out again");
      assert.equal(outbox.nextSeq(1, "sim-2"), 1);
    } finally {
      outbox.close();
      db.close();
    }
  });
});

Deno.test("after a crash a partition continues right after its last committed record", async () => {
  await withStateDir(async (dir) => {
    const crashedDb = openDatabase(dir);
    const crashed = new Outbox(crashedDb);
    for (let i = 0; i < 5; i++) {
      await crashed.append("hub/sim-1", [record(crashed.nextSeq(1, "sim-1"))]);
    }
    // Handed out and never committed: no consumer can have seen them.
    crashed.nextSeq(4, "sim-1");
    const db = openDatabase(dir);
    const next = new Outbox(db);
    try {
      assert.equal(next.nextSeq(1, "sim-1"), 6, "dense: the first number no record carries");
    } finally {
      next.close();
      crashedDb.close();
      db.close();
    }
  });
});

Deno.test("a router with a seq partition numbers telemetry and events from it", async () => {
  await withStateDir(async (dir) => {
    const db = openDatabase(dir);
    const outbox = new Outbox(db);
    const encoder = {
      name: "hub/sim-7",
      telemetry: (seq: number) => record(seq),
      event: (seq: number) => record(seq),
    };
    const router = new TelemetryRouter(outbox, [encoder], "sim-7");
    const shared = new TelemetryRouter(outbox, [{ ...encoder, name: "hub" }]);
    try {
      assert.equal(await router.publish("t", { v: 1 }), 1);
      assert.equal(
        await shared.publish("t", { v: 1 }),
        1,
        "a router without one keeps the device's seq",
      );
      assert.equal(await router.event("e", "text"), 2);
      assert.equal(await router.publish("t", { v: 2 }), 3);
      assert.deepEqual(outbox.peek("hub/sim-7", 0, 10).map((r) => r.payload), ["1", "2", "3"]);
    } finally {
      outbox.close();
      db.close();
    }
  });
});
