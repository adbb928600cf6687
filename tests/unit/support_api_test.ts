import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  decodeRequestBody,
  eventPath,
  parseLoadMessages,
  parseRequestPath,
  parseSendMessage,
  requestPath,
  SUPPORT_CALLS,
  SUPPORT_ERRORS,
  SUPPORT_MODULES,
  SupportRequestError,
} from "../../protocols/support_api.ts";
import { checkInstantSupportRequest } from "../../protocols/support_instant.ts";
import {
  decodeChatCreated,
  decodeChatMessages,
  decodeInstantError,
  decodeSent,
  decodeSessionData,
  parseSupportTopic,
  SupportRemoteError,
  supportTopics,
} from "../../protocols/support_remote.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);

Deno.test("every support call has a request path that parses back to it", () => {
  for (const module of SUPPORT_MODULES) {
    for (const call of SUPPORT_CALLS[module]) {
      deepEqual(parseRequestPath(requestPath(module, call)), { module, call });
    }
  }
  equal(eventPath("chat", "chatCreated"), "/support/event/chat/chatCreated");
});

Deno.test("unknown modules, calls and shapes of path are UnknownCall naming the path", () => {
  for (
    const path of [
      "/support/request/chat",
      "/support/request/x/y",
      "/support/request/chat/open",
      "/sensor/create",
      "/support/request/chat/sendMessage/extra",
    ]
  ) {
    throws(
      () => parseRequestPath(path),
      (e: SupportRequestError) => e.code === "UnknownCall",
      path,
    );
  }
});

Deno.test("request bodies must be UTF-8 JSON objects; an empty payload is {}", () => {
  deepEqual(decodeRequestBody(new Uint8Array()), {});
  deepEqual(decodeRequestBody(utf8('{"a":1}')), { a: 1 });
  for (const bad of ["[]", "null", "1", "{", '"x"']) {
    throws(
      () => decodeRequestBody(utf8(bad)),
      (e: SupportRequestError) => e.code === "InvalidJson",
    );
  }
  throws(() => decodeRequestBody(new Uint8Array([0xc3, 0x28])), /not UTF-8 JSON/);
});

Deno.test("the request decoders throw nothing but SupportRequestError with a known code, whatever the input", () => {
  const body = fc.dictionary(
    fc.constantFrom("chatId", "count", "before", "requestId", "content", "feature", "id"),
    fc.oneof(fc.anything(), fc.uuid(), fc.integer()),
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
    try {
      decodeRequestBody(bytes);
    } catch (error) {
      ok(error instanceof SupportRequestError && SUPPORT_ERRORS.includes(error.code));
    }
  }));
  fc.assert(fc.property(body, (b) => {
    for (const parse of [parseSendMessage, parseLoadMessages]) {
      try {
        parse(b);
      } catch (error) {
        ok(error instanceof SupportRequestError, String(error));
      }
    }
  }));
  fc.assert(fc.property(fc.string(), (path) => {
    try {
      parseRequestPath(path);
    } catch (error) {
      ok(error instanceof SupportRequestError && error.code === "UnknownCall");
    }
  }));
});

const VALID = {
  accessToken: "12345678-LgxKf0bybuAESdNIelrY",
  name: "Help",
  group: "Contacts",
  description: "Please",
};

Deno.test("an instant-support request needs token, name (≤ 100), group and description; email and session code are optional", () => {
  deepEqual(checkInstantSupportRequest(VALID), {
    ok: true,
    request: { ...VALID, email: undefined, sessionCode: undefined },
  });
  const code = (body: Record<string, unknown>) => {
    const result = checkInstantSupportRequest(body);
    return result.ok ? "ok" : result.code;
  };
  equal(code({ ...VALID, name: "n".repeat(100) }), "ok");
  equal(code({ ...VALID, name: "n".repeat(101) }), "InvalidParameter");
  equal(code({ ...VALID, accessToken: undefined }), "MissingParameter");
  equal(code({ ...VALID, accessToken: "short" }), "InvalidToken");
  equal(code({ ...VALID, group: "" }), "InvalidGroup");
  equal(code({ ...VALID, group: undefined }), "MissingParameter");
  equal(code({ ...VALID, description: "" }), "InvalidParameter");
  equal(code({ ...VALID, email: "a@b" }), "InvalidEmail");
  equal(code({ ...VALID, email: "" }), "ok");
  equal(code({ ...VALID, sessionCode: "s01-234-567" }), "ok");
  equal(code({ ...VALID, sessionCode: "s1-2-3" }), "InvalidSessionCode");
});

Deno.test("an instant-support check never echoes the access token and never throws", () => {
  fc.assert(fc.property(
    fc.record({
      accessToken: fc.string(),
      name: fc.anything(),
      group: fc.anything(),
      description: fc.anything(),
      email: fc.anything(),
      sessionCode: fc.anything(),
    }, { requiredKeys: [] }),
    (body) => {
      const result = checkInstantSupportRequest(body);
      if (!result.ok && typeof body.accessToken === "string" && body.accessToken.length > 3) {
        ok(!result.message.includes(body.accessToken), result.message);
      }
    },
  ));
});

Deno.test("remote support topics: the device subscribes only to what the cloud sends", () => {
  const topics = supportTopics("outpost/dev-1");
  const chat = "25666256-4fcf-41c0-9971-7343680d96dc";
  equal(topics.instant("app-1", "request"), "outpost/dev-1/support/instant/app-1/request");
  equal(topics.chat(chat, "send"), `outpost/dev-1/support/chat/${chat}/send`);
  equal(topics.subscriptions.length, 8);
  ok(
    topics.subscriptions.every((f) =>
      !["request", "close", "send", "answer"].includes(f.split("/").at(-1)!)
    ),
  );
  deepEqual(
    parseSupportTopic(`outpost/dev-1/support/chat/${chat.toUpperCase()}/sent`, "outpost/dev-1"),
    { kind: "chat", chatId: chat, leaf: "sent" },
  );
  deepEqual(parseSupportTopic("outpost/dev-1/support/instant/app-1/connection", "outpost/dev-1"), {
    kind: "instant",
    appId: "app-1",
    leaf: "connection",
  });
  for (
    const topic of [
      "outpost/dev-1/support/instant/app-1/request",
      "outpost/dev-1/support/chat/x/sent",
      "outpost/dev-2/support/instant/a/session",
      "outpost/dev-1/support/instant/app-1/connection/answer",
    ]
  ) {
    equal(parseSupportTopic(topic, "outpost/dev-1"), undefined, topic);
  }
  throws(() => topics.instant("a/b", "request"), /Invalid app id/);
  throws(() => topics.chat("+", "send"), /Invalid chat id/);
});

Deno.test("remote payloads decode when valid and name the field when not", () => {
  deepEqual(
    decodeSessionData(utf8('{"sessionCode":"s","name":"n","description":"d","state":"Open"}')),
    { sessionCode: "s", name: "n", description: "d", state: "Open" },
  );
  equal(decodeInstantError(utf8('{"code":"Busy"}')), "Busy");
  deepEqual(
    decodeChatCreated(
      utf8('{"title":"t","endpointType":"InstantSupportSession","endpointId":"e"}'),
    ),
    { title: "t", endpointType: "InstantSupportSession", endpointId: "e" },
  );
  const id = crypto.randomUUID();
  deepEqual(
    decodeChatMessages(
      utf8(
        JSON.stringify({
          messages: [{
            messageId: id,
            content: "c",
            timeStamp: "2026-01-01T00:00:00Z",
            sender: "s",
          }],
        }),
      ),
    ),
    [{ messageId: id, content: "c", timeStamp: "2026-01-01T00:00:00.000Z", sender: "s" }],
  );
  deepEqual(decodeSent(utf8(JSON.stringify({ ref: id, error: "no" }))), {
    ref: id,
    ok: false,
    error: "no",
  });
  throws(
    () => decodeSessionData(utf8('{"state":"Gone"}')),
    /"state" must be one of Undefined, Open, Closed/,
  );
  throws(
    () => decodeChatMessages(utf8('{"messages":[{"messageId":"1"}]}')),
    /Chat messages\[0\]: "messageId" must be a UUID/,
  );
  throws(
    () => decodeSent(utf8(JSON.stringify({ ref: id, messageId: id, timeStamp: "yesterday" }))),
    /"timeStamp" must be an ISO-8601 time/,
  );
});

Deno.test("the remote decoders throw nothing but SupportRemoteError, whatever the payload", () => {
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.jsonValue().map((v) => utf8(JSON.stringify(v))),
    fc.record({
      messages: fc.array(fc.anything(), { maxLength: 3 }),
      ref: fc.oneof(fc.uuid(), fc.string()),
      code: fc.string(),
      state: fc.string(),
    }).map((v) => utf8(JSON.stringify(v))),
  );
  fc.assert(fc.property(payload, (bytes) => {
    for (
      const decode of [
        decodeSessionData,
        decodeInstantError,
        decodeChatCreated,
        decodeChatMessages,
        decodeSent,
      ]
    ) {
      try {
        decode(bytes);
      } catch (error) {
        ok(error instanceof SupportRemoteError, String(error));
      }
    }
  }));
});
