/**
 * The chat room actor: one per chat, under `agent/support/chats`.
 *
 * Owns: the messages this device sent in its chat that the remote side has
 * not acknowledged yet. Receives: `chat.send` (an app's `sendMessage`) and
 * `chat.sent` (the cloud's acknowledgement). Sends: the message to the
 * chat's cloud (`…/support/chat/<chatId>/send`), and `sendMessageFinished`
 * to the app that sent it: Succeeded with the message UUID and time once
 * acknowledged (the message is then stored in the history), Failed when
 * the cloud refused it, could not be reached, or did not answer within
 * `sendTimeoutMs`. Supervised by: the dynamic `chats` supervisor
 * (transient: a crash restarts it, deleting the chat ends it).
 */
import { fromCallback } from "xstate";
import type { SendMessageResult } from "../../protocols/support_api.ts";
import type { SentAck } from "../../protocols/support_remote.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ChatStore } from "./chat_store.ts";

/** What an app hears about one `sendMessage`. */
export interface SendMessageFinished {
  requestId: number;
  result: SendMessageResult;
  messageId?: string;
  timeStamp?: string;
  /** Why it failed (not in the seed's callback; for logs and raw clients). */
  reason?: string;
}

/** What a chat room needs from the support service. */
export interface ChatRoomDeps {
  store: ChatStore;
  /** Publishes a message to the chat's cloud; rejects when that cloud is not connected. */
  sendRemote(chatId: string, ref: string, content: string): Promise<void>;
  /** Tells the app `clientId` how its message went. */
  finished(clientId: string, outcome: SendMessageFinished): void;
  /** The sender name stored with this device's own messages. */
  sender: string;
  /** Time for the cloud's acknowledgement. */
  sendTimeoutMs: number;
}

/** Events of a chat room. */
export type ChatRoomEvent =
  | { type: "chat.send"; clientId: string; requestId: number; content: string }
  | { type: "chat.sent"; ack: SentAck };

interface Pending {
  clientId: string;
  requestId: number;
  content: string;
  timer: ReturnType<typeof setTimeout>;
}

const log = getLogger("support", "chat");

/** The id of chat `chatId`'s actor under `chats`. */
export function chatRoomId(chatId: string): string {
  return `chat-${chatId}`;
}

/** The room actor's logic, for `child(chatRoomId(chatId), chatRoom(chatId, deps))`. */
export function chatRoom(chatId: string, deps: ChatRoomDeps) {
  return fromCallback<ChatRoomEvent>(({ receive }) => {
    const pending = new Map<string, Pending>();

    function settle(ref: string, outcome: Omit<SendMessageFinished, "requestId">): void {
      const entry = pending.get(ref);
      if (!entry) return;
      pending.delete(ref);
      clearTimeout(entry.timer);
      if (outcome.result === "Failed") {
        log.warn("Chat {chatId}: message {requestId} of {clientId} failed: {reason}", {
          chatId,
          requestId: entry.requestId,
          clientId: entry.clientId,
          reason: outcome.reason,
        });
      }
      deps.finished(entry.clientId, { requestId: entry.requestId, ...outcome });
    }

    function send(clientId: string, requestId: number, content: string): void {
      const ref = crypto.randomUUID();
      const timer = setTimeout(
        () =>
          settle(ref, {
            result: "Failed",
            reason: `no acknowledgement within ${deps.sendTimeoutMs / 1000} s`,
          }),
        deps.sendTimeoutMs,
      );
      pending.set(ref, { clientId, requestId, content, timer });
      deps.sendRemote(chatId, ref, content).catch((error: Error) =>
        settle(ref, { result: "Failed", reason: `cannot reach the remote side: ${error.message}` })
      );
    }

    function acknowledged(ack: SentAck): void {
      const entry = pending.get(ack.ref);
      if (!entry) {
        log.debug("Chat {chatId}: acknowledgement for unknown message {ref}", {
          chatId,
          ref: ack.ref,
        });
        return;
      }
      if (!ack.ok) {
        settle(ack.ref, { result: "Failed", reason: `refused by the remote side: ${ack.error}` });
        return;
      }
      try {
        deps.store.add([{
          chatId,
          messageId: ack.messageId,
          content: entry.content,
          timeStamp: ack.timeStamp,
          sender: deps.sender,
        }]);
      } catch (error) {
        // The remote side has it; only the local history misses it (the chat was deleted).
        log.warn("Chat {chatId}: cannot store sent message {messageId}: {error}", {
          chatId,
          messageId: ack.messageId,
          error,
        });
      }
      settle(ack.ref, { result: "Succeeded", messageId: ack.messageId, timeStamp: ack.timeStamp });
    }

    receive((event) => {
      if (event.type === "chat.send") send(event.clientId, event.requestId, event.content);
      else if (event.type === "chat.sent") acknowledged(event.ack);
    });
    return () => {
      for (const ref of [...pending.keys()]) {
        settle(ref, { result: "Failed", reason: "the chat room stopped" });
      }
    };
  });
}
