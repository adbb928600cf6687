/**
 * The four modules of `AgentConnection`, with the seed's method and
 * callback names (PROTOCOLS.md §5). Methods resolve with the agent's answer
 * or reject with an `AgentRequestError` carrying its code; events arrive
 * through the callbacks each module's `setCallbacks` takes.
 */
import type {
  Access,
  CaseState,
  ChatEndpointType,
  ChatMessage,
  Feature,
  InstantSupportError,
  SendMessageResult,
  SupportModuleName,
} from "../../protocols/support_api.ts";
import type { InstantSupportRequest } from "../../protocols/support_instant.ts";

export type { ChatMessage } from "../../protocols/support_api.ts";

/** How a module talks through its connection. */
export interface ModuleLink {
  /** Sends a call and resolves with its answer. */
  request(
    module: SupportModuleName,
    call: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>>;
  /** Sends a call without waiting for an answer. */
  publish(module: SupportModuleName, call: string, body: Record<string, unknown>): void;
  /** True while the connection is Connected. */
  connected(): boolean;
  /** Routes the events of `module` to `handler`. */
  on(
    module: SupportModuleName,
    handler: (event: string, payload: Record<string, unknown>) => void,
  ): void;
}

/** A running session as the agent lists it. */
export interface RunningSession {
  /** A number for this session only. */
  sessionId: number;
  /** The cloud that opened the tunnel. */
  cloud: string;
  /** The tunnel actor id (`t-…`). */
  tunnel: string;
  /** `host:port` the tunnel reaches. */
  target: string;
  /** ISO-8601 time the session started. */
  startedAt: string;
}

/** Session management callbacks. */
export interface SessionCallbacks {
  /** A session started; `sessionsCount` includes it. */
  sessionStarted?: (sessionId: number, sessionsCount: number) => void;
  /** A session ended; `sessionsCount` is what is left. */
  sessionStopped?: (sessionId: number, sessionsCount: number) => void;
}

/** Session management: every remote-access tunnel is a session. */
export class SessionManagementModule {
  #callbacks: SessionCallbacks = {};

  /** Builds the module on a connection's link (`AgentConnection` does this). */
  constructor(private readonly link: ModuleLink) {
    link.on("sessions", (event, p) => {
      if (event === "sessionStarted") {
        this.#callbacks.sessionStarted?.(p.sessionId as number, p.sessionsCount as number);
      } else if (event === "sessionStopped") {
        this.#callbacks.sessionStopped?.(p.sessionId as number, p.sessionsCount as number);
      }
    });
  }

  /** True: every Outpost agent with the support API serves this module. */
  isSupported(): boolean {
    return true;
  }

  /** Replaces the callbacks. */
  setCallbacks(callbacks: SessionCallbacks): void {
    this.#callbacks = callbacks;
  }

  /** The running sessions. */
  async getRunningSessions(): Promise<RunningSession[]> {
    return (await this.link.request("sessions", "getRunningSessions", {}))
      .sessions as RunningSession[];
  }

  /** Stops every running session; resolves with how many there were. */
  async terminateAll(): Promise<number> {
    return (await this.link.request("sessions", "terminateAll", {})).count as number;
  }
}

/** Access control callbacks. */
export interface AccessControlCallbacks {
  /** A feature's access changed (only on a real change). */
  accessChanged?: (feature: Feature, access: Access) => void;
  /** A remote party wants a feature set to AfterConfirmation: accept or reject it. */
  accessRequest?: (feature: Feature) => void;
}

/** Access control: per-feature access and confirmation of requests. */
export class AccessControlModule {
  #callbacks: AccessControlCallbacks = {};

  /** Builds the module on a connection's link (`AgentConnection` does this). */
  constructor(private readonly link: ModuleLink) {
    link.on("accessControl", (event, p) => {
      if (event === "accessChanged") {
        this.#callbacks.accessChanged?.(p.feature as Feature, p.access as Access);
      } else if (event === "accessRequest") this.#callbacks.accessRequest?.(p.feature as Feature);
    });
  }

  /** True: every Outpost agent with the support API serves this module. */
  isSupported(): boolean {
    return true;
  }

  /** Replaces the callbacks. */
  setCallbacks(callbacks: AccessControlCallbacks): void {
    this.#callbacks = callbacks;
  }

  /** The access of `feature`. */
  async getAccess(feature: Feature): Promise<Access> {
    return (await this.link.request("accessControl", "getAccess", { feature })).access as Access;
  }

  /** Sets the access of `feature`; resolves true when it changed. */
  async setAccess(feature: Feature, access: Access): Promise<boolean> {
    const reply = await this.link.request("accessControl", "setAccess", { feature, access });
    return reply.changed as boolean;
  }

  /** Allows the waiting request for `feature`. */
  async acceptAccessRequest(feature: Feature): Promise<void> {
    await this.link.request("accessControl", "acceptAccessRequest", { feature });
  }

  /** Refuses the waiting request for `feature`. */
  async rejectAccessRequest(feature: Feature): Promise<void> {
    await this.link.request("accessControl", "rejectAccessRequest", { feature });
  }
}

/** An instant-support case as the remote side describes it. */
export interface SessionData {
  /** The case number the supporter tracks. */
  sessionCode: string;
  /** The name of the request (at most 100 characters). */
  name: string;
  /** What help is needed. */
  description: string;
  /** Undefined, Open or Closed. */
  state: CaseState;
}

/** Instant support callbacks. */
export interface InstantSupportCallbacks {
  /** The remote side changed this app's case. */
  sessionDataChanged?: (data: SessionData) => void;
  /** A request or close failed, with its code. */
  requestError?: (code: InstantSupportError) => void;
  /** The supporter wants to connect: accept or reject it. */
  connectionRequest?: () => void;
}

/** Instant support: ask a supporter for help. */
export class InstantSupportModule {
  #callbacks: InstantSupportCallbacks = {};

  /** Builds the module on a connection's link (`AgentConnection` does this). */
  constructor(private readonly link: ModuleLink) {
    link.on("instantSupport", (event, p) => {
      if (event === "sessionDataChanged") {
        const { sessionCode, name, description, state } = p as unknown as SessionData;
        this.#callbacks.sessionDataChanged?.({ sessionCode, name, description, state });
      } else if (event === "requestError") {
        this.#callbacks.requestError?.(p.code as InstantSupportError);
      } else if (event === "connectionRequest") this.#callbacks.connectionRequest?.();
    });
  }

  /** True: every Outpost agent with the support API serves this module. */
  isSupported(): boolean {
    return true;
  }

  /** Replaces the callbacks. */
  setCallbacks(callbacks: InstantSupportCallbacks): void {
    this.#callbacks = callbacks;
  }

  /**
   * Sends a request; resolves once the agent forwarded it. A refused request
   * rejects with its code, and `requestError` is called too.
   */
  async requestInstantSupport(data: InstantSupportRequest): Promise<void> {
    await this.link.request("instantSupport", "requestInstantSupport", { ...data });
  }

  /** Asks the remote side to close this app's case. */
  async closeInstantSupportCase(): Promise<void> {
    await this.link.request("instantSupport", "closeInstantSupportCase", {});
  }

  /** Lets the supporter connect. */
  async acceptConnectionRequest(): Promise<void> {
    await this.link.request("instantSupport", "acceptConnectionRequest", {});
  }

  /** Refuses the supporter's connection. */
  async rejectConnectionRequest(): Promise<void> {
    await this.link.request("instantSupport", "rejectConnectionRequest", {});
  }
}

/** A chat room. */
export interface ChatInfo {
  /** The chat id (UUID). */
  chatId: string;
  /** The chat title (usually the remote name). */
  title: string;
  /** Machine or InstantSupportSession. */
  endpointType: ChatEndpointType;
  /** The id of the remote endpoint. */
  endpointId: string;
  /** True once the remote side closed the chat. */
  closed: boolean;
}

/** Chat callbacks, as the seed names them. */
export interface ChatCallbacks {
  /** The remote side opened a chat. */
  chatCreated?: (
    chatId: string,
    title: string,
    endpointType: ChatEndpointType,
    endpointId: string,
  ) => void;
  /** Chats were deleted. */
  chatsRemoved?: (chatIds: string[]) => void;
  /** The remote side closed a chat. */
  chatClosed?: (chatId: string) => void;
  /** New messages arrived. */
  receivedMessages?: (messages: ChatMessage[]) => void;
  /** How a `sendMessage` ended: Succeeded with the message id and time, or Failed. */
  sendMessageFinished?: (
    requestId: number,
    result: SendMessageResult,
    messageId: string | undefined,
    timeStamp: string | undefined,
  ) => void;
  /** A page of history was loaded. */
  messagesLoaded?: (messages: ChatMessage[], hasMore: boolean) => void;
  /** A chat's history was deleted. */
  historyDeleted?: (chatId: string) => void;
}

/** Chat: the device answers chats the remote side opened; it cannot open one. */
export class ChatModule {
  #callbacks: ChatCallbacks = {};
  #nextRequest = 1;

  /** Builds the module on a connection's link (`AgentConnection` does this). */
  constructor(private readonly link: ModuleLink) {
    link.on("chat", (event, p) => {
      const c = this.#callbacks;
      switch (event) {
        case "chatCreated":
          return c.chatCreated?.(
            p.chatId as string,
            p.title as string,
            p.endpointType as ChatEndpointType,
            p.endpointId as string,
          );
        case "chatsRemoved":
          return c.chatsRemoved?.(p.chatIds as string[]);
        case "chatClosed":
          return c.chatClosed?.(p.chatId as string);
        case "receivedMessages":
          return c.receivedMessages?.(p.messages as ChatMessage[]);
        case "sendMessageFinished":
          return c.sendMessageFinished?.(
            p.requestId as number,
            p.result as SendMessageResult,
            p.messageId as string | undefined,
            p.timeStamp as string | undefined,
          );
        case "messagesLoaded":
          return c.messagesLoaded?.(p.messages as ChatMessage[], p.hasMore as boolean);
        case "historyDeleted":
          return c.historyDeleted?.(p.chatId as string);
      }
    });
  }

  /** True: every Outpost agent with the support API serves this module. */
  isSupported(): boolean {
    return true;
  }

  /** Replaces the callbacks. */
  setCallbacks(callbacks: ChatCallbacks): void {
    this.#callbacks = callbacks;
  }

  /** The chats the agent keeps. */
  async obtainChats(): Promise<ChatInfo[]> {
    return (await this.link.request("chat", "obtainChats", {})).chats as ChatInfo[];
  }

  /**
   * Sends a message; returns a local request id at once. `sendMessageFinished`
   * later reports it with the message's UUID and time, or `Failed`.
   */
  sendMessage(chatId: string, content: string): number {
    const requestId = this.#nextRequest++;
    try {
      this.link.publish("chat", "sendMessage", { chatId, content, requestId });
    } catch {
      queueMicrotask(() =>
        this.#callbacks.sendMessageFinished?.(requestId, "Failed", undefined, undefined)
      );
    }
    return requestId;
  }

  /** Up to `count` messages before message `before` (the newest when absent), oldest first. */
  async loadMessages(
    chatId: string,
    count: number,
    before?: string,
  ): Promise<{ messages: ChatMessage[]; hasMore: boolean }> {
    const reply = await this.link.request("chat", "loadMessages", { chatId, count, before });
    return { messages: reply.messages as ChatMessage[], hasMore: reply.hasMore as boolean };
  }

  /** Deletes a chat's history on the agent. */
  async deleteHistory(chatId: string): Promise<void> {
    await this.link.request("chat", "deleteHistory", { chatId });
  }

  /** Deletes a chat and its history on the agent. */
  async deleteChat(chatId: string): Promise<void> {
    await this.link.request("chat", "deleteChat", { chatId });
  }
}
