import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { type AnyActorRef, createActor, SimulatedClock } from "xstate";
import { child, createSystem, supervisor, type SystemEvent } from "../../actors/runtime/mod.ts";
import { MqttLink, type MqttSession, type PublishOptions } from "../../actors/mqtt/link.ts";
import { openDatabase } from "../../actors/store/mod.ts";
import { Outbox } from "../../actors/telemetry/mod.ts";
import { DRAIN_WINDOW as W, outboxDrain } from "../../actors/telemetry/drain.ts";

const CLOUD = "local";
const decoder = new TextDecoder();

interface Held {
  payload: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * One MQTT connection as the link sees it. Publishes await a PUBACK that
 * arrives on the next macrotask (`auto`) or when the test releases it
 * (`hold`); `failAt: n` drops the connection at the n-th publish, rejecting
 * it and every publish still unacknowledged, as mqtt.js does.
 */
class FakeSession implements MqttSession {
  readonly published: ({ topic: string; payload: string } & Required<PublishOptions>)[] = [];
  /** Payloads whose publish resolved, in the order they resolved. */
  readonly acknowledged: string[] = [];
  maxUnresolved = 0;
  #held: Held[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dropped = false;
  #waiters = new Set<() => void>();

  constructor(readonly options: { hold?: boolean; failAt?: number } = {}) {}

  get unresolved(): number {
    return this.#held.length;
  }

  publish(topic: string, payload: string | Uint8Array, options: Required<PublishOptions>) {
    if (this.#dropped) return Promise.reject(new Error("connection lost"));
    if (this.published.length === this.options.failAt) {
      this.drop();
      return Promise.reject(new Error("connection lost"));
    }
    const text = typeof payload === "string" ? payload : decoder.decode(payload);
    this.published.push({ topic, payload: text, ...options });
    const done = new Promise<void>((resolve, reject) => {
      this.#held.push({ payload: text, resolve, reject });
    });
    this.maxUnresolved = Math.max(this.maxUnresolved, this.#held.length);
    if (!this.options.hold) this.#timer ??= setTimeout(() => this.#ackAll(), 0);
    this.#wake();
    return done;
  }

  subscribe(): Promise<void> {
    return Promise.resolve();
  }

  unsubscribe(): Promise<void> {
    return Promise.resolve();
  }

  /** Acknowledges `count` held publishes, the oldest first or in `order`. */
  release(count: number, order: (held: Held[]) => Held[] = (h) => h): void {
    const chosen = order([...this.#held]).slice(0, count);
    this.#held = this.#held.filter((h) => !chosen.includes(h));
    for (const h of chosen) {
      this.acknowledged.push(h.payload);
      h.resolve();
    }
    this.#wake();
  }

  /** The connection is gone: every unacknowledged publish fails. */
  drop(): void {
    this.#dropped = true;
    this.close();
    for (const h of this.#held) h.reject(new Error("connection lost"));
    this.#held = [];
    this.#wake();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves once `check()` holds, re-checked after every publish and release. */
  when(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(test);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting until ${what}`));
      }, timeoutMs);
      const test = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.#waiters.delete(test);
        resolve();
      };
      this.#waiters.add(test);
      test();
    });
  }

  #ackAll(): void {
    this.#timer = undefined;
    this.release(this.#held.length);
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Resolves when the actor's snapshot matches `state`; rejects after `timeoutMs`. */
function reach(actor: AnyActorRef, state: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(
        new Error(
          `The drain did not reach "${state}" within ${timeoutMs} ms (in ${
            JSON.stringify(actor.getSnapshot().value)
          })`,
        ),
      );
    }, timeoutMs);
    const check = (snapshot: { matches(s: string): boolean }) => {
      if (!snapshot.matches(state)) return false;
      clearTimeout(timer);
      queueMicrotask(() => subscription.unsubscribe());
      resolve();
      return true;
    };
    const subscription = actor.subscribe({ next: check, error: reject });
    check(actor.getSnapshot());
  });
}

async function withOutbox(fn: (outbox: Outbox, db: DatabaseSync) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "outpost_drain_" });
  const db = openDatabase(dir);
  const outbox = new Outbox(db);
  try {
    await fn(outbox, db);
  } finally {
    outbox.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function fill(outbox: Outbox, count: number, from = 0): Promise<void> {
  for (let start = from; start < from + count; start += 1000) {
    const n = Math.min(1000, from + count - start);
    await outbox.append(
      CLOUD,
      Array.from({ length: n }, (_, i) => ({
        topic: `outpost/d1/telemetry/s${(start + i) % 3}`,
        payload: String(start + i),
        qos: 1 as const,
      })),
    );
  }
}

const numbers = (payloads: string[]) => payloads.map(Number);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

// A small seeded generator, so a failing order can be replayed.
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("records appended while the link is down are all published in id order once it connects, then acked", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const actor = createActor(outboxDrain(outbox, { link, cloud: CLOUD })).start();
    const session = new FakeSession();
    try {
      await fill(outbox, 10_000);
      assert.ok(actor.getSnapshot().matches("waiting"));
      assert.equal(outbox.size(CLOUD), 10_000);

      await link.attach(session);
      await reach(actor, "idle");
      assert.deepEqual(numbers(session.published.map((p) => p.payload)), range(0, 10_000));
      assert.deepEqual(session.published[4], {
        topic: "outpost/d1/telemetry/s1",
        payload: "4",
        qos: 1,
        retain: false,
      });
      assert.equal(outbox.size(CLOUD), 0, "every acknowledged record was deleted");
      assert.ok(session.maxUnresolved <= W);
    } finally {
      actor.stop();
      session.close();
    }
  });
});

Deno.test("after a connection drop the drain resumes from the oldest unacked record: nothing lost, order kept", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const actor = createActor(outboxDrain(outbox, { link, cloud: CLOUD, retryMs: 60_000 })).start();
    const first = new FakeSession({ failAt: 4321 });
    const second = new FakeSession();
    try {
      await fill(outbox, 10_000);
      await link.attach(first);
      await first.when(() => first.published.length === 4321, "the connection dropped");
      // The publish rejected before the connection actor noticed: the drain stops on its own.
      await reach(actor, "waiting");
      assert.equal(link.connected, true);
      const delivered = new Set(numbers(first.acknowledged));
      assert.ok(delivered.size < 4321, "some publishes were in flight when it dropped");
      assert.equal(outbox.size(CLOUD), 10_000 - delivered.size, "exactly the PUBACKed ones left");

      link.detach();
      await link.attach(second);
      await reach(actor, "idle");

      const resent = numbers(second.published.map((p) => p.payload));
      const resumeAt = resent[0];
      assert.deepEqual(resent, range(resumeAt, 10_000), "the rest arrives in id order");
      const firstMissing = range(0, 10_000).find((n) => !delivered.has(n))!;
      assert.ok(resumeAt <= firstMissing, `resumed at ${resumeAt}, after ${firstMissing} was lost`);
      const everything = new Set([...delivered, ...resent]);
      assert.equal(everything.size, 10_000, "nothing is missing");
      const duplicates = delivered.size + resent.length - everything.size;
      assert.ok(duplicates <= W, `${duplicates} duplicates, at most one window`);
      assert.equal(outbox.size(CLOUD), 0);
    } finally {
      actor.stop();
      first.close();
      second.close();
    }
  });
});

Deno.test("a connection drop reported by the link while draining sends the drain back to waiting", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const actor = createActor(outboxDrain(outbox, { link, cloud: CLOUD })).start();
    const first = new FakeSession({ hold: true });
    const second = new FakeSession();
    try {
      await fill(outbox, 300);
      await link.attach(first);
      await first.when(() => first.unresolved === W, "the window is full");
      first.release(10);
      await first.when(() => first.published.length === W + 10, "the window refilled");
      link.detach();
      first.drop();
      assert.ok(actor.getSnapshot().matches("waiting"));

      await link.attach(second);
      await reach(actor, "idle");
      assert.deepEqual(numbers(second.published.map((p) => p.payload)), range(10, 300));
    } finally {
      actor.stop();
      first.close();
      second.close();
    }
  });
});

Deno.test("never more than `window` publishes await their PUBACK, whatever order the PUBACKs come in", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const window = 16;
    const total = 600;
    const actor = createActor(outboxDrain(outbox, { link, cloud: CLOUD, window, batch: 50 }))
      .start();
    const session = new FakeSession({ hold: true });
    const next = random(7);
    try {
      await fill(outbox, total);
      await link.attach(session);
      while (session.acknowledged.length < total) {
        const expected = Math.min(window, total - session.acknowledged.length);
        await session.when(() => session.unresolved === expected, `${expected} are in flight`);
        const count = 1 + Math.floor(next() * session.unresolved);
        session.release(count, (held) => held.sort(() => next() - 0.5));
      }
      await reach(actor, "idle");
      assert.equal(session.maxUnresolved, window, "the window is used, and never exceeded");
      assert.deepEqual(numbers(session.published.map((p) => p.payload)), range(0, total));
      assert.equal(outbox.size(CLOUD), 0);
    } finally {
      actor.stop();
      session.close();
    }
  });
});

Deno.test("an idle drain publishes new records as soon as they are committed", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const actor = createActor(outboxDrain(outbox, { link, cloud: CLOUD })).start();
    const session = new FakeSession();
    try {
      await link.attach(session);
      await reach(actor, "idle");
      await outbox.append(CLOUD, [{ topic: "t/r", payload: "kept", qos: 0, retain: true }]);
      await outbox.append("other-cloud", [{ topic: "t/x", payload: "not mine", qos: 1 }]);
      await session.when(() => session.acknowledged.length === 1, "the new record was published");
      await reach(actor, "idle");
      assert.deepEqual(session.published, [{
        topic: "t/r",
        payload: "kept",
        qos: 0,
        retain: true,
      }]);
      assert.equal(outbox.size(CLOUD), 0);
      assert.equal(outbox.size("other-cloud"), 1, "another cloud's records are not this drain's");

      link.detach();
      assert.ok(actor.getSnapshot().matches("waiting"));
    } finally {
      actor.stop();
      session.close();
    }
  });
});

Deno.test("after a pass that ended empty the next one starts after the last acknowledged record", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const actor = createActor(outboxDrain(outbox, { link, cloud: CLOUD })).start();
    const session = new FakeSession();
    const peeks: number[] = [];
    const peek = outbox.peek.bind(outbox);
    outbox.peek = (cloud, afterId, limit) => (peeks.push(afterId), peek(cloud, afterId, limit));
    try {
      await fill(outbox, 5);
      await link.attach(session);
      await reach(actor, "idle");
      const last = outbox.peek(CLOUD, 0, 5).at(-1);
      assert.equal(last, undefined, "all five were acknowledged");
      peeks.length = 0;

      await fill(outbox, 1, 5);
      await session.when(() => session.acknowledged.length === 6, "the new record was published");
      await reach(actor, "idle");
      assert.deepEqual(numbers(session.published.map((p) => p.payload)), range(0, 6));
      assert.ok(peeks.length > 0);
      assert.ok(
        peeks.every((afterId) => afterId >= peeks[0] && afterId > 0),
        `the second pass read from ${peeks.join(", ")}, not from the start`,
      );
    } finally {
      actor.stop();
      session.close();
    }
  });
});

Deno.test("a producer that commits again before idleAfterMs keeps the pass: no idle in between", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const actor = createActor(outboxDrain(outbox, { link, cloud: CLOUD, idleAfterMs: 10_000 }))
      .start();
    const entered: string[] = [];
    let last = "";
    actor.subscribe((snapshot) => {
      const state = JSON.stringify(snapshot.value);
      if (state !== last) entered.push(last = state);
    });
    const session = new FakeSession();
    try {
      await link.attach(session);
      for (let round = 0; round < 3; round++) {
        await fill(outbox, 5, round * 5);
        await session.when(
          () => session.acknowledged.length === (round + 1) * 5,
          `commit ${round} was published`,
        );
      }
      assert.deepEqual(numbers(session.published.map((p) => p.payload)), range(0, 15));
      assert.deepEqual(entered, ['"draining"'], "one pass for the three commits");
    } finally {
      actor.stop();
      session.close();
    }
  });
});

Deno.test("a publish refused while the link stays up is retried after retryMs", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const clock = new SimulatedClock();
    const actor = createActor(outboxDrain(outbox, { link, cloud: CLOUD, retryMs: 1000 }), {
      clock,
    });
    let refusals = 1;
    const session = new FakeSession();
    const refusing: MqttSession = {
      publish: (topic, payload, options) =>
        refusals-- > 0
          ? Promise.reject(new Error("PUBACK reason 0x97: quota exceeded"))
          : session.publish(topic, payload, options),
      subscribe: () => Promise.resolve(),
      unsubscribe: () => Promise.resolve(),
    };
    try {
      actor.start();
      await fill(outbox, 5);
      await link.attach(refusing);
      await reach(actor, "waiting");
      clock.increment(999);
      assert.ok(actor.getSnapshot().matches("waiting"), "no retry before retryMs");
      clock.increment(1);
      await reach(actor, "idle");
      // 1..4 were already on the wire when 0 was refused; the retry starts over from 0.
      assert.deepEqual(numbers(session.published.map((p) => p.payload)), [
        1,
        2,
        3,
        4,
        0,
        1,
        2,
        3,
        4,
      ]);
      assert.equal(outbox.size(CLOUD), 0);
    } finally {
      actor.stop();
      session.close();
    }
  });
});

Deno.test("outpost.stop mid-drain ends the drain gracefully and leaves unacked records in the outbox", async () => {
  await withOutbox(async (outbox) => {
    const link = new MqttLink(CLOUD);
    const system = createSystem(
      supervisor("telemetry", {}, [
        child(`drain:${CLOUD}`, outboxDrain(outbox, { link, cloud: CLOUD })),
      ]),
    );
    const events: SystemEvent[] = [];
    system.subscribe((event) => events.push(event));
    const session = new FakeSession({ hold: true });
    try {
      await system.start();
      await fill(outbox, 200);
      await link.attach(session);
      await session.when(() => session.unresolved === W, "the window is full");
      session.release(10);
      await session.when(() => session.published.length === W + 10, "the window refilled");
      assert.equal(system.get(`telemetry/drain:${CLOUD}`)?.getSnapshot().value, "draining");

      await system.stop();
      assert.ok(
        events.some((e) =>
          e.type === "stopped" && e.path === `telemetry/drain:${CLOUD}` && !e.forced
        ),
        "it reached its final state within its budget",
      );
      session.release(W); // PUBACKs that arrive after the stop are not acked
      await Promise.resolve();
      assert.equal(session.published.length, W + 10, "nothing is published after the stop");
      assert.equal(outbox.size(CLOUD), 190, `the ${W} in flight stay, to be resent next run`);
      assert.deepEqual(
        numbers(
          outbox.peek(CLOUD, 0, 1).map((r) =>
            typeof r.payload === "string" ? r.payload : decoder.decode(r.payload)
          ),
        ),
        [10],
      );
    } finally {
      session.close();
    }
  });
});
