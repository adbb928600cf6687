import { deepEqual, equal } from "node:assert/strict";
import { createActor, SimulatedClock } from "xstate";
import { confirmationMachine } from "../../machines/support_confirmation.ts";
import { AccessControl } from "../../actors/support/access_control.ts";
import { ChatStore } from "../../actors/support/chat_store.ts";
import { openDatabase } from "../../actors/store/database.ts";
import type { Access, Feature } from "../../protocols/support_api.ts";

function start(timeoutMs: number) {
  const clock = new SimulatedClock();
  let asked = 0;
  const actor = createActor(
    confirmationMachine.provide({ actions: { ask: () => void asked++ } }),
    { input: { timeoutMs }, clock },
  ).start();
  return { actor, clock, asked: () => asked };
}

Deno.test("a confirmation asks once on entry and the first answer wins", () => {
  const { actor, asked } = start(1000);
  equal(asked(), 1);
  actor.send({ type: "reject" });
  actor.send({ type: "accept" });
  equal(actor.getSnapshot().status, "done");
  equal(actor.getSnapshot().output, "rejected");
});

Deno.test("a confirmation not answered within its timeout is timedOut, not a moment before", () => {
  const { actor, clock } = start(60_000);
  clock.increment(59_999);
  equal(actor.getSnapshot().status, "active");
  clock.increment(1);
  equal(actor.getSnapshot().output, "timedOut");
  actor.send({ type: "accept" });
  equal(actor.getSnapshot().output, "timedOut");
});

Deno.test("a confirmation can be cancelled, and then is neither accepted nor timed out", () => {
  const { actor, clock } = start(10);
  actor.send({ type: "cancel" });
  clock.increment(100);
  equal(actor.getSnapshot().output, "cancelled");
});

async function withDb(run: (db: ReturnType<typeof openDatabase>) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "outpost_support_" });
  const db = openDatabase(dir);
  try {
    await run(db);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function accessControl(db: ReturnType<typeof openDatabase>, clock: SimulatedClock, apps = 1) {
  const events: string[] = [];
  const access = new AccessControl(db, {
    defaults: {
      FileTransfer: "Allowed",
      RemoteView: "Allowed",
      RemoteControl: "AfterConfirmation",
      ScreenRecording: "Denied",
    },
    featureByPort: { "5900": "RemoteView" },
    defaultFeature: "RemoteControl",
    confirmationTimeoutMs: 30_000,
    anyoneToAsk: () => apps > 0,
    clock,
    events: {
      accessChanged: (f: Feature, a: Access) => void events.push(`changed ${f} ${a}`),
      accessRequest: (f: Feature) => void events.push(`request ${f}`),
    },
  });
  return { access, events };
}

const tunnel = (port: number) => ({ id: "t-1", cloud: "c", target: { host: "127.0.0.1", port } });

Deno.test("access check: tunnels map to features by port; requests for one feature share one question", async () => {
  await withDb(async (db) => {
    const clock = new SimulatedClock();
    const { access, events } = accessControl(db, clock);
    deepEqual(await access.check(tunnel(5900)), { allowed: true });
    const first = access.check(tunnel(22));
    const second = access.check(tunnel(23));
    await Promise.resolve();
    deepEqual(events, ["request RemoteControl"]);
    equal(access.answer("RemoteControl", true), true);
    deepEqual(await first, { allowed: true });
    deepEqual(await second, { allowed: true });
    equal(access.answer("RemoteControl", true), false, "nothing waits any more");
  });
});

Deno.test("access check: an unanswered question is denied when its timeout passes on the clock", async () => {
  await withDb(async (db) => {
    const clock = new SimulatedClock();
    const { access } = accessControl(db, clock);
    const pending = access.check(tunnel(22));
    await Promise.resolve();
    clock.increment(30_000);
    deepEqual(await pending, {
      allowed: false,
      reason: "RemoteControl was not confirmed within 30 s",
    });
  });
});

Deno.test("access levels are stored, defaults apply until set, and accessChanged fires only on a change", async () => {
  await withDb((db) => {
    const clock = new SimulatedClock();
    const { access, events } = accessControl(db, clock);
    equal(access.get("ScreenRecording"), "Denied");
    equal(access.set("ScreenRecording", "Denied"), false);
    equal(access.set("ScreenRecording", "Allowed"), true);
    deepEqual(events, ["changed ScreenRecording Allowed"]);
    const again = accessControl(db, clock).access;
    equal(again.get("ScreenRecording"), "Allowed");
  });
});

Deno.test("the chat store pages history backwards and skips repeated message ids", async () => {
  await withDb((db) => {
    const store = new ChatStore(db);
    const chatId = crypto.randomUUID();
    equal(
      store.create({ chatId, title: "t", endpointType: "Machine", endpointId: "1", cloud: "c" }),
      true,
    );
    equal(
      store.create({ chatId, title: "t", endpointType: "Machine", endpointId: "1", cloud: "c" }),
      false,
    );
    const messages = Array.from({ length: 5 }, (_, i) => ({
      chatId,
      messageId: crypto.randomUUID(),
      content: `m${i}`,
      timeStamp: new Date(i * 1000).toISOString(),
      sender: "s",
    }));
    equal(store.add(messages).length, 5);
    equal(store.add([messages[0]]).length, 0);
    const last = store.page(chatId, 2)!;
    deepEqual([last.messages.map((m) => m.content), last.hasMore], [["m3", "m4"], true]);
    const rest = store.page(chatId, 10, last.messages[0].messageId)!;
    deepEqual([rest.messages.map((m) => m.content), rest.hasMore], [["m0", "m1", "m2"], false]);
    equal(store.page(chatId, 2, crypto.randomUUID()), undefined);
    equal(store.close(chatId), true);
    equal(store.get(chatId)?.closed, true);
    equal(store.deleteChat(chatId), true);
    equal(store.page(chatId, 5)?.messages.length, 0);
  });
});
