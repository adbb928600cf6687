/**
 * A revoked client gets nothing more (issue 11, item 1): whether the app
 * deprovisioned itself (`/delete`) or the operator rejected it, the agent
 * closes its open connections, the `/delete` reply still arriving first,
 * and the broadcasts another app causes (access changes, chats from the
 * cloud) reach only the clients still active. Real mutual TLS, the real
 * support module.
 */
import { deepEqual, equal } from "node:assert/strict";
import { type LocalApiWorld, startLocalApiWorld } from "../helpers/local_api_world.ts";
import {
  type ApiApp,
  type AppMessage,
  attemptConnect,
  connectApi,
  provisionApp,
} from "../helpers/local_api_app.ts";
import { type LocalSupport, localSupport } from "../helpers/local_api_support.ts";

const CHAT = "25666256-4fcf-41c0-9971-7343680d96dc";
const ACCESS_CHANGED = "/support/event/accessControl/accessChanged";
const RECEIVED = "/support/event/chat/receivedMessages";

interface SupportWorld {
  world: LocalApiWorld;
  support: LocalSupport;
  connect(name: string): Promise<ApiApp & { keyPem: string; certPem: string }>;
  stop(): Promise<void>;
}

async function supportWorld(): Promise<SupportWorld> {
  const support = localSupport();
  const world = await startLocalApiWorld({ modules: [support.module] });
  const apps: ApiApp[] = [];
  return {
    world,
    support,
    async connect(name) {
      const identity = await provisionApp(world.provisioningPort, world.caPem, name);
      const app = await connectApi(world.apiPort, world.caPem, identity);
      apps.push(app);
      return Object.assign(app, { keyPem: identity.keyPem, certPem: identity.certPem });
    },
    async stop() {
      for (const app of apps) await app.close();
      await world.stop();
      support.close();
    },
  };
}

function on(app: ApiApp, path: string, text?: string): (m: AppMessage) => boolean {
  return (m) => m.topic === `/v1.0/${app.clientId}${path}` && (!text || m.text.includes(text));
}

/** `app` sets RemoteControl to `access`: every active app hears accessChanged. */
async function setAccess(app: ApiApp, access: string): Promise<void> {
  await app.call(
    "/support/request/accessControl/setAccess",
    { feature: "RemoteControl", access },
    ["/support/event/accessControl/accessSet", "/support/event/accessControl/error"],
  );
}

/** What `app` received after the first message matching `match`. */
function after(app: ApiApp, match: (m: AppMessage) => boolean): AppMessage[] {
  const index = app.messages.findIndex(match);
  equal(index >= 0, true, "the message to count from was received");
  return app.messages.slice(index + 1);
}

/** B changes access and the cloud writes in a chat; resolves once B has heard both. */
async function broadcastsHeardBy(t: SupportWorld, b: ApiApp): Promise<void> {
  const changed = b.waitFor(on(b, ACCESS_CHANGED, "Denied"));
  await setAccess(b, "Denied");
  await changed;
  const said = b.waitFor(on(b, RECEIVED, "the secret"));
  t.support.openChat(CHAT);
  t.support.say(CHAT, "the secret is 1234");
  await said;
}

Deno.test("a deprovisioned app gets its delete reply, then its connection closes and no broadcast reaches it", async () => {
  const t = await supportWorld();
  try {
    const a = await t.connect("a");
    const b = await t.connect("b");
    // While active, A hears what B causes: the broadcasts below would reach it.
    const heard = a.waitFor(on(a, ACCESS_CHANGED, "AfterConfirmation"));
    await setAccess(b, "AfterConfirmation");
    await heard;

    const reply = await a.call("/delete", {}, ["/delete/info/inbox", "/delete/error/inbox"]);
    deepEqual([reply.topic, reply.body], [
      `/v1.0/${a.clientId}/delete/info/inbox`,
      { message: "Client was deprovisioned" },
    ]);
    await a.waitClosed();
    await broadcastsHeardBy(t, b);
    deepEqual(after(a, on(a, "/delete/info/inbox")), []);
  } finally {
    await t.stop();
  }
});

Deno.test("the operator's reject of an active client closes its connection, forgets its sensors, and no broadcast reaches it", async () => {
  const t = await supportWorld();
  try {
    const a = await t.connect("a");
    const b = await t.connect("b");
    await a.call("/sensor/create", { name: "s" }, ["/sensor/inbox"]);
    equal(t.world.api.sensorsOf(a.clientId).length, 1);

    await t.world.api.reject(a.clientId);
    await a.waitClosed();
    deepEqual(t.world.api.clients("revoked").map((c) => c.clientId), [a.clientId]);
    deepEqual(t.world.api.sensorsOf(a.clientId), []);
    await broadcastsHeardBy(t, b);
    deepEqual(after(a, on(a, "/sensor/inbox")), []);

    const again = await attemptConnect(t.world.apiPort, {
      ca: t.world.caPem,
      key: a.keyPem,
      cert: a.certPem,
    });
    if (again.connected) await again.client.endAsync(true);
    equal(again.connected, false, "a rejected client's certificate is refused at CONNECT");
  } finally {
    await t.stop();
  }
});
