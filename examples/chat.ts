/**
 * Chat: the device cannot open a chat; it waits for the remote side. Prints
 * chats as they are created and messages as they arrive, shows the last
 * messages of every known chat at start (chats outlive restarts), and sends
 * each line typed on the terminal to the most recently active chat.
 *
 * Run: deno run -A examples/chat.ts
 * (connection settings: see examples/agent_connection.ts)
 */
import { AgentConnection } from "../actors/facades/local_api.ts";
import { connectionOptions } from "./agent_connection.ts";

const connection = new AgentConnection(connectionOptions());
const chat = connection.chat;
let selected: string | undefined;

chat.setCallbacks({
  chatCreated: (id, title, type, endpoint) =>
    console.log(`[Chat] Chat room created: ${id}, ${title}, ${type}, ${endpoint}`),
  chatsRemoved: (ids) => console.log(`[Chat] Chats removed: ${ids.join(", ")}`),
  chatClosed: (id) => console.log(`[Chat] Chat ${id} was closed`),
  receivedMessages: (messages) => {
    console.log(`[Chat] received ${messages.length} message(s):`);
    for (const m of messages) {
      console.log(`New message in chat room ${m.chatId}:\n${m.sender}: ${m.content}`);
      selected = m.chatId;
    }
  },
  sendMessageFinished: (requestId, result, messageId) =>
    console.log(`[Chat] message ${requestId}: ${result}${messageId ? ` (${messageId})` : ""}`),
  historyDeleted: (id) => console.log(`[Chat] history of ${id} deleted`),
});
connection.start();
await connection.whenConnected();
for (const room of await chat.obtainChats()) {
  console.log(`Chat ${room.chatId} with ${room.title}${room.closed ? " (closed)" : ""}:`);
  const { messages, hasMore } = await chat.loadMessages(room.chatId, 5);
  if (hasMore) console.log("  …");
  for (const m of messages) console.log(`  ${m.sender}: ${m.content}`);
  selected ??= room.chatId;
}
console.log("Type a message and Enter to reply; Ctrl-D to exit.");
const decoder = new TextDecoder();
for await (const chunk of Deno.stdin.readable) {
  const text = decoder.decode(chunk).trim();
  if (!text) continue;
  if (!selected) console.log("No chat yet: wait for a message from the remote side.");
  else chat.sendMessage(selected, text);
}
await connection.stop();
