/**
 * The real support module (actors/support) for a local API test world, so
 * that apps on the mutual-TLS port see the agent's own broadcasts: access
 * changes an app makes, and chats a cloud opens and writes in. The cloud is
 * a stand-in `SupportPort` that nobody listens to; chat rooms are taken as
 * running (no room actor is needed for chats that only receive).
 */
import { DatabaseSync } from "node:sqlite";
import type { SupportSection } from "../../actors/agent/config_types.ts";
import type { LocalApiModule } from "../../actors/local_api/mod.ts";
import { supportModule, SupportService } from "../../actors/support/mod.ts";

const BASE = "outpost/dev-1";

const CONFIG: SupportSection = {
  access: {
    FileTransfer: "Allowed",
    RemoteView: "Allowed",
    RemoteControl: "Allowed",
    ScreenRecording: "Allowed",
  },
  ports: { FileTransfer: [], RemoteView: [], RemoteControl: [], ScreenRecording: [] },
  defaultFeature: "RemoteControl",
  confirmationTimeoutSec: 5,
  connectionRequestTimeoutSec: 5,
  sendTimeoutSec: 5,
};

/** The support module and the cloud side of its chats. */
export interface LocalSupport {
  module: LocalApiModule;
  /** The cloud opens chat `chatId`: every app gets `chatCreated`. */
  openChat(chatId: string): void;
  /** The cloud writes `content` in chat `chatId`: every app gets `receivedMessages`. */
  say(chatId: string, content: string): void;
  close(): void;
}

/** A support service on its own in-memory database, with one cloud attached. */
export function localSupport(): LocalSupport {
  const db = new DatabaseSync(":memory:");
  const service = new SupportService({ db, config: CONFIG, deviceId: "dev-1" });
  const unbind = service.bind({
    startChild: () => Promise.resolve("room"),
    terminateChild: () => Promise.resolve(),
    has: () => true,
    sendTo: () => true,
  });
  const cloud = service.channel.attach({
    cloud: "test",
    base: BASE,
    connected: () => false,
    publish: () => Promise.reject(new Error("the test cloud does not publish")),
  });
  const receive = (topic: string, body: unknown) =>
    cloud.receive(topic, new TextEncoder().encode(JSON.stringify(body)));
  return {
    module: supportModule(service),
    openChat: (chatId) =>
      receive(`${BASE}/support/chat/${chatId}/created`, {
        title: "Support",
        endpointType: "Machine",
        endpointId: "2032226623",
      }),
    say: (chatId, content) =>
      receive(`${BASE}/support/chat/${chatId}/messages`, {
        messages: [{
          messageId: crypto.randomUUID(),
          content,
          timeStamp: new Date().toISOString(),
          sender: "Supporter",
        }],
      }),
    close() {
      cloud.detach();
      unbind();
      db.close();
    },
  };
}
