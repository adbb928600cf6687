/**
 * Cumulocity's JSON via MQTT as Outpost reads and writes it: operation
 * notifications, events, the configuration text of a 513, the support
 * wire format, and how a command's result becomes 506 parameters.
 */
import { deepEqual, equal, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  isFragmentName,
  jsonEvent,
  parseConfigurationText,
  parseJsonOperation,
} from "../../protocols/c8y_json.ts";
import { C8yMessageError } from "../../protocols/c8y_messages.ts";
import { parseSupportFragment, supportEvent } from "../../protocols/c8y_support.ts";
import { resultParams } from "../../actors/c8y/json_operations.ts";

Deno.test("an operation notification gives its id, status, serial and fragments", () => {
  // Shaped like the platform's example notification (JSON via MQTT, "Receiving operations").
  const op = parseJsonOperation(JSON.stringify({
    agentId: "1",
    creationTime: "2018-05-17T07:33:15.555Z",
    delivery: { log: [], status: "PENDING", time: "2018-05-17T07:33:15.575Z" },
    deviceId: "2",
    id: "123",
    status: "PENDING",
    c8y_MyOp: { level: 3 },
    description: "Set the level",
    externalSource: { externalId: "dev-1", type: "c8y_Serial" },
  }));
  deepEqual(op, {
    id: "123",
    status: "PENDING",
    serial: "dev-1",
    fragments: { c8y_MyOp: { level: 3 } },
  });
  deepEqual(parseJsonOperation(new TextEncoder().encode('{"id":7}')), {
    id: "7",
    status: undefined,
    serial: undefined,
    fragments: {},
  });
});

Deno.test("a notification that is no operation is a C8yMessageError saying why", () => {
  const fails = (payload: string | Uint8Array, message: RegExp) =>
    throws(
      () => parseJsonOperation(payload),
      (e) => e instanceof C8yMessageError && message.test(e.message),
    );
  fails("not json", /not UTF-8 JSON/);
  fails(new Uint8Array([0x7b, 0xff, 0x7d]), /not UTF-8 JSON/);
  fails("[1]", /expected a JSON object, got an array/);
  fails('{"status":"PENDING"}', /"id" must be 1 to 64 characters.*got nothing/);
  fails('{"id":"1\\n510,dev-1"}', /"id" must be/);
  fc.assert(fc.property(fc.string(), (text) => {
    try {
      parseJsonOperation(text);
    } catch (error) {
      if (!(error instanceof C8yMessageError)) throw error;
    }
  }));
});

Deno.test("fragment names are letters, digits and _, and never a property of the operation", () => {
  deepEqual(
    ["c8y_MyOp", "outpost_Support", "x", "status", "id", "1abc", "a.b", "a-b", "", "a".repeat(129)]
      .map(isFragmentName),
    [true, true, true, false, false, false, false, false, false, false],
  );
});

Deno.test("an event body carries type, text, time and its fragments", () => {
  equal(
    jsonEvent({ type: "t", text: "", time: new Date(0), fragments: { f: { a: 1 } } }),
    '{"type":"t","text":"t","time":"1970-01-01T00:00:00.000Z","f":{"a":1}}',
  );
  throws(() => jsonEvent({ type: "", text: "x", time: new Date(0) }), TypeError);
  throws(() => jsonEvent({ type: "t", text: "x", time: new Date(0), fragments: { time: 1 } }));
});

Deno.test("a configuration text is one JSON object; anything else says what it is", () => {
  deepEqual(parseConfigurationText('{"interval": 30}'), { interval: 30 });
  const reason = (text: string) => {
    try {
      parseConfigurationText(text);
    } catch (error) {
      equal((error as C8yMessageError).fragment, "c8y_Configuration");
      return (error as Error).message;
    }
  };
  equal(
    reason(""),
    'The configuration must be a JSON object like {"interval":30}: the text is empty',
  );
  equal(reason("null"), 'The configuration must be a JSON object like {"interval":30}, got null');
  equal(reason('"x"'), 'The configuration must be a JSON object like {"interval":30}, got "x"');
});

Deno.test("an outpost_Support fragment gives its topic and payload, or says which field is wrong", () => {
  deepEqual(parseSupportFragment({ topic: "chat/c/closed" }), {
    topic: "chat/c/closed",
    payload: "{}",
  });
  deepEqual(parseSupportFragment({ topic: "instant/a/error", payload: { code: "Busy" } }), {
    topic: "instant/a/error",
    payload: '{"code":"Busy"}',
  });
  for (
    const [fragment, message] of [
      ["chat", /must be an object/],
      [{ topic: "chat/+/closed" }, /"topic" must be a support topic/],
      [{ topic: "/chat/c/closed" }, /"topic" must be a support topic/],
      [{ topic: 3 }, /"topic" must be a support topic.*got 3/],
      [{ topic: "chat/c/messages", payload: [1] }, /"payload" must be a JSON object, got an array/],
    ] as const
  ) {
    throws(
      () => parseSupportFragment(fragment),
      (e) =>
        e instanceof C8yMessageError && e.fragment === "outpost_Support" && message.test(e.message),
    );
  }
});

Deno.test("a support message is an outpost_Support event; the instant-support request, with its token, is transient", () => {
  const at = new Date(0);
  deepEqual(JSON.parse(supportEvent("chat/c/send", '{"ref":"r","content":"hi"}', at).body), {
    type: "outpost_Support",
    text: "chat/c/send",
    time: "1970-01-01T00:00:00.000Z",
    outpost_Support: { topic: "chat/c/send", payload: { ref: "r", content: "hi" } },
  });
  deepEqual(
    ["instant/app-1/request", "instant/app-1/close", "chat/c/send", "error"].map((topic) =>
      supportEvent(topic, "{}", at).transient
    ),
    [true, false, false, false],
  );
  equal(
    JSON.parse(supportEvent("error", "not json", at).body).outpost_Support.payload,
    "not json",
  );
});

Deno.test("a command's result becomes the parameters of 506", () => {
  deepEqual(resultParams(undefined), []);
  deepEqual(resultParams(null), []);
  deepEqual(resultParams("done"), ["done"]);
  deepEqual(resultParams(""), [""]);
  deepEqual(resultParams({ level: 3 }), ['{"level":3}']);
  deepEqual(resultParams([1, "a"]), ['[1,"a"]']);
  deepEqual(resultParams(42), ["42"]);
  deepEqual(resultParams(() => 1), []);
});
