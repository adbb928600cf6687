/**
 * The shadow sync actor on a link with a recording session in place of a
 * broker: what it publishes, and when.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { type AnyActorLogic, createActor } from "xstate";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { MAX_IN_FLIGHT, shadowSync } from "../../actors/aws/shadow.ts";
import { ShadowReplica } from "../../actors/aws/shadow_replica.ts";
import { until } from "../helpers/wait.ts";

const BASE = "$aws/things/pump-7/shadow";

async function started() {
  const published: { topic: string; body: Record<string, unknown> }[] = [];
  const link = new MqttLink("aws");
  await link.attach({
    publish: (topic, payload) => {
      published.push({ topic, body: JSON.parse(String(payload)) });
      return Promise.resolve();
    },
    subscribe: () => Promise.resolve(),
    unsubscribe: () => Promise.resolve(),
  });
  const replica = new ShadowReplica("aws", "classic");
  const actor = createActor(
    shadowSync({
      cloud: "aws",
      link,
      replica,
      thingName: () => Promise.resolve("pump-7"),
    }) as unknown as AnyActorLogic,
    { input: { requestTimeoutMs: 60_000, retryMs: 60_000 } },
  );
  actor.start();
  const deliver = (topic: string, body: unknown) =>
    link.deliver({
      topic: `${BASE}/${topic}`,
      payload: new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body)),
      retain: false,
    });
  await until("the get", () => published.some((p) => p.topic === `${BASE}/get`));
  deliver("get/accepted", {
    state: {},
    version: 3,
    timestamp: 1,
    clientToken: published[0].body.clientToken,
  });
  await until("in sync", () => String(actor.getSnapshot().value) === "synced");
  return { actor, link, replica, published, deliver };
}

Deno.test("the shadow actor keeps at most 10 requests in flight and sends the rest as answers come", async () => {
  const { actor, replica, published, deliver } = await started();
  for (let i = 0; i < 25; i++) replica.report({ [`k${i}`]: i });
  const updates = () => published.filter((p) => p.topic === `${BASE}/update`);
  await until("ten updates", () => updates().length === MAX_IN_FLIGHT);
  equal(updates().length, 10);
  deliver("update/accepted", {
    state: { reported: { k0: 0 } },
    version: 4,
    timestamp: 2,
    clientToken: updates()[0].body.clientToken,
  });
  await until("the eleventh", () => updates().length === 11);
  deliver("update/rejected", {
    code: 400,
    message: "bad",
    clientToken: updates()[1].body.clientToken,
  });
  await until("the twelfth", () => updates().length === 12);
  deepEqual(updates()[11].body.state, { reported: { k11: 11 } });
  actor.stop();
});

Deno.test("an unreadable delta is answered by reporting the state in effect; a typed handler refuses bad values", async () => {
  const { actor, replica, published, deliver } = await started();
  replica.handle("fan", (value) => {
    if (typeof value !== "number") throw new TypeError(`fan must be a number, got ${typeof value}`);
    return value;
  });
  replica.report({ fan: 1 });
  const updates = () => published.filter((p) => p.topic === `${BASE}/update`);
  await until("the report", () => updates().length === 1);
  deliver("update/delta", "{not json");
  await until("the state in effect", () => updates().length === 2);
  deepEqual(updates()[1].body.state, { reported: { fan: 1 } });
  deliver("update/delta", { state: { fan: "fast" }, version: 5, timestamp: 3 });
  await until("the refusal", () => updates().length === 3);
  deepEqual(updates()[2].body, {
    state: { reported: { fan: 1 } },
    clientToken: updates()[2].body.clientToken,
    version: 5,
  });
  deliver("update/delta", { state: { fan: 3 }, version: 6, timestamp: 4 });
  await until("the change", () => updates().length === 4);
  deepEqual(updates()[3].body.state, { reported: { fan: 3 } });
  equal(replica.reported.fan, 3);
  ok(actor.getSnapshot().status === "active");
  actor.stop();
});
