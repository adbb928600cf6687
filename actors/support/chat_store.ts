/**
 * Chat rooms and their history in the agent's SQLite database, so chats
 * outlive restarts of the apps and of the agent (PROTOCOLS.md §5).
 */
import type { DatabaseSync } from "node:sqlite";
import type { ChatEndpointType, ChatMessage } from "../../protocols/support_api.ts";

export type { ChatMessage } from "../../protocols/support_api.ts";
import { migrate } from "../store/database.ts";

/** A stored chat room. */
export interface ChatInfo {
  chatId: string;
  title: string;
  endpointType: ChatEndpointType;
  endpointId: string;
  /** The cloud the chat came from; replies go back there. */
  cloud: string;
  /** True once the remote side closed it: it keeps its history but takes no new messages. */
  closed: boolean;
}

/** A page of history, oldest first. */
export interface MessagePage {
  messages: ChatMessage[];
  /** True when older messages exist before the first one. */
  hasMore: boolean;
}

interface ChatRow {
  id: string;
  title: string;
  endpoint_type: string;
  endpoint_id: string;
  cloud: string;
  closed: number;
}

interface MessageRow {
  seq: number;
  chat_id: string;
  message_id: string;
  content: string;
  ts: string;
  sender: string;
}

function chatOf(row: ChatRow): ChatInfo {
  return {
    chatId: row.id,
    title: row.title,
    endpointType: row.endpoint_type as ChatEndpointType,
    endpointId: row.endpoint_id,
    cloud: row.cloud,
    closed: row.closed !== 0,
  };
}

function messageOf(row: MessageRow): ChatMessage {
  return {
    chatId: row.chat_id,
    messageId: row.message_id,
    content: row.content,
    timeStamp: row.ts,
    sender: row.sender,
  };
}

/** The `support_chats` and `support_messages` tables. */
export class ChatStore {
  constructor(private readonly db: DatabaseSync) {
    migrate(db, "support_chat", [
      `CREATE TABLE support_chats (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        endpoint_type TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        cloud TEXT NOT NULL,
        closed INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE support_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id TEXT NOT NULL REFERENCES support_chats(id) ON DELETE CASCADE,
        message_id TEXT NOT NULL UNIQUE,
        content TEXT NOT NULL,
        ts TEXT NOT NULL,
        sender TEXT NOT NULL
      );
      CREATE INDEX support_messages_by_chat ON support_messages (chat_id, seq);`,
    ]);
  }

  /** Stores a new chat; false (and nothing changed) when it exists. */
  create(chat: Omit<ChatInfo, "closed">): boolean {
    const result = this.db.prepare(
      `INSERT OR IGNORE INTO support_chats (id, title, endpoint_type, endpoint_id, cloud, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(chat.chatId, chat.title, chat.endpointType, chat.endpointId, chat.cloud, Date.now());
    return Number(result.changes) > 0;
  }

  /** The chat `chatId`, if stored. */
  get(chatId: string): ChatInfo | undefined {
    const row = this.db.prepare("SELECT * FROM support_chats WHERE id = ?").get(chatId) as
      | ChatRow
      | undefined;
    return row && chatOf(row);
  }

  /** Every chat, oldest first. */
  list(): ChatInfo[] {
    return (this.db.prepare("SELECT * FROM support_chats ORDER BY created_at, id")
      .all() as unknown as ChatRow[]).map(chatOf);
  }

  /** Marks a chat closed; false when it was unknown or already closed. */
  close(chatId: string): boolean {
    const result = this.db.prepare(
      "UPDATE support_chats SET closed = 1 WHERE id = ? AND closed = 0",
    )
      .run(chatId);
    return Number(result.changes) > 0;
  }

  /** Stores messages; returns those that were new (a repeated message id is skipped). */
  add(messages: ChatMessage[]): ChatMessage[] {
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO support_messages (chat_id, message_id, content, ts, sender)
       VALUES (?, ?, ?, ?, ?)`,
    );
    const added: ChatMessage[] = [];
    this.db.exec("BEGIN");
    try {
      for (const m of messages) {
        const result = insert.run(m.chatId, m.messageId, m.content, m.timeStamp, m.sender);
        if (Number(result.changes) > 0) added.push(m);
      }
      this.db.exec("COMMIT");
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
    return added;
  }

  /**
   * Up to `count` messages of `chatId` older than message `before` (the
   * newest when absent), oldest first; undefined when `before` is not a
   * message of this chat.
   */
  page(chatId: string, count: number, before?: string): MessagePage | undefined {
    let below = Number.MAX_SAFE_INTEGER;
    if (before !== undefined) {
      const row = this.db.prepare(
        "SELECT seq FROM support_messages WHERE chat_id = ? AND message_id = ?",
      ).get(chatId, before) as { seq: number } | undefined;
      if (!row) return undefined;
      below = row.seq;
    }
    const rows = this.db.prepare(
      `SELECT * FROM support_messages WHERE chat_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    ).all(chatId, below, count + 1) as unknown as MessageRow[];
    const hasMore = rows.length > count;
    return { messages: rows.slice(0, count).reverse().map(messageOf), hasMore };
  }

  /** Deletes the history of a chat; resolves with how many messages went. */
  deleteHistory(chatId: string): number {
    const result = this.db.prepare("DELETE FROM support_messages WHERE chat_id = ?").run(chatId);
    return Number(result.changes);
  }

  /** Deletes a chat and its history; false when it was unknown. */
  deleteChat(chatId: string): boolean {
    this.deleteHistory(chatId);
    const result = this.db.prepare("DELETE FROM support_chats WHERE id = ?").run(chatId);
    return Number(result.changes) > 0;
  }
}
