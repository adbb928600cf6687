import assert from "node:assert/strict";
import { type AddressInfo, connect, createServer } from "node:net";
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../actors/store/mod.ts";
import {
  Outbox,
  type OutboxDrop,
  type OutboxOptions,
  type StoredRecord,
} from "../../actors/telemetry/mod.ts";
import { SeqAllocator } from "../../actors/telemetry/seq_allocator.ts";

async function withStateDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "outpost_outbox_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` with a fresh outbox; closes it and its database afterwards. */
function withOutbox(
  fn: (outbox: Outbox, dir: string, db: DatabaseSync) => Promise<void> | void,
  options: OutboxOptions = {},
): Promise<void> {
  return withStateDir(async (dir) => {
    const db = openDatabase(dir);
    const outbox = new Outbox(db, options);
    try {
      await fn(outbox, dir, db);
    } finally {
      outbox.close();
      db.close();
    }
  });
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function record(i: number, topic = "outpost/d1/telemetry/t") {
  return { topic, payload: `{"i":${i}}`, qos: 1 as const };
}

/** A stored payload as text: a text payload comes back as the string it was. */
const text = (payload: string | Uint8Array) =>
  typeof payload === "string" ? payload : new TextDecoder().decode(payload);

function storedSeq(dir: string): number {
  const db = openDatabase(dir);
  try {
    const row = db.prepare(
      "SELECT value FROM outbox_counters WHERE name = 'seq' AND cloud = ''",
    ).get() as { value: number } | undefined;
    return row?.value ?? 0;
  } finally {
    db.close();
  }
}

/** Allocates `count` seqs and commits one record carrying each; returns the seqs. */
async function appendSeqs(outbox: Outbox, count: number): Promise<number[]> {
  const first = outbox.nextSeq(count);
  const seqs = Array.from({ length: count }, (_, i) => first + i);
  await outbox.append("c8y", seqs.map((seq) => record(seq)));
  return seqs;
}

Deno.test("nextSeq hands out consecutive numbers that keep increasing across close and reopen", async () => {
  await withStateDir(async (dir) => {
    let db = openDatabase(dir);
    let outbox = new Outbox(db);
    assert.deepEqual([outbox.nextSeq(), outbox.nextSeq(), outbox.nextSeq()], [1, 2, 3]);
    assert.equal(outbox.nextSeq(5), 4, "a range of 5 starts at 4");
    assert.equal(outbox.nextSeq(), 9);
    await outbox.append("c8y", [record(9)]);
    outbox.close();
    db.close();

    db = openDatabase(dir);
    outbox = new Outbox(db);
    try {
      assert.equal(outbox.nextSeq(), 10, "a clean close leaves no gap");
      assert.equal(outbox.nextSeq(2500), 11, "a range larger than a block is handed out whole");
      assert.equal(outbox.nextSeq(), 2511);
    } finally {
      outbox.close();
      db.close();
    }
  });
});

Deno.test("the seq high-water mark commits in the same transaction as the records that carry it", async () => {
  await withStateDir(async (dir) => {
    const db = openDatabase(dir);
    const outbox = new Outbox(db);
    try {
      assert.equal(outbox.nextSeq(), 1);
      assert.equal(storedSeq(dir), 0, "handing out a number writes nothing");
      await outbox.append("c8y", [record(1)]);
      assert.equal(storedSeq(dir), 2, "the commit of seq 1 stores 2 as the next free number");
      await appendSeqs(outbox, 99);
      assert.equal(storedSeq(dir), 101);
      const commits = outbox.commits;
      outbox.ack("c8y", [1]);
      outbox.size("c8y");
      assert.equal(outbox.commits, commits + 1);
      assert.equal(storedSeq(dir), 101, "an ack-only commit leaves the mark alone");
    } finally {
      outbox.close();
      db.close();
    }
  });
});

Deno.test("after a crash seqs continue right after the last committed record: no gap, no repeat of a stored one", async () => {
  await withStateDir(async (dir) => {
    const crashedDb = openDatabase(dir);
    const crashed = new Outbox(crashedDb);
    const committed = await appendSeqs(crashed, 10);
    // Handed out, never committed: no consumer can have seen these.
    crashed.nextSeq(5);
    // The process "dies": no close(), the next run opens the same file.
    const db = openDatabase(dir);
    const next = new Outbox(db);
    try {
      assert.equal(next.nextSeq(), committed.at(-1)! + 1, "dense: the first unused number");
      const rows = next.peek("c8y", 0, 100).map((r) => JSON.parse(text(r.payload)).i);
      assert.deepEqual(rows, committed, "every committed record is there, nothing else");
    } finally {
      next.close();
      crashedDb.close();
      db.close();
    }
  });
});

Deno.test("with a ceiling file, a lost database never makes seqs go backwards", async () => {
  await withStateDir(async (dir) => {
    const ceilingFile = `${dir}/outpost.seq`;
    let db = openDatabase(dir);
    let outbox = new Outbox(db, { seqCeilingFile: ceilingFile, seqBlock: 100 });
    const committed = await appendSeqs(outbox, 150);
    assert.equal(outbox.seqRecovery, undefined);
    outbox.close();
    db.close();
    assert.equal(Number(Deno.readTextFileSync(ceilingFile)), 151, "raised past the range");

    // The database is emptied (0 bytes) and its WAL is gone.
    for (const suffix of ["-wal", "-shm"]) {
      await Deno.remove(`${dir}/outpost.db${suffix}`).catch(() => {});
    }
    Deno.writeFileSync(`${dir}/outpost.db`, new Uint8Array());
    db = openDatabase(dir);
    outbox = new Outbox(db, { seqCeilingFile: ceilingFile, seqBlock: 100 });
    try {
      const first = outbox.nextSeq();
      assert.ok(first > committed.at(-1)!, `seq ${first} must be above ${committed.at(-1)}`);
      assert.deepEqual(outbox.seqRecovery, { ceilingFile, firstSeq: 151 });
    } finally {
      outbox.close();
      db.close();
    }
  });
});

Deno.test("the ceiling file is raised by twice the last step when that lasted under a second", async () => {
  await withStateDir((dir) => {
    const db = openDatabase(dir);
    new Outbox(db).close();
    const ceilingFile = `${dir}/outpost.seq`;
    let now = 0;
    const seqs = new SeqAllocator(db, { block: 100, ceilingFile, now: () => now });
    const ceiling = () => Number(Deno.readTextFileSync(ceilingFile));
    const useUpTo = (seq: number) => {
      while (seqs.next() < seq);
    };
    try {
      assert.equal(seqs.next(), 1);
      assert.equal(ceiling(), 101, "the first step is the block");
      now = 500;
      useUpTo(101);
      assert.equal(ceiling(), 301, "used up in 0.5 s: twice the step");
      now = 700;
      useUpTo(301);
      assert.equal(ceiling(), 701);
      now = 5_000;
      useUpTo(701);
      assert.equal(ceiling(), 1101, "lasted between 1 and 10 s: the same step");
      now = 20_000;
      useUpTo(1101);
      assert.equal(ceiling(), 1301, "lasted over 10 s: half the step, never below the block");
      now = 40_000;
      useUpTo(1301);
      assert.equal(ceiling(), 1401);
    } finally {
      db.close();
    }
  });
});

Deno.test("a ceiling file that holds no number is refused with its path", async () => {
  await withStateDir((dir) => {
    Deno.writeTextFileSync(`${dir}/outpost.seq`, "garbage");
    const db = openDatabase(dir);
    try {
      assert.throws(
        () => new Outbox(db, { seqCeilingFile: `${dir}/outpost.seq` }),
        /outpost\.seq" holds "garbage", not a positive integer/,
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("nextSeq refuses a count that is not a positive integer", async () => {
  await withOutbox((outbox) => {
    assert.throws(() => outbox.nextSeq(0), /count must be a positive integer, got 0/);
    assert.throws(() => outbox.nextSeq(1.5), /count must be a positive integer, got 1.5/);
  });
});

Deno.test("appends made in the same tick commit in one transaction, and resolve only once committed", async () => {
  await withOutbox(async (outbox, dir) => {
    const appends = Array.from({ length: 50 }, (_, i) => outbox.append("c8y", [record(i)]));
    const reader = openDatabase(dir);
    try {
      const count = reader.prepare("SELECT count(*) AS n FROM outbox_records");
      assert.equal((count.get() as { n: number }).n, 0, "nothing is on disk before the commit");
      await Promise.all(appends);
      assert.equal((count.get() as { n: number }).n, 50, "everything is on disk once they resolve");
      assert.equal(outbox.commits, 1);

      await Promise.all([outbox.append("c8y", [record(50)]), outbox.append("aws", [record(51)])]);
      assert.equal(outbox.commits, 2, "appends for several clouds share a commit too");
    } finally {
      reader.close();
    }
  });
});

Deno.test("group commit is capped by the batch size", async () => {
  await withOutbox(async (outbox) => {
    await Promise.all(Array.from({ length: 25 }, (_, i) => outbox.append("c8y", [record(i)])));
    assert.equal(outbox.commits, 3, "10 + 10 + 5");
    assert.equal(outbox.size("c8y"), 25);
  }, { batchSize: 10 });
});

Deno.test("a producer awaiting batch after batch lets the agent's sockets in while it appends", async () => {
  const server = createServer((socket) => socket.on("data", (data) => socket.write(data)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = connect((server.address() as AddressInfo).port, "127.0.0.1");
  await new Promise<void>((resolve) => client.once("connect", resolve));
  try {
    await withOutbox(async (outbox) => {
      let echoed = false;
      client.once("data", () => echoed = true);
      client.write("ping");
      let batches = 0;
      while (!echoed && batches < 20_000) {
        await Promise.all(Array.from({ length: 10 }, (_, i) => outbox.append("c8y", [record(i)])));
        batches++;
      }
      assert.ok(echoed, `no socket was read during ${batches} batches`);
    }, { batchSize: 10 });
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("peek returns a cloud's records oldest first, after an id, up to a limit", async () => {
  await withOutbox(async (outbox) => {
    await outbox.append("c8y", [record(0), record(1)]);
    await outbox.append("aws", [record(100)]);
    await outbox.append("c8y", [record(2), record(3), record(4)]);
    const all = outbox.peek("c8y", 0, 100);
    assert.deepEqual(all.map((r) => text(r.payload)), [0, 1, 2, 3, 4].map((i) => `{"i":${i}}`));
    assert.ok(all.every((r, i) => i === 0 || r.id > all[i - 1].id), "ids increase");
    assert.deepEqual(outbox.peek("c8y", all[1].id, 2).map((r) => r.id), [all[2].id, all[3].id]);
    assert.deepEqual(outbox.peek("aws", 0, 10).map((r) => text(r.payload)), ['{"i":100}']);
    assert.deepEqual(outbox.peek("nobody", 0, 10), []);
  });
});

Deno.test("a reader that caught up gets each new record as SQLite stores it, ids included", async () => {
  await withOutbox(async (outbox, dir) => {
    await outbox.append("c8y", [record(0)]);
    const [first] = outbox.peek("c8y", 0, 10);
    assert.deepEqual(outbox.peek("c8y", first.id, 10), [], "caught up");
    // Several clouds, several appends and more rows than one insert statement, in one commit.
    await Promise.all([
      outbox.append("c8y", Array.from({ length: 40 }, (_, i) => record(i + 1))),
      outbox.append("aws", [record(100), record(101)]),
      outbox.append("c8y", [{
        topic: "a/bin",
        payload: new Uint8Array([1, 2]),
        qos: 0,
        retain: true,
      }]),
    ]);
    const fromMemory = outbox.peek("c8y", first.id, 100);
    const db = openDatabase(dir);
    const other = new Outbox(db);
    try {
      const plain = (records: StoredRecord[]) => records.map((r) => ({ ...r }));
      assert.deepEqual(plain(fromMemory), plain(other.peek("c8y", first.id, 100)));
      assert.deepEqual(plain(outbox.peek("aws", 0, 10)), plain(other.peek("aws", 0, 10)));
      assert.equal(fromMemory.length, 41);
      assert.deepEqual(fromMemory.at(-1), {
        id: fromMemory.at(-1)!.id,
        topic: "a/bin",
        payload: new Uint8Array([1, 2]),
        qos: 0,
        retain: true,
      });
      assert.deepEqual(outbox.peek("c8y", fromMemory[9].id, 2), fromMemory.slice(10, 12));
    } finally {
      other.close();
      db.close();
    }
  });
});

Deno.test("a reader that falls far behind, or whose records the bound dropped, reads them from SQLite", async () => {
  await withOutbox(async (outbox) => {
    await outbox.append("c8y", [record(0)]);
    const cursor = outbox.peek("c8y", 0, 10)[0].id;
    outbox.peek("c8y", cursor, 10);
    await outbox.append("c8y", Array.from({ length: 2000 }, (_, i) => record(i + 1)));
    const all = outbox.peek("c8y", cursor, 5000);
    assert.deepEqual(all.map((r) => JSON.parse(text(r.payload)).i), range(1, 2001));
  });
  await withOutbox(async (outbox) => {
    await outbox.append("c8y", [record(0)]);
    const cursor = outbox.peek("c8y", 0, 10)[0].id;
    outbox.peek("c8y", cursor, 10);
    await outbox.append("c8y", Array.from({ length: 8 }, (_, i) => record(i + 1)));
    assert.deepEqual(
      outbox.peek("c8y", cursor, 10).map((r) => JSON.parse(text(r.payload)).i),
      [4, 5, 6, 7, 8],
      "the oldest four were dropped, in memory too",
    );
  }, { maxRecords: 5 });
});

Deno.test("payload bytes, qos and retain round-trip unchanged", async () => {
  await withOutbox(async (outbox) => {
    const bytes = new Uint8Array([0, 1, 127, 128, 254, 255]);
    await outbox.append("c8y", [
      { topic: "a/bin", payload: bytes, qos: 0 },
      { topic: "a/text", payload: "température ✓", qos: 1, retain: true },
      { topic: "a/empty", payload: "", qos: 1, retain: false },
    ]);
    bytes[0] = 99; // the caller's buffer is not aliased
    const [bin, txt, empty] = outbox.peek("c8y", 0, 10);
    assert.deepEqual(bin.payload, new Uint8Array([0, 1, 127, 128, 254, 255]));
    assert.ok(bin.payload instanceof Uint8Array);
    assert.deepEqual([bin.topic, bin.qos, bin.retain], ["a/bin", 0, false]);
    assert.equal(txt.payload, "température ✓", "text stays the string it was, not bytes");
    assert.deepEqual([txt.qos, txt.retain], [1, true]);
    assert.equal(empty.payload, "");
  });
});

Deno.test("a text payload with a lone surrogate is stored as its UTF-8 encoding", async () => {
  await withOutbox(async (outbox) => {
    await outbox.append("c8y", [{ topic: "a/b", payload: "x\ud800y", qos: 1 }]);
    const [stored] = outbox.peek("c8y", 0, 1);
    assert.deepEqual(stored.payload, new TextEncoder().encode("x\ud800y"));
  });
});

Deno.test("ack deletes the records, hides them from peek at once and survives a reopen", async () => {
  await withStateDir(async (dir) => {
    let db = openDatabase(dir);
    let outbox = new Outbox(db);
    await outbox.append("c8y", Array.from({ length: 5 }, (_, i) => record(i)));
    const ids = outbox.peek("c8y", 0, 5).map((r) => r.id);
    outbox.ack("c8y", [ids[0], ids[1], ids[3]]);
    assert.deepEqual(outbox.peek("c8y", 0, 2).map((r) => r.id), [ids[2], ids[4]]);
    assert.equal(outbox.size("c8y"), 2);
    outbox.ack("c8y", [ids[2]]);
    outbox.ack("aws", [ids[4]]); // another cloud's ack does not touch c8y's records
    outbox.close();
    db.close();

    db = openDatabase(dir);
    outbox = new Outbox(db);
    try {
      assert.deepEqual(outbox.peek("c8y", 0, 10).map((r) => r.id), [ids[4]]);
      assert.equal(outbox.size("c8y"), 1);
    } finally {
      outbox.close();
      db.close();
    }
  });
});

Deno.test("acks made in the same tick are deleted in one commit", async () => {
  await withOutbox(async (outbox) => {
    await outbox.append("c8y", Array.from({ length: 20 }, (_, i) => record(i)));
    const before = outbox.commits;
    for (const r of outbox.peek("c8y", 0, 20)) outbox.ack("c8y", [r.id]);
    assert.equal(outbox.size("c8y"), 0);
    assert.equal(outbox.commits, before + 1);
  });
});

/** Timers that fire only when the test advances time. */
class ManualClock {
  #now = 0;
  #next = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();

  setTimeout = (fn: () => void, ms: number): number => {
    this.#timers.set(++this.#next, { at: this.#now + ms, fn });
    return this.#next;
  };

  clearTimeout = (id: number): void => void this.#timers.delete(id);

  get pending(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    this.#now += ms;
    const due = [...this.#timers].filter(([, t]) => t.at <= this.#now).sort((a, b) =>
      a[1].at - b[1].at
    );
    for (const [id, { fn }] of due) {
      this.#timers.delete(id);
      fn();
    }
  }
}

Deno.test("acks are deleted with the next append, at ackBatch, or ackDelayMs later, whichever comes first", async () => {
  const clock = new ManualClock();
  await withOutbox(async (outbox, dir) => {
    const reader = openDatabase(dir);
    const onDisk = () =>
      (reader.prepare("SELECT count(*) AS n FROM outbox_records").get() as { n: number }).n;
    try {
      const appended = outbox.append("c8y", Array.from({ length: 10 }, (_, i) => record(i)));
      clock.advance(0);
      await appended;
      const ids = outbox.peek("c8y", 0, 10).map((r) => r.id);
      let commits = outbox.commits;

      outbox.ack("c8y", [ids[0], ids[1]]);
      clock.advance(0);
      assert.equal(outbox.commits, commits, "two acks wait");
      assert.equal(onDisk(), 10);
      assert.deepEqual(
        outbox.peek("c8y", 0, 2).map((r) => r.id),
        [ids[2], ids[3]],
        "but are hidden",
      );
      clock.advance(999);
      assert.equal(outbox.commits, commits);
      clock.advance(1);
      assert.equal(outbox.commits, ++commits, "deleted ackDelayMs after the first");
      assert.equal(onDisk(), 8);

      outbox.ack("c8y", [ids[2], ids[3]]);
      const more = outbox.append("c8y", [record(10)]);
      clock.advance(0);
      await more;
      assert.equal(outbox.commits, ++commits, "an append's commit takes the acks along");
      assert.equal(onDisk(), 7);
      assert.equal(clock.pending, 0, "no ack timer is left behind");

      outbox.ack("c8y", ids.slice(4, 8));
      clock.advance(0);
      assert.equal(outbox.commits, ++commits, "ackBatch acks commit in the same turn");
      assert.equal(onDisk(), 3);
      assert.equal(clock.pending, 0);
    } finally {
      reader.close();
    }
  }, { clock, ackBatch: 4, ackDelayMs: 1000 });
});

Deno.test("a cloud over its bound loses its oldest records, counts them and reports them", async () => {
  await withStateDir(async (dir) => {
    let db = openDatabase(dir);
    let outbox = new Outbox(db, { maxRecords: 5 });
    const drops: OutboxDrop[] = [];
    outbox.onDrop((drop) => drops.push(drop));
    await outbox.append("c8y", Array.from({ length: 8 }, (_, i) => record(i)));
    await outbox.append("aws", Array.from({ length: 5 }, (_, i) => record(i)));
    assert.equal(outbox.size("c8y"), 5);
    assert.deepEqual(
      outbox.peek("c8y", 0, 10).map((r) => text(r.payload)),
      [3, 4, 5, 6, 7].map((i) => `{"i":${i}}`),
    );
    assert.deepEqual(drops, [{ cloud: "c8y", dropped: 3, total: 3 }]);

    await outbox.append("c8y", [record(8), record(9)]);
    assert.deepEqual(drops.at(-1), { cloud: "c8y", dropped: 2, total: 5 });
    assert.equal(outbox.dropped("c8y"), 5);
    assert.equal(outbox.dropped("aws"), 0, "a cloud at its bound loses nothing");
    assert.equal(outbox.size("aws"), 5);
    outbox.close();
    db.close();

    db = openDatabase(dir);
    outbox = new Outbox(db, { maxRecords: 5 });
    try {
      assert.equal(outbox.dropped("c8y"), 5, "the count survives a restart");
      assert.equal(outbox.size("c8y"), 5);
    } finally {
      outbox.close();
      db.close();
    }
  });
});

Deno.test("onAppend wakes only the listeners of the cloud that got records, after the commit", async () => {
  await withOutbox(async (outbox, dir) => {
    const woken: string[] = [];
    const reader = openDatabase(dir);
    try {
      outbox.onAppend("c8y", () => {
        const { n } = reader.prepare("SELECT count(*) AS n FROM outbox_records").get() as {
          n: number;
        };
        woken.push(`c8y:${n}`);
      });
      const stop = outbox.onAppend("aws", () => woken.push("aws"));
      await outbox.append("c8y", [record(1), record(2)]);
      stop();
      await outbox.append("aws", [record(3)]);
      assert.deepEqual(woken, ["c8y:2"]);
    } finally {
      reader.close();
    }
  });
});

Deno.test("close commits pending appends and acks", async () => {
  await withStateDir(async (dir) => {
    let db = openDatabase(dir);
    let outbox = new Outbox(db);
    await outbox.append("c8y", [record(0)]);
    const [first] = outbox.peek("c8y", 0, 1);
    outbox.ack("c8y", [first.id]);
    const pending = outbox.append("c8y", [record(1)]);
    outbox.close();
    await pending;
    await assert.rejects(outbox.append("c8y", [record(2)]), /outbox of cloud "c8y": it is closed/);
    db.close();

    db = openDatabase(dir);
    outbox = new Outbox(db);
    try {
      assert.deepEqual(outbox.peek("c8y", 0, 10).map((r) => text(r.payload)), ['{"i":1}']);
    } finally {
      outbox.close();
      db.close();
    }
  });
});

Deno.test("append rejects a bad record, naming the cloud, the record and the problem", async () => {
  await withOutbox(async (outbox) => {
    const bad = async (records: unknown[], pattern: RegExp, cloud = "c8y") =>
      // deno-lint-ignore no-explicit-any
      await assert.rejects(outbox.append(cloud, records as any), pattern);
    await bad(
      [record(0), { topic: "", payload: "x", qos: 1 }],
      /record 1 to the outbox of cloud "c8y": a topic name cannot be empty/,
    );
    await bad([{ topic: "a/+/b", payload: "x", qos: 1 }], /cannot contain "\+", "#"/);
    await bad([{ topic: "a", payload: "x", qos: 2 }], /topic "a"\): qos must be 0 or 1, got 2/);
    await bad([{ topic: "a", payload: "x", qos: "1" }], /qos must be 0 or 1, got "1"/);
    await bad([{ topic: "a", payload: 42, qos: 1 }], /payload must be a string or Uint8Array/);
    await bad([{ topic: "a", payload: "x", qos: 1, retain: "yes" }], /retain must be a boolean/);
    await bad([record(0)], /cloud must be a non-empty string, got ""/, "");
    assert.equal(outbox.size("c8y"), 0, "a batch with one bad record is refused whole");

    await outbox.append("a-cloud-nobody-configured", [record(0)]);
    assert.equal(outbox.size("a-cloud-nobody-configured"), 1);
  });
});
