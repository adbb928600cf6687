import { deepEqual, equal } from "node:assert/strict";
import { type AnyActorLogic, createActor, SimulatedClock } from "xstate";
import { dpsRegistrationMachine, type DpsResult } from "../../machines/azure_dps.ts";
import type { DpsOutcome } from "../../protocols/azure_dps.ts";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { RecordingSession } from "../helpers/fake_session.ts";
import { AzureCredentials, memoryCredentialStorage } from "../../actors/azure/credentials.ts";
import { renewalDelayMs, sasRenewal } from "../../actors/azure/token.ts";
import { parseSasToken } from "../../protocols/azure_sas.ts";
import { MqttConnectError } from "../../protocols/mqtt_errors.ts";
import { azureUnreachableFields } from "../../actors/azure/config.ts";
import { z } from "zod";

function dps(input = {}) {
  const clock = new SimulatedClock();
  const sent: string[] = [];
  const machine = dpsRegistrationMachine.provide({
    actions: {
      sendRegister: () => void sent.push(`register@${clock.now()}`),
      sendPoll: (_, { operationId }) => void sent.push(`poll ${operationId}@${clock.now()}`),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { minBackoffMs: 1000, maxBackoffMs: 8000, replyTimeoutMs: 30_000, ...input },
  });
  const reply = (outcome: DpsOutcome) => actor.send({ type: "dps.reply", outcome });
  const result = () => actor.getSnapshot().output as DpsResult | undefined;
  actor.start();
  return { clock, sent, actor, reply, result };
}

Deno.test("DPS registration waits retry-after between status polls until assigned", () => {
  const { clock, sent, reply, result } = dps();
  reply({ kind: "assigning", operationId: "op1", retryAfterSec: 3 });
  clock.increment(2999);
  deepEqual(sent, ["register@0"]);
  clock.increment(1);
  deepEqual(sent, ["register@0", "poll op1@3000"]);
  reply({ kind: "assigning", operationId: "op1" });
  clock.increment(3000);
  equal(sent.length, 3, "the default poll interval without retry-after");
  reply({ kind: "assigned", hub: "h", deviceId: "d" });
  deepEqual(result(), { kind: "assigned", hub: "h", deviceId: "d" });
});

Deno.test("DPS throttling (>= 429) backs off exponentially, honours retry-after, and gives up after maxAttempts", () => {
  const { clock, sent, reply, result } = dps({ maxAttempts: 3 });
  reply({ kind: "throttled", status: 429 });
  clock.increment(999);
  equal(sent.length, 1);
  clock.increment(1);
  equal(sent.length, 2, "first backoff 1000 ms");
  reply({ kind: "throttled", status: 503, retryAfterSec: 5 });
  clock.increment(4999);
  equal(sent.length, 2, "retry-after 5 s beats the 2000 ms backoff");
  clock.increment(1);
  equal(sent.length, 3);
  reply({ kind: "throttled", status: 429 });
  equal(result()?.kind, "failed");
  equal(
    (result() as { reason: string }).reason,
    "DPS still throttles (status 429) after 3 attempts",
  );
});

Deno.test("a DPS 4xx fails at once with the service's reason; silence counts as an attempt", () => {
  const first = dps();
  first.reply({ kind: "failed", status: 401, reason: "DPS refused the registration with 401" });
  deepEqual(first.result(), { kind: "failed", reason: "DPS refused the registration with 401" });

  const silent = dps({ maxAttempts: 2, replyTimeoutMs: 100 });
  silent.clock.increment(100);
  silent.clock.increment(1000);
  equal(silent.sent.length, 2);
  silent.clock.increment(100);
  equal(silent.result()?.kind, "failed");
});

Deno.test("a throttled poll goes back to polling the same operation, not registering again", () => {
  const { clock, sent, reply } = dps();
  reply({ kind: "assigning", operationId: "op9", retryAfterSec: 1 });
  clock.increment(1000);
  reply({ kind: "throttled", status: 429 });
  clock.increment(1000);
  deepEqual(sent, ["register@0", "poll op9@1000", "poll op9@2000"]);
});

const KEY = btoa("0123456789abcdef0123456789abcdef");

Deno.test("the SAS token is renewed by reconnecting at 80 % of its life, never before (simulated clock)", async () => {
  const clock = new SimulatedClock();
  const epoch = 1_700_000_000_000;
  const credentials = new AzureCredentials({
    cloud: "t",
    deviceId: "d1",
    deviceKey: KEY,
    tokenTtlSec: 3600,
    hub: "h.net",
    canProvision: false,
    storage: memoryCredentialStorage(),
    now: () => epoch + clock.now(),
  });
  await credentials.load();
  const login = await credentials.login();
  equal(parseSasToken(login.password!).se, String(epoch / 1000 + 3600));
  equal(login.url, "mqtts://h.net:8883");
  const link = new MqttLink("t");
  let reconnects = 0;
  const actor = createActor(
    sasRenewal({
      cloud: "t",
      link,
      credentials,
      reconnect: () => reconnects++,
      clock,
    }) as AnyActorLogic,
  );
  actor.start();
  const session = new RecordingSession({ autoAck: true });
  await link.attach(session);
  clock.increment(renewalDelayMs(0, 3_600_000) - 1);
  equal(reconnects, 0);
  clock.increment(1);
  equal(reconnects, 1, "renewed at 2880 s");
  // The reconnect signs a new token whose expiry is later.
  link.detach();
  const next = await credentials.login();
  equal(parseSasToken(next.password!).se, String((epoch + 2_880_000) / 1000 + 3600));
  await link.attach(session);
  clock.increment(2_880_000);
  equal(reconnects, 2);
  actor.stop();
  clock.increment(10_000_000);
  equal(reconnects, 2, "no timer after stop");
});

Deno.test("cached credentials are used only for the same device and key; otherwise DPS is asked", async () => {
  const storage = memoryCredentialStorage();
  await storage.persist({ hubName: "h.net", deviceId: "d1", deviceKey: KEY });
  const make = (deviceId: string, deviceKey: string) =>
    new AzureCredentials({
      cloud: "t",
      deviceId,
      deviceKey,
      tokenTtlSec: 60,
      canProvision: true,
      storage,
    });
  const same = make("d1", KEY);
  await same.load();
  equal(same.source, "cached");
  const otherKey = make("d1", btoa("another-key-0123456789abcdef0123"));
  await otherKey.load();
  equal(otherKey.source, undefined, "a changed key means provisioning again");
  const controller = new AbortController();
  await otherKey.waitForDemand(controller.signal); // resolves: DPS is wanted
  const otherDevice = make("d2", KEY);
  await otherDevice.load();
  equal(otherDevice.current, undefined);
});

Deno.test("the hub's third refusal (CONNACK 4/5) makes DPS run again; network errors are no refusals", async () => {
  const storage = memoryCredentialStorage();
  await storage.persist({ hubName: "h.net", deviceId: "d1", deviceKey: KEY });
  const credentials = new AzureCredentials({
    cloud: "t",
    deviceId: "d1",
    deviceKey: KEY,
    tokenTtlSec: 60,
    canProvision: true,
    storage,
  });
  await credentials.load();
  let demanded = false;
  const controller = new AbortController();
  credentials.waitForDemand(controller.signal).then(() => (demanded = !controller.signal.aborted));
  // Fewer than the 10 unanswered connects that would send it to DPS on their own.
  const network = new MqttConnectError("Cannot connect to MQTT broker: connect ECONNREFUSED");
  const refused = Object.assign(new Error("not authorized"), { returnCode: 5 });
  for (let i = 0; i < 6; i++) await credentials.login(network);
  await Promise.resolve();
  equal(demanded, false, "network errors are not refusals");
  await credentials.login(refused);
  await credentials.login(refused);
  equal(demanded, false);
  const waiting = credentials.login(refused); // the third refusal: DPS is asked, the login waits
  await Promise.resolve();
  equal(demanded, true);
  await credentials.provisioned({ hub: "h2.net", deviceId: "d1" });
  equal((await waiting).url, "mqtts://h2.net:8883");
  controller.abort();
});

Deno.test("a hub that does not answer N connects within T sends the cloud back to DPS; slower failures and other errors do not", async () => {
  const storage = memoryCredentialStorage();
  await storage.persist({ hubName: "gone.net", deviceId: "d1", deviceKey: KEY });
  let now = 1_700_000_000_000;
  const credentials = new AzureCredentials({
    cloud: "t",
    deviceId: "d1",
    deviceKey: KEY,
    tokenTtlSec: 60,
    canProvision: true,
    storage,
    unreachableConnects: 3,
    unreachableWindowMs: 60_000,
    now: () => now,
  });
  await credentials.load();
  let demanded = false;
  const controller = new AbortController();
  credentials.waitForDemand(controller.signal).then(() => (demanded = !controller.signal.aborted));
  const unanswered = new MqttConnectError(
    "Cannot connect to MQTT broker mqtts://gone.net:8883: getaddrinfo ENOTFOUND gone.net",
  );
  // One every 30 s: never 3 within 60 s.
  for (let i = 0; i < 6; i++) {
    await credentials.login(unanswered);
    now += 30_000;
  }
  // Not failed connects: the credentials hook failed, or resubscribing after a CONNACK did.
  for (let i = 0; i < 6; i++) await credentials.login(new Error("could not restore subscriptions"));
  await Promise.resolve();
  equal(demanded, false, "no 3 unanswered connects within 60 s yet");
  now += 60_000;
  await credentials.login(unanswered);
  now += 10_000;
  await credentials.login(unanswered);
  equal(demanded, false);
  now += 10_000;
  const waiting = credentials.login(unanswered); // the third within 60 s: DPS, the login waits
  await Promise.resolve();
  equal(demanded, true);
  await credentials.provisioned({ hub: "h2.net", deviceId: "d1" });
  equal((await waiting).url, "mqtts://h2.net:8883");
  controller.abort();
});

Deno.test("the unreachable-hub keys default to 10 connects within 900 s and are checked", () => {
  const schema = z.strictObject(azureUnreachableFields);
  deepEqual(schema.parse({}), { unreachableConnects: 10, unreachableWindowSec: 900 });
  equal(schema.safeParse({ unreachableConnects: 0 }).success, false);
  equal(schema.safeParse({ unreachableWindowSec: 1.5 }).success, false);
});
