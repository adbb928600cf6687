/**
 * The operation queue of a Cumulocity session against a link whose session
 * is a recording fake: every publish is kept with its PUBACK, which the test
 * gives (or withholds) by hand. So the tests see what goes out before which
 * PUBACK, with no broker and no clock.
 */
import { deepEqual, equal } from "node:assert/strict";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { RecordingSession } from "../helpers/fake_session.ts";
import {
  type OperationOutcome,
  OperationQueue,
  statusLineById,
} from "../../actors/c8y/operations.ts";
import { utf8Length } from "../../protocols/smartrest.ts";
import { OrderedPublisher } from "../../actors/c8y/ordered_publisher.ts";

/** Work whose outcome the test gives by hand, and that says when it started. */
function manualWork() {
  let finish!: (outcome: OperationOutcome) => void;
  let started = false;
  const outcome = new Promise<OperationOutcome>((resolve) => (finish = resolve));
  return {
    work: () => {
      started = true;
      return outcome;
    },
    get started() {
      return started;
    },
    finish,
  };
}

// Every promise reaction already due runs before the next task: with a fake
// session there is no I/O, so after this the queue has done all it can.
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function connectedLink() {
  const link = new MqttLink("c8y");
  const session = new RecordingSession();
  await link.attach(session);
  return { link, session };
}

const RA = "c8y_RemoteAccessConnect";

Deno.test("status lines of later operations are published before earlier PUBACKs arrive, in per-fragment order", async () => {
  const { link, session } = await connectedLink();
  const queue = new OperationQueue(link, { cloud: "c8y" });
  const tunnels = [manualWork(), manualWork(), manualWork()];
  const reported = tunnels.map((t) => queue.submit(RA, t.work));
  await settle();
  // All three 501s are out while none has its PUBACK.
  deepEqual(session.lines(), [`501,${RA}`, `501,${RA}`, `501,${RA}`]);
  equal(tunnels.some((t) => t.started), false, "work waits for its 501's PUBACK");

  session.ack(`501,${RA}`, `501,${RA}`, `501,${RA}`);
  await settle();
  equal(tunnels.every((t) => t.started), true);

  // The third tunnel is up first: its 503 waits for the first two outcomes.
  tunnels[2].finish({ ok: true });
  await settle();
  equal(session.sent.length, 3);
  tunnels[0].finish({ ok: true });
  await settle();
  deepEqual(session.lines().slice(3), [`503,${RA}`]);
  // The second fails: its 502 and the third's 503 follow at once, though the
  // first 503 has no PUBACK yet.
  tunnels[1].finish({ ok: false, reason: "refused" });
  await settle();
  deepEqual(session.lines().slice(3), [`503,${RA}`, `502,${RA},refused`, `503,${RA}`]);

  let done = 0;
  reported.forEach((r) => r.then(() => done++));
  await settle();
  equal(done, 0, "an operation is reported once its outcome is acknowledged");
  session.ack(`503,${RA}`, `502,${RA},refused`, `503,${RA}`);
  await Promise.all(reported);
  queue.close();
});

Deno.test("a fragment does not wait for another fragment's outcome or PUBACK", async () => {
  const { link, session } = await connectedLink();
  const queue = new OperationQueue(link, { cloud: "c8y" });
  const tunnel = manualWork();
  void queue.submit(RA, tunnel.work);
  const refused = queue.fail("c8y_Firmware", "Operation not supported by this agent");
  await settle();
  session.ack(`501,${RA}`, "501,c8y_Firmware");
  await settle();
  deepEqual(session.lines(), [
    `501,${RA}`,
    "501,c8y_Firmware",
    "502,c8y_Firmware,Operation not supported by this agent",
  ]);
  session.ack("502,c8y_Firmware,Operation not supported by this agent");
  await refused;
  tunnel.finish({ ok: true });
  queue.close();
});

Deno.test("a child device's operation is answered on s/us/<child>, in its own order", async () => {
  const { link, session } = await connectedLink();
  const queue = new OperationQueue(link, { cloud: "c8y" });
  void queue.fail("c8y_Restart", "no", { topic: "s/us/child-7" });
  await settle();
  session.ack("501,c8y_Restart");
  await settle();
  deepEqual(session.sent.map((s) => [s.topic, s.payload]), [
    ["s/us/child-7", "501,c8y_Restart"],
    ["s/us/child-7", "502,c8y_Restart,no"],
  ]);
  queue.close();
});

Deno.test("lines lost with the connection are published again in order, ahead of newer ones", async () => {
  const link = new MqttLink("c8y");
  const first = new RecordingSession();
  await link.attach(first);
  const out = new OrderedPublisher(link, { cloud: "c8y" });
  const results = ["501,a", "503,a", "501,b"].map((line) => out.publish("s/us", line));
  await settle();
  first.ack("501,a");
  // The connection drops: the session fails what is in flight, then the link goes down.
  first.drop(new Error("the connection closed"));
  link.detach();
  const later = out.publish("s/us", "502,b,x");
  await settle();

  const second = new RecordingSession();
  await link.attach(second);
  await settle();
  deepEqual(second.lines(), ["503,a", "501,b", "502,b,x"]);
  second.ack("503,a", "501,b", "502,b,x");
  deepEqual(await Promise.all([...results, later]), [true, true, true, true]);
  out.close();
});

Deno.test("closing drops what is queued, and an operation whose 501 never got out runs nothing", async () => {
  const link = new MqttLink("c8y");
  const queue = new OperationQueue(link, { cloud: "c8y" });
  const restart = manualWork();
  const reported = queue.submit("c8y_Restart", restart.work);
  queue.close();
  await reported;
  equal(restart.started, false);
  // Attaching later publishes nothing of it.
  const session = new RecordingSession();
  await link.attach(session);
  await settle();
  deepEqual(session.sent, []);
});

Deno.test("an operation addressed by id runs after its 504's PUBACK and answers 506 or 505 by id, whatever the order", async () => {
  const { link, session } = await connectedLink();
  const queue = new OperationQueue(link, { cloud: "c8y" });
  const first = manualWork();
  const second = manualWork();
  const reported = [queue.submitById("41", first.work), queue.submitById("42", second.work)];
  await settle();
  deepEqual(session.lines(), ["504,41", "504,42"]);
  equal(first.started || second.started, false, "work waits for its 504's PUBACK");
  session.ack("504,41", "504,42");
  await settle();
  // By id, a later operation may report first: its line names it.
  second.finish({ ok: true, params: ['{"level":4}'] });
  await settle();
  first.finish({ ok: false, reason: "busy, try later" });
  await settle();
  deepEqual(session.lines().slice(2), ['506,42,"{\\"level\\":4}"', '505,41,"busy, try later"']);
  session.ack('506,42,"{\\"level\\":4}"', '505,41,"busy, try later"');
  deepEqual(await Promise.all(reported), [true, true]);
  queue.close();
});

Deno.test("an operation by id whose 504 never got out runs nothing and says so", async () => {
  const link = new MqttLink("c8y");
  const queue = new OperationQueue(link, { cloud: "c8y" });
  const work = manualWork();
  const reported = queue.submitById("7", work.work);
  queue.close();
  equal(await reported, false);
  equal(work.started, false);
});

Deno.test("a line queued with report goes out between the lines queued before and after it", async () => {
  const { link, session } = await connectedLink();
  const queue = new OperationQueue(link, { cloud: "c8y" });
  void queue.submit("c8y_Configuration", () => {
    void queue.report("113,{}");
    return Promise.resolve({ ok: true });
  });
  await settle();
  session.ack("501,c8y_Configuration");
  await settle();
  deepEqual(session.lines(), ["501,c8y_Configuration", "113,{}", "503,c8y_Configuration"]);
  queue.close();
});

Deno.test("a 506 result or 505 reason too long for one publish is cut to fit, keeping the id", () => {
  const long = statusLineById("4711", { ok: true, params: ["x".repeat(20_000)] });
  equal(utf8Length(long) <= 16184, true);
  equal(long.startsWith("506,4711,x"), true);
  equal(long.endsWith(" …(truncated)"), true);
  const reason = statusLineById("4711", { ok: false, reason: "é".repeat(10_000) });
  equal(utf8Length(reason) <= 16184, true);
  equal(reason.startsWith("505,4711,é"), true);
});
