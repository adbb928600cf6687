/**
 * The Cloud Remote Access relay emulator of tests/helpers itself: the other
 * tunnel tests lean on it, so its own edge cases are pinned here.
 */
import { deepEqual, equal } from "node:assert/strict";
import { connectWebSocket } from "../../protocols/websocket_client.ts";
import { startRemoteAccessServer } from "../helpers/remote_access_server.ts";

const AUTH = { Authorization: "Bearer secret" };

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(what: string, promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Waited ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("closing the relay settles sessions whose device never connected, with or without a client", async () => {
  const relay = await startRemoteAccessServer({ bearer: "secret" });
  const lonely = await relay.open("nobody");
  const waiting = await relay.open("client-only");
  const client = await Deno.connect({ hostname: "127.0.0.1", port: waiting.port });
  try {
    await within("the relay to close", relay.close());
    const closed = { code: 1006, reason: "relay closed before the device connected" };
    deepEqual(await within("the lonely session to settle", lonely.deviceClosed), closed);
    deepEqual(await within("the waiting session to settle", waiting.deviceClosed), closed);
    // The client that waited for a device is hung up on.
    equal(await within("the client to be hung up on", client.read(new Uint8Array(16))), null);
  } finally {
    client.close();
  }
});

Deno.test("bytes a client sends before the device's WebSocket is open reach the device, in order", async () => {
  const relay = await startRemoteAccessServer({ bearer: "secret" });
  const session = await relay.open("early");
  const client = await Deno.connect({ hostname: "127.0.0.1", port: session.port });
  try {
    await client.write(new TextEncoder().encode("sent before the device came"));
    const ws = await connectWebSocket(relay.deviceUrl("early"), {
      headers: AUTH,
      protocols: ["binary"],
    });
    await client.write(new TextEncoder().encode(", and after"));
    let got = "";
    const expected = "sent before the device came, and after";
    while (got.length < expected.length) {
      const message = await within(`"${expected}" at the device (got "${got}")`, ws.read());
      if (message === null) break;
      got += new TextDecoder().decode(message);
    }
    equal(got, expected);
    await ws.close(1000, "done");
    deepEqual(await session.deviceClosed, { code: 1000, reason: "done" });
  } finally {
    client.close();
    await relay.close();
  }
});
