/**
 * The support service: sessions, access control, instant support and the
 * chats' store, with the two faces it shows the world. Local apps reach it
 * through the `support` module of the local API (local_requests.ts); the
 * remote side reaches it through every cloud's
 * `…/support/…` topics (the `SupportChannel` here). Chat rooms run as
 * actors under `agent/support/chats`, started through the running tree.
 */
import type { DatabaseSync } from "node:sqlite";
import {
  type Feature,
  SUPPORT_MODULES,
  type SupportModuleName,
} from "../../protocols/support_api.ts";
import {
  decodeChatCreated,
  decodeChatMessages,
  decodeEmpty,
  decodeInstantError,
  decodeSent,
  decodeSessionData,
  parseSupportTopic,
  type SupportDown,
  supportTopics,
} from "../../protocols/support_remote.ts";
import type { SupportSection } from "./config.ts";
import type { SupportChannel, SupportPort } from "../cloud/support.ts";
import type { LocalApiOutput } from "../local_api/module.ts";
import type { Clock } from "../runtime/clock.ts";
import { getLogger } from "../runtime/logging.ts";
import { child, type Spec } from "../runtime/spec.ts";
import { AccessControl } from "./access_control.ts";
import { chatRoom, type ChatRoomEvent, chatRoomId } from "./chat_room.ts";
import { ChatStore } from "./chat_store.ts";
import { InstantSupport } from "./instant_support.ts";
import { SessionRegistry } from "./sessions.ts";

/** What the service is built from. */
export interface SupportServiceOptions {
  db: DatabaseSync;
  config: SupportSection;
  /** `agent.deviceId`: the sender name of this device's chat messages. */
  deviceId: string;
  /** Timers of the confirmations; default the real clock. */
  clock?: Clock;
}

/** The parts of the running tree the service drives. */
export interface SupportRuntime {
  startChild(supervisorPath: string, spec: Spec): Promise<string>;
  terminateChild(supervisorPath: string, id: string): Promise<void>;
  /** True when a worker runs at `path`. */
  has(path: string): boolean;
  /** Sends an event to the worker at `path`; false when it does not run. */
  sendTo(path: string, event: ChatRoomEvent): boolean;
}

/**
 * Another place where a person sees support events and can answer access
 * requests: the web console (docs/console.md). It hears every broadcast to
 * apps, and `accessRequestEnded` besides.
 */
export interface SupportWatcher {
  /** An event of `module`, as broadcast to apps (or `accessRequestEnded`). */
  event(module: SupportModuleName, event: string, payload: Record<string, unknown>): void;
  /** True while someone there could answer an access request. */
  canAnswer(): boolean;
}

/** Where the chat rooms live in the agent's tree. */
export const CHATS_PATH = "agent/support/chats";

const log = getLogger("support");

/** The remote-support modules of one agent. */
export class SupportService {
  readonly sessions: SessionRegistry;
  readonly access: AccessControl;
  readonly instant: InstantSupport;
  readonly chats: ChatStore;
  readonly deviceId: string;
  #output: LocalApiOutput | undefined;
  #runtime: SupportRuntime | undefined;
  #ports = new Map<string, SupportPort>();
  #watchers = new Set<SupportWatcher>();

  constructor(readonly options: SupportServiceOptions) {
    const { config, db, clock } = options;
    this.deviceId = options.deviceId;
    this.sessions = new SessionRegistry({
      started: (sessionId, sessionsCount) =>
        this.broadcast("sessions", "sessionStarted", { sessionId, sessionsCount }),
      stopped: (sessionId, sessionsCount) =>
        this.broadcast("sessions", "sessionStopped", { sessionId, sessionsCount }),
    });
    this.access = new AccessControl(db, {
      defaults: config.access,
      featureByPort: Object.fromEntries(
        Object.entries(config.ports).flatMap(([feature, ports]) =>
          ports.map((port) => [String(port), feature as Feature])
        ),
      ),
      defaultFeature: config.defaultFeature,
      confirmationTimeoutMs: config.confirmationTimeoutSec * 1000,
      anyoneToAsk: () =>
        (this.#output?.connectedClients().length ?? 0) > 0 ||
        [...this.#watchers].some((w) => w.canAnswer()),
      clock,
      events: {
        accessChanged: (feature, access) =>
          this.broadcast("accessControl", "accessChanged", { feature, access }),
        accessRequest: (feature: Feature) =>
          this.broadcast("accessControl", "accessRequest", { feature }),
        accessRequestEnded: (feature, outcome) =>
          this.#tellWatchers("accessControl", "accessRequestEnded", { feature, outcome }),
      },
    });
    this.instant = new InstantSupport({
      publish: (appId, leaf, payload) =>
        this.#publishAny((topics) => topics.instant(appId, leaf), payload),
      send: (appId, event, payload) => this.send(appId, "instantSupport", event, payload),
      connectionRequestTimeoutMs: config.connectionRequestTimeoutSec * 1000,
      clock,
    });
    this.chats = new ChatStore(db);
  }

  /** The local API's output, for pushes that no request triggered. */
  attachOutput(output: LocalApiOutput): void {
    this.#output = output;
  }

  /** Binds the service to the running tree (chat rooms); the returned function unbinds it. */
  bind(runtime: SupportRuntime): () => void {
    this.#runtime = runtime;
    for (const chat of this.chats.list()) {
      this.ensureRoom(chat.chatId).catch((error) =>
        log.error("Cannot start the room of chat {chatId}: {error}", {
          chatId: chat.chatId,
          error,
        })
      );
    }
    return () => {
      if (this.#runtime === runtime) this.#runtime = undefined;
      this.access.cancelAll();
      this.instant.cancelAll();
    };
  }

  /** Sends `payload` as event `event` of `module` to app `clientId`. */
  send(
    clientId: string,
    module: SupportModuleName,
    event: string,
    payload: Record<string, unknown>,
  ): void {
    if (!this.#output) {
      log.debug("No local API output yet: {module}/{event} for {clientId} dropped", {
        module,
        event,
        clientId,
      });
      return;
    }
    this.#output.send(clientId, `/support/event/${module}/${event}`, payload);
  }

  /** Sends `payload` as event `event` of `module` to every connected app (and every watcher). */
  broadcast(module: SupportModuleName, event: string, payload: Record<string, unknown>): void {
    this.#output?.broadcast(`/support/event/${module}/${event}`, payload);
    this.#tellWatchers(module, event, payload);
  }

  /** Adds a watcher (the web console); returns a function that removes it. */
  watch(watcher: SupportWatcher): () => void {
    this.#watchers.add(watcher);
    return () => void this.#watchers.delete(watcher);
  }

  #tellWatchers(module: SupportModuleName, event: string, payload: Record<string, unknown>): void {
    for (const watcher of this.#watchers) {
      try {
        watcher.event(module, event, payload);
      } catch (error) {
        log.error("A support watcher failed on {module}/{event}: {error}", {
          module,
          event,
          error,
        });
      }
    }
  }

  /** Starts the room actor of `chatId` unless it runs. */
  async ensureRoom(chatId: string): Promise<void> {
    const runtime = this.#runtime;
    if (!runtime) throw new Error("the support service is not running");
    const id = chatRoomId(chatId);
    if (runtime.has(`${CHATS_PATH}/${id}`)) return;
    await runtime.startChild(
      CHATS_PATH,
      child(
        id,
        chatRoom(chatId, {
          store: this.chats,
          sender: this.deviceId,
          sendTimeoutMs: this.options.config.sendTimeoutSec * 1000,
          sendRemote: (id, ref, content) => this.#publishChat(id, ref, content),
          finished: (clientId, outcome) =>
            this.send(clientId, "chat", "sendMessageFinished", { ...outcome }),
        }),
        { restart: "transient", shutdownMs: 1000 },
      ),
    ).catch((error: Error & { code?: string }) => {
      // Two requests for the same room may race; the second start finds it running.
      if (error.code !== "duplicate_id") throw error;
    });
  }

  /** Sends an event to the room of `chatId`, starting it first when needed. */
  async toRoom(chatId: string, event: ChatRoomEvent): Promise<void> {
    await this.ensureRoom(chatId);
    if (!this.#runtime?.sendTo(`${CHATS_PATH}/${chatRoomId(chatId)}`, event)) {
      throw new Error(`the room of chat ${chatId} is not running`);
    }
  }

  /** Stops the room of a deleted chat. */
  async stopRoom(chatId: string): Promise<void> {
    await this.#runtime?.terminateChild(CHATS_PATH, chatRoomId(chatId)).catch(() => {});
  }

  /** Stops every session's tunnel; resolves with how many there were. */
  terminateAllSessions(): Promise<number> {
    return this.sessions.terminateAll(async (cloud, tunnel) => {
      if (!this.#runtime) throw new Error("the support service is not running");
      await this.#runtime.terminateChild(`agent/cloud:${cloud}/tunnels`, tunnel);
    });
  }

  /** The remote side of support on each cloud that carries it. */
  readonly channel: SupportChannel = {
    attach: (port) => {
      this.#ports.set(port.cloud, port);
      const base = port.base;
      return {
        filters: supportTopics(base).subscriptions,
        receive: (topic, payload) => {
          const down = parseSupportTopic(topic, base);
          if (!down) return;
          this.#fromRemote(port, down, payload).catch((error: Error) => {
            log.warn("Cloud {cloud}: cannot use a message on {topic}: {error}", {
              cloud: port.cloud,
              topic,
              error: error.message,
            });
            if (port.connected()) {
              port.publish(
                supportTopics(base).error,
                JSON.stringify({ topic, error: error.message }),
              ).catch(() => {});
            }
          });
        },
        detach: () => {
          if (this.#ports.get(port.cloud) === port) this.#ports.delete(port.cloud);
        },
      };
    },
  };

  async #fromRemote(port: SupportPort, down: SupportDown, payload: Uint8Array): Promise<void> {
    if (down.kind === "instant") {
      const { appId } = down;
      switch (down.leaf) {
        case "session":
          return this.instant.sessionData(appId, decodeSessionData(payload));
        case "error":
          return this.instant.remoteError(appId, decodeInstantError(payload));
        case "connection":
          decodeEmpty(payload, "Connection request");
          return this.instant.connectionRequest(appId);
      }
    }
    const { chatId } = down;
    switch (down.leaf) {
      case "created": {
        const chat = decodeChatCreated(payload);
        if (this.chats.create({ chatId, cloud: port.cloud, ...chat })) {
          log.info("Chat {chatId} created by {cloud}: {title}", {
            chatId,
            cloud: port.cloud,
            title: chat.title,
          });
          this.broadcast("chat", "chatCreated", { chatId, ...chat });
        }
        return await this.ensureRoom(chatId);
      }
      case "messages": {
        const messages = decodeChatMessages(payload);
        const chat = this.chats.get(chatId);
        if (!chat) throw new Error(`unknown chat ${chatId}: announce it on …/created first`);
        if (chat.closed) throw new Error(`chat ${chatId} is closed`);
        const added = this.chats.add(messages.map((m) => ({ chatId, ...m })));
        if (added.length > 0) this.broadcast("chat", "receivedMessages", { messages: added });
        return;
      }
      case "sent":
        return await this.toRoom(chatId, { type: "chat.sent", ack: decodeSent(payload) });
      case "closed":
        decodeEmpty(payload, "Chat close");
        if (this.chats.close(chatId)) this.broadcast("chat", "chatClosed", { chatId });
        return;
      case "removed":
        decodeEmpty(payload, "Chat removal");
        if (this.chats.deleteChat(chatId)) {
          await this.stopRoom(chatId);
          this.broadcast("chat", "chatsRemoved", { chatIds: [chatId] });
        }
        return;
    }
  }

  /** Publishes to the first connected cloud that carries support. */
  async #publishAny(
    topicOf: (topics: ReturnType<typeof supportTopics>) => string,
    payload: unknown,
  ): Promise<void> {
    const port = [...this.#ports.values()].find((p) => p.connected());
    if (!port) throw new Error("no cloud that carries support is connected");
    await port.publish(topicOf(supportTopics(port.base)), JSON.stringify(payload));
  }

  async #publishChat(chatId: string, ref: string, content: string): Promise<void> {
    const chat = this.chats.get(chatId);
    if (!chat) throw new Error(`unknown chat ${chatId}`);
    const port = this.#ports.get(chat.cloud);
    if (!port?.connected()) throw new Error(`cloud ${chat.cloud} is not connected`);
    await port.publish(
      supportTopics(port.base).chat(chatId, "send"),
      JSON.stringify({ ref, content }),
    );
  }
}

/** The support modules' names, for `hello`. */
export const SUPPORTED_MODULES: readonly SupportModuleName[] = SUPPORT_MODULES;
