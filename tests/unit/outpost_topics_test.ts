import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  decodeCommandPayload,
  decodeDesired,
  encodeEvent,
  encodePresence,
  encodeReported,
  encodeResponse,
  encodeTelemetry,
  OutpostPayloadError,
  outpostTopics,
  parseCommandTopic,
  streamNameProblem,
} from "../../protocols/outpost_topics.ts";
import { topicMatches } from "../../protocols/mqtt_topic.ts";

const ts = new Date("2025-03-04T05:06:07.089Z");
const bytes = (text: string) => new TextEncoder().encode(text);

/** Asserts that `fn` throws an OutpostPayloadError (status 400) whose message is exactly `message`. */
function throwsPayloadError(fn: () => unknown, message: string | RegExp): void {
  throws(fn, (error: unknown) => {
    ok(error instanceof OutpostPayloadError, `expected an OutpostPayloadError, got ${error}`);
    equal(error.status, 400);
    equal(error.name, "OutpostPayloadError");
    if (typeof message === "string") equal(error.message, message);
    else {ok(
        message.test(error.message),
        `${JSON.stringify(error.message)} should match ${message}`,
      );}
    return true;
  });
}

Deno.test("the topics of a device follow PROTOCOLS.md §0 under the default prefix", () => {
  const t = outpostTopics("pump-7");
  equal(t.status, "outpost/pump-7/status");
  equal(t.telemetry("system"), "outpost/pump-7/telemetry/system");
  equal(t.events("door.open"), "outpost/pump-7/events/door.open");
  equal(t.desired, "outpost/pump-7/state/desired");
  equal(t.reported, "outpost/pump-7/state/reported");
  equal(t.commands, "outpost/pump-7/commands/+/+");
  equal(t.command("tunnel.open", "r-1"), "outpost/pump-7/commands/tunnel.open/r-1");
  equal(t.response("tunnel.open", "r-1"), "outpost/pump-7/responses/tunnel.open/r-1");
});

Deno.test("a custom prefix may span several levels and replaces 'outpost'", () => {
  const t = outpostTopics("d1", "acme/fleet");
  equal(t.status, "acme/fleet/d1/status");
  equal(t.commands, "acme/fleet/d1/commands/+/+");
  equal(t.response("ping", "42"), "acme/fleet/d1/responses/ping/42");
});

Deno.test("a device id or prefix that would break the topic tree is refused with a clear error", () => {
  const cases: [() => unknown, string][] = [
    [() => outpostTopics(""), 'Invalid Outpost device id "": cannot be empty'],
    [
      () => outpostTopics("a/b"),
      'Invalid Outpost device id "a/b": cannot contain "/", "+", "#" or U+0000',
    ],
    [
      () => outpostTopics("a+"),
      'Invalid Outpost device id "a+": cannot contain "/", "+", "#" or U+0000',
    ],
    [
      () => outpostTopics("#"),
      'Invalid Outpost device id "#": cannot contain "/", "+", "#" or U+0000',
    ],
    [() => outpostTopics("d", ""), 'Invalid Outpost topic prefix "": cannot be empty'],
    [
      () => outpostTopics("d", "a/#"),
      'Invalid Outpost topic prefix "a/#": cannot contain "+", "#" or U+0000',
    ],
    [
      () => outpostTopics("d", "+"),
      'Invalid Outpost topic prefix "+": cannot contain "+", "#" or U+0000',
    ],
    [
      () => outpostTopics("d", "a/"),
      'Invalid Outpost topic prefix "a/": cannot have an empty level (a leading, trailing or doubled "/")',
    ],
    [
      () => outpostTopics("d", "$SYS"),
      'Invalid Outpost topic prefix "$SYS": cannot start with "$", which brokers reserve',
    ],
  ];
  for (const [fn, message] of cases) throws(fn, { name: "TypeError", message });
});

Deno.test("stream names and event types are one safe topic level of 1 to 64 characters", () => {
  for (const good of ["system", "a", "door.open", "cpu_load-1", "x".repeat(64)]) {
    equal(streamNameProblem(good), undefined, good);
  }
  for (const bad of ["", "a/b", "+", "#", "with space", "ü", "x".repeat(65)]) {
    ok(streamNameProblem(bad)?.includes("must be 1 to 64 characters"), bad);
  }
  equal(
    streamNameProblem("a/b"),
    'must be 1 to 64 characters, each a letter, digit, ".", "_" or "-" (one topic level), found "a/b"',
  );
  const t = outpostTopics("d");
  throws(() => t.telemetry("a/b"), {
    name: "TypeError",
    message: /^Invalid telemetry stream: must be/,
  });
  throws(() => t.events("#"), { name: "TypeError", message: /^Invalid event type: must be/ });
});

Deno.test("presence, telemetry, events, reported state and responses encode exactly as documented", () => {
  equal(encodePresence(true, ts), '{"online":true,"ts":"2025-03-04T05:06:07.089Z"}');
  equal(encodePresence(false, ts), '{"online":false,"ts":"2025-03-04T05:06:07.089Z"}');
  equal(
    encodeTelemetry(12, ts, { load1: 0.5, ok: true }),
    '{"seq":12,"ts":"2025-03-04T05:06:07.089Z","values":{"load1":0.5,"ok":true}}',
  );
  equal(
    encodeEvent(13, ts, "Door opened", { door: 2 }),
    '{"seq":13,"ts":"2025-03-04T05:06:07.089Z","text":"Door opened","data":{"door":2}}',
  );
  equal(
    encodeEvent(14, ts, "Booted"),
    '{"seq":14,"ts":"2025-03-04T05:06:07.089Z","text":"Booted","data":{}}',
  );
  equal(encodeReported(3, { fan: "on" }), '{"version":3,"state":{"fan":"on"}}');
  equal(encodeResponse(200, { pong: true }), '{"status":200,"body":{"pong":true}}');
  equal(encodeResponse(404, undefined), '{"status":404,"body":null}');
});

Deno.test("encoders refuse values the agent should never produce", () => {
  throws(() => encodeTelemetry(-1, ts, {}), {
    name: "RangeError",
    message: /seq must be a non-negative integer, got -1/,
  });
  throws(() => encodeEvent(1.5, ts, "x"), { name: "RangeError", message: /seq must be/ });
  throws(() => encodeReported(Number.NaN, {}), { name: "RangeError", message: /version must be/ });
  throws(() => encodePresence(true, new Date("nope")), {
    name: "RangeError",
    message: /valid Date, got Invalid Date/,
  });
  throws(() => encodeResponse(42, null), {
    name: "RangeError",
    message: /integer 100..599, got 42/,
  });
});

Deno.test("a desired-state document decodes from bytes or text; extra fields are ignored", () => {
  deepEqual(decodeDesired(bytes('{"version":7,"state":{"fan":"on","n":{"x":1}}}')), {
    version: 7,
    state: { fan: "on", n: { x: 1 } },
  });
  deepEqual(decodeDesired('{"version":0,"state":{},"clientToken":"t"}'), { version: 0, state: {} });
});

Deno.test("a malformed desired-state document is refused with a message that says what is wrong", () => {
  const cases: [string | Uint8Array, string][] = [
    [
      '{"version":"x","state":{}}',
      'desired state: version must be a non-negative integer, found "x"',
    ],
    [
      '{"version":-1,"state":{}}',
      "desired state: version must be a non-negative integer, found -1",
    ],
    [
      '{"version":1.5,"state":{}}',
      "desired state: version must be a non-negative integer, found 1.5",
    ],
    ['{"state":{}}', "desired state: version must be a non-negative integer, found nothing"],
    ['{"version":1}', "desired state: state must be an object, found nothing"],
    ['{"version":1,"state":[1]}', "desired state: state must be an object, found an array"],
    ['{"version":1,"state":null}', "desired state: state must be an object, found null"],
    ["[1,2]", 'desired state: must be a JSON object with "version" and "state", found an array'],
    ['"text"', 'desired state: must be a JSON object with "version" and "state", found "text"'],
    ["", "desired state: the payload is empty"],
    [
      '{"version": x}',
      "desired state: invalid JSON: Unexpected token 'x' at position 12",
    ],
    [
      '{"version":1,',
      "desired state: invalid JSON: Expected double-quoted property name in JSON at position 13 (line 1 column 14)",
    ],
    [
      '{"version":1',
      "desired state: invalid JSON: Expected ',' or '}' after property value in JSON at position 12 (line 1 column 13)",
    ],
    ["[1,", "desired state: invalid JSON: Unexpected end of JSON input at position 3"],
    [new Uint8Array([0x7b, 0xff, 0x7d]), "desired state: the payload is not valid UTF-8"],
  ];
  for (const [payload, message] of cases) throwsPayloadError(() => decodeDesired(payload), message);
});

Deno.test("a command payload is any JSON; an empty one means null; anything else is a 400", () => {
  deepEqual(decodeCommandPayload(bytes('{"url":"wss://relay/x","port":22}')), {
    url: "wss://relay/x",
    port: 22,
  });
  equal(decodeCommandPayload(bytes("42")), 42);
  equal(decodeCommandPayload(new Uint8Array()), null);
  equal(decodeCommandPayload("  \n"), null);
  throwsPayloadError(
    () => decodeCommandPayload("{oops}"),
    "command payload: invalid JSON: Expected property name or '}' in JSON at position 1 (line 1 column 2)",
  );
  throwsPayloadError(
    () => decodeCommandPayload("x".repeat(5000)),
    "command payload: invalid JSON: Unexpected token 'x' at position 0",
  );
  throwsPayloadError(
    () => decodeCommandPayload(new Uint8Array([0xc3])),
    "command payload: the payload is not valid UTF-8",
  );
});

Deno.test("a command topic parses back into the name and request id it was built from", () => {
  const t = outpostTopics("pump-7");
  deepEqual(parseCommandTopic("outpost/pump-7/commands/tunnel.open/r-1", t), {
    name: "tunnel.open",
    requestId: "r-1",
  });
  for (
    const other of [
      "outpost/pump-7/commands/ping",
      "outpost/pump-7/commands/ping/1/extra",
      "outpost/pump-7/commands//1",
      "outpost/pump-7/commands/ping/",
      "outpost/pump-8/commands/ping/1",
      "outpost/pump-7/responses/ping/1",
      "outpost/pump-7/state/desired",
      "outpost/pump-7/commands/+/+",
      "outpost/pump-77/commands/ping/1",
      "other/pump-7/commands/ping/1",
    ]
  ) equal(parseCommandTopic(other, t), undefined, other);
});

// One topic level: no "/", "+", "#", U+0000, not empty.
const level = fc.string({ minLength: 1, maxLength: 20, unit: "grapheme" }).filter((s) =>
  !/[/+#\0]/.test(s)
);

Deno.test("fuzz: parseCommandTopic inverts the command topic builder, which the commands filter matches", () => {
  fc.assert(
    fc.property(level, level, level, (device, name, requestId) => {
      const t = outpostTopics(device);
      const topic = t.command(name, requestId);
      ok(topicMatches(t.commands, topic));
      deepEqual(parseCommandTopic(topic, t), { name, requestId });
      equal(t.response(name, requestId), topic.replace("/commands/", "/responses/"));
    }),
  );
});

Deno.test("fuzz: parseCommandTopic accepts only topics the commands filter matches with non-empty levels", () => {
  const t = outpostTopics("dev");
  const candidateLevel = fc.constantFrom("a", "tunnel.open", "r-1", "", "+", "#", "b\0", "x/y");
  const topic = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.array(fc.constantFrom("outpost", "dev", "commands", "responses", "a", "", "+", "#"), {
      maxLength: 6,
    }).map((levels) => levels.join("/")),
    // Nearly right: the device's command base and a few levels, often two.
    fc.array(candidateLevel, { maxLength: 3 })
      .map((levels) => ["outpost", "dev", "commands", ...levels].join("/")),
    {
      arbitrary: fc.tuple(candidateLevel, candidateLevel)
        .map((levels) => ["outpost", "dev", "commands", ...levels].join("/")),
      weight: 3,
    },
  );
  let accepted = 0;
  fc.assert(
    fc.property(topic, (candidate) => {
      const parsed = parseCommandTopic(candidate, t);
      const levels = candidate.split("/");
      const expected = topicMatches(t.commands, candidate) && !/[+#\0]/.test(candidate) &&
        levels.every((l) => l !== "");
      equal(parsed !== undefined, expected, candidate);
      if (parsed) {
        accepted++;
        equal(t.command(parsed.name, parsed.requestId), candidate);
      }
    }),
    { numRuns: 500 },
  );
  ok(accepted > 10, `only ${accepted} generated topics were command topics`);
});

Deno.test("fuzz: the decoders throw nothing but OutpostPayloadError on arbitrary bytes or text", () => {
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.string({ maxLength: 64 }),
    fc.string({ maxLength: 64, unit: "binary" }),
    fc.json().map((json) => json.slice(0, Math.max(0, json.length - 1))),
    fc.json(),
    fc.record({ version: fc.jsonValue(), state: fc.jsonValue() }).map((doc) => JSON.stringify(doc)),
  );
  fc.assert(
    fc.property(payload, (p) => {
      for (const decode of [decodeDesired, decodeCommandPayload]) {
        try {
          decode(p);
        } catch (error) {
          ok(error instanceof OutpostPayloadError, `${decode.name} threw ${error}`);
          ok(error.message.length > 0 && error.message.length < 400, error.message);
        }
      }
    }),
    { numRuns: 2000 },
  );
});

const jsonObject = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), {
  maxKeys: 6,
});

Deno.test("fuzz: reported state decodes back to its version and state, desired documents to themselves", () => {
  fc.assert(
    fc.property(fc.nat(), jsonObject, (version, state) => {
      const normal = JSON.parse(JSON.stringify(state));
      deepEqual(decodeDesired(encodeReported(version, state)), { version, state: normal });
      deepEqual(decodeDesired(bytes(JSON.stringify({ version, state }))), {
        version,
        state: normal,
      });
    }),
  );
});

Deno.test("fuzz: command payloads decode back to the JSON value that was sent", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const normal = JSON.parse(JSON.stringify(value));
      deepEqual(decodeCommandPayload(bytes(JSON.stringify(value))), normal);
      deepEqual(JSON.parse(encodeResponse(200, value)), { status: 200, body: normal });
    }),
  );
});
