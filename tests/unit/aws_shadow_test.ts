import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { decodeResponse } from "../../protocols/aws_shadow_response.ts";
import {
  deltaOf,
  diffState,
  encodeUpdate,
  mergeState,
  newClientToken,
  SHADOW_STATE_LIMIT,
  ShadowError,
  type ShadowErrorCode,
  type ShadowState,
  shadowTopics,
} from "../../protocols/aws_shadow.ts";

function throwsShadowError(fn: () => unknown, code: ShadowErrorCode, message: RegExp): void {
  throws(fn, (error: unknown) => {
    ok(error instanceof ShadowError, `expected a ShadowError, got ${error}`);
    equal(error.code, code);
    ok(message.test(error.message), `${JSON.stringify(error.message)} should match ${message}`);
    return true;
  });
}

Deno.test("classic shadow topics follow $aws/things/<thing>/shadow/…", () => {
  const t = shadowTopics("pump-7");
  equal(t.get, "$aws/things/pump-7/shadow/get");
  equal(t.getAccepted, "$aws/things/pump-7/shadow/get/accepted");
  equal(t.getRejected, "$aws/things/pump-7/shadow/get/rejected");
  equal(t.update, "$aws/things/pump-7/shadow/update");
  equal(t.updateAccepted, "$aws/things/pump-7/shadow/update/accepted");
  equal(t.updateRejected, "$aws/things/pump-7/shadow/update/rejected");
  equal(t.updateDelta, "$aws/things/pump-7/shadow/update/delta");
  equal(t.updateDocuments, "$aws/things/pump-7/shadow/update/documents");
  equal(t.delete, "$aws/things/pump-7/shadow/delete");
  equal(t.deleteAccepted, "$aws/things/pump-7/shadow/delete/accepted");
  equal(t.deleteRejected, "$aws/things/pump-7/shadow/delete/rejected");
  deepEqual(t.subscriptions, [
    "$aws/things/pump-7/shadow/get/accepted",
    "$aws/things/pump-7/shadow/get/rejected",
    "$aws/things/pump-7/shadow/update/accepted",
    "$aws/things/pump-7/shadow/update/rejected",
    "$aws/things/pump-7/shadow/update/delta",
    "$aws/things/pump-7/shadow/update/documents",
    "$aws/things/pump-7/shadow/delete/accepted",
    "$aws/things/pump-7/shadow/delete/rejected",
  ]);
});

Deno.test("named shadow topics insert name/<name> after shadow", () => {
  const t = shadowTopics("plant:line_1", "telemetry-config");
  equal(t.update, "$aws/things/plant:line_1/shadow/name/telemetry-config/update");
  equal(t.updateDelta, "$aws/things/plant:line_1/shadow/name/telemetry-config/update/delta");
  equal(t.get, "$aws/things/plant:line_1/shadow/name/telemetry-config/get");
  equal(t.deleteRejected, "$aws/things/plant:line_1/shadow/name/telemetry-config/delete/rejected");
  equal(t.subscriptions.length, 8);
  ok(
    t.subscriptions.every((s) =>
      s.startsWith("$aws/things/plant:line_1/shadow/name/telemetry-config/")
    ),
  );
  ok(!t.subscriptions.includes(t.update), "requests are not subscribed to");
});

Deno.test("thing and shadow names outside AWS's alphabet or length are refused by name", () => {
  throws(() => shadowTopics(""), /Invalid AWS thing name: must be 1 to 128 characters.*found ""/);
  throws(() => shadowTopics("a/b"), /Invalid AWS thing name.*found "a\/b"/);
  throws(() => shadowTopics("a+"), /Invalid AWS thing name/);
  throws(() => shadowTopics("x".repeat(129)), /Invalid AWS thing name/);
  equal(shadowTopics("x".repeat(128)).get.length, "$aws/things//shadow/get".length + 128);
  throws(() => shadowTopics("dev", "a.b"), /Invalid AWS shadow name: must be 1 to 64.*found "a.b"/);
  throws(() => shadowTopics("dev", ""), /Invalid AWS shadow name/);
  throws(() => shadowTopics("dev", "n".repeat(65)), /Invalid AWS shadow name/);
  ok(shadowTopics("dev", "n".repeat(64)));
});

Deno.test("an update carries state, clientToken and the version only when given", () => {
  equal(
    encodeUpdate({ reported: { on: true }, clientToken: "t-1" }),
    '{"state":{"reported":{"on":true}},"clientToken":"t-1"}',
  );
  equal(
    encodeUpdate({ desired: { a: null }, reported: { b: [1, 2] }, clientToken: "t", version: 7 }),
    '{"state":{"desired":{"a":null},"reported":{"b":[1,2]}},"clientToken":"t","version":7}',
  );
  equal(
    encodeUpdate({ desired: null, clientToken: "t" }),
    '{"state":{"desired":null},"clientToken":"t"}',
  );
  throwsShadowError(() => encodeUpdate({ clientToken: "t" }), "empty", /desired or a reported/);
  throws(() => encodeUpdate({ reported: {}, clientToken: "t", version: -1 }), TypeError);
  throws(() => encodeUpdate({ reported: {}, clientToken: "" }), TypeError);
});

Deno.test("the state section may be 8192 bytes of compact UTF-8 JSON and not one more", () => {
  // {"reported":{"k":"…"}} is 21 bytes around the value.
  const fits = "x".repeat(SHADOW_STATE_LIMIT - 21);
  ok(encodeUpdate({ reported: { k: fits }, clientToken: "t" }));
  throwsShadowError(
    () => encodeUpdate({ reported: { k: fits + "x" }, clientToken: "t" }),
    "too_large",
    /8193 bytes, more than AWS's limit of 8192/,
  );
  // Multi-byte characters count in bytes, and desired and reported together.
  const quarter = "é".repeat(1100); // 2200 bytes, 8800 in all
  throwsShadowError(
    () =>
      encodeUpdate({
        desired: { a: quarter, b: quarter },
        reported: { a: quarter, b: quarter },
        clientToken: "t",
      }),
    "too_large",
    /The shadow state is 88\d\d bytes, more than/,
  );
  ok(encodeUpdate({ desired: { a: quarter, b: quarter }, clientToken: "t" }), "either alone fits");
});

Deno.test("a clientToken may be 64 bytes and not one more", () => {
  ok(encodeUpdate({ reported: {}, clientToken: "t".repeat(64) }));
  throwsShadowError(
    () => encodeUpdate({ reported: {}, clientToken: "t".repeat(65) }),
    "token_too_long",
    /is 65 bytes, more than 64/,
  );
  throwsShadowError(
    () => encodeUpdate({ reported: {}, clientToken: "é".repeat(33) }),
    "token_too_long",
    /66 bytes/,
  );
});

Deno.test("a section may nest 6 levels and not 7", () => {
  const nest = (levels: number): ShadowState => {
    let value: ShadowState = { leaf: 1 };
    for (let i = 1; i < levels; i++) value = { n: value };
    return value;
  };
  ok(encodeUpdate({ reported: nest(6), clientToken: "t" }));
  throwsShadowError(
    () => encodeUpdate({ desired: nest(7), clientToken: "t" }),
    "too_deep",
    /desired section nests 7 levels, more than 6/,
  );
  throwsShadowError(
    () => encodeUpdate({ reported: { a: [[[[[[1]]]]]] }, clientToken: "t" }),
    "too_deep",
    /reported section nests 7/,
  );
});

const topics = shadowTopics("pump-7");

Deno.test("get/accepted decodes state sections, metadata, version, timestamp and token", () => {
  const payload = JSON.stringify({
    state: {
      desired: { event_publishing_enabled: false, event_type_blacklist: ["debug"] },
      reported: { event_publishing_enabled: true, event_type_blacklist: [] },
      delta: { event_publishing_enabled: false, event_type_blacklist: ["debug"] },
    },
    metadata: {
      desired: { event_publishing_enabled: { timestamp: 1700000000 } },
      reported: { event_publishing_enabled: { timestamp: 1699990000 } },
    },
    version: 12,
    timestamp: 1700000100,
    clientToken: "c-1",
  });
  deepEqual(decodeResponse(payload, topics.getAccepted), {
    kind: "accepted",
    state: {
      desired: { event_publishing_enabled: false, event_type_blacklist: ["debug"] },
      reported: { event_publishing_enabled: true, event_type_blacklist: [] },
      delta: { event_publishing_enabled: false, event_type_blacklist: ["debug"] },
    },
    metadata: {
      desired: { event_publishing_enabled: { timestamp: 1700000000 } },
      reported: { event_publishing_enabled: { timestamp: 1699990000 } },
    },
    version: 12,
    timestamp: 1700000100,
    clientToken: "c-1",
  });
  // Bytes decode the same, and the shape alone says "accepted".
  equal(decodeResponse(new TextEncoder().encode(payload)).kind, "accepted");
});

Deno.test("update/accepted and delete/accepted decode; delete carries no state", () => {
  deepEqual(
    decodeResponse(
      '{"state":{"reported":{"on":true}},"metadata":{"reported":{"on":{"timestamp":5}}},"version":3,"timestamp":6,"clientToken":"c"}',
      topics.updateAccepted,
    ),
    {
      kind: "accepted",
      state: { reported: { on: true } },
      metadata: { reported: { on: { timestamp: 5 } } },
      version: 3,
      timestamp: 6,
      clientToken: "c",
    },
  );
  deepEqual(decodeResponse('{"version":4,"timestamp":1700000200}', topics.deleteAccepted), {
    kind: "accepted",
    state: {},
    version: 4,
    timestamp: 1700000200,
  });
});

Deno.test("rejections 400, 404, 409 and 429 decode with their code, message and token", () => {
  const cases: [number, string][] = [
    [400, "Missing required node: state"],
    [404, "No shadow exists with name: 'pump-7'"],
    [409, "Version conflict"],
    [429, "Too many requests"],
  ];
  for (const [code, message] of cases) {
    const payload = JSON.stringify({ code, message, timestamp: 1700000000, clientToken: "c-9" });
    deepEqual(decodeResponse(payload, topics.updateRejected), {
      kind: "rejected",
      code,
      message,
      timestamp: 1700000000,
      clientToken: "c-9",
    });
    equal(decodeResponse(payload).kind, "rejected");
  }
  deepEqual(decodeResponse('{"code":404,"message":"No shadow"}', topics.getRejected), {
    kind: "rejected",
    code: 404,
    message: "No shadow",
  });
});

Deno.test("update/delta decodes the differing desired state, even one named like a section", () => {
  const payload =
    '{"version":5,"timestamp":1700000300,"state":{"desired":1,"event_type_blacklist":["a"]},"metadata":{"event_type_blacklist":[{"timestamp":1700000300}]}}';
  deepEqual(decodeResponse(payload, topics.updateDelta), {
    kind: "delta",
    state: { desired: 1, event_type_blacklist: ["a"] },
    version: 5,
    timestamp: 1700000300,
    metadata: { event_type_blacklist: [{ timestamp: 1700000300 }] },
  });
  equal(decodeResponse('{"version":5,"timestamp":1,"state":{"fan":2}}').kind, "delta");
});

Deno.test("update/documents decodes previous and current; a new shadow has no previous", () => {
  const payload = JSON.stringify({
    previous: {
      state: { desired: { fan: 1 }, reported: { fan: 1 } },
      metadata: { desired: { fan: { timestamp: 1 } } },
      version: 1,
    },
    current: { state: { desired: { fan: 2 }, reported: { fan: 1 } }, metadata: {}, version: 2 },
    timestamp: 1700000400,
    clientToken: "c-2",
  });
  deepEqual(decodeResponse(payload, topics.updateDocuments), {
    kind: "documents",
    previous: {
      state: { desired: { fan: 1 }, reported: { fan: 1 } },
      metadata: { desired: { fan: { timestamp: 1 } } },
      version: 1,
    },
    current: { state: { desired: { fan: 2 }, reported: { fan: 1 } }, metadata: {}, version: 2 },
    timestamp: 1700000400,
    clientToken: "c-2",
  });
  const created = decodeResponse(
    '{"previous":null,"current":{"state":{"reported":{"on":true}},"version":1},"timestamp":7}',
    topics.updateDocuments,
  );
  ok(created.kind === "documents");
  equal(created.previous, undefined);
  equal(created.current.version, 1);
});

Deno.test("malformed responses fail with a ShadowError saying what was wrong", () => {
  throwsShadowError(() => decodeResponse("{", topics.getAccepted), "malformed", /invalid JSON/);
  throwsShadowError(
    () => decodeResponse("[1]"),
    "malformed",
    /must be a JSON object, found an array/,
  );
  throwsShadowError(
    () => decodeResponse(new Uint8Array([0xff, 0xfe])),
    "malformed",
    /not valid UTF-8/,
  );
  throwsShadowError(
    () => decodeResponse('{"state":{},"version":"3","timestamp":1}', topics.getAccepted),
    "malformed",
    /accepted shadow response: version must be a non-negative integer, found "3"/,
  );
  throwsShadowError(
    () => decodeResponse('{"state":{"desired":[1]},"version":3,"timestamp":1}', topics.getAccepted),
    "malformed",
    /state\.desired must be an object, found an array/,
  );
  throwsShadowError(
    () => decodeResponse('{"code":"409","message":"x"}', topics.updateRejected),
    "malformed",
    /rejected shadow response: code must be an integer, found "409"/,
  );
  throwsShadowError(
    () => decodeResponse('{"version":1,"timestamp":1}', topics.updateDelta),
    "malformed",
    /shadow delta: state must be an object, found nothing/,
  );
  throwsShadowError(
    () => decodeResponse('{"version":1,"timestamp":1,"state":{}}', "$aws/things/x/shadow/update"),
    "malformed",
    /not a shadow response topic/,
  );
});

Deno.test("decodeResponse throws nothing but ShadowError, whatever arrives", () => {
  const responseTopic = fc.constantFrom(undefined, ...topics.subscriptions, "x/y");
  const check = (payload: string | Uint8Array, topic: string | undefined) => {
    try {
      const response = decodeResponse(payload, topic);
      ok(["accepted", "rejected", "delta", "documents"].includes(response.kind));
    } catch (error) {
      if (!(error instanceof ShadowError)) throw error;
      equal(error.code, "malformed");
    }
  };
  fc.assert(fc.property(fc.string(), responseTopic, check), { numRuns: 500 });
  fc.assert(fc.property(fc.uint8Array(), responseTopic, check), { numRuns: 300 });
  const shaped = fc.record({
    state: fc.oneof(
      fc.jsonValue(),
      fc.dictionary(fc.constantFrom("desired", "reported", "delta"), fc.jsonValue()),
    ),
    version: fc.oneof(fc.nat(), fc.jsonValue()),
    timestamp: fc.oneof(fc.nat(), fc.jsonValue()),
    code: fc.oneof(fc.constantFrom(400, 404, 409), fc.jsonValue()),
    message: fc.jsonValue(),
    metadata: fc.jsonValue(),
    clientToken: fc.jsonValue(),
    previous: fc.jsonValue(),
    current: fc.jsonValue(),
  }, { requiredKeys: [] });
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), shaped), responseTopic, (doc, topic) => {
      check(JSON.stringify(doc) ?? "null", topic);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("mergeState merges objects, deletes on null, replaces arrays and scalars whole", () => {
  const cases: [ShadowState, ShadowState, ShadowState][] = [
    [{}, { a: 1 }, { a: 1 }],
    [{ a: 1, b: 2 }, { a: null }, { b: 2 }],
    [{ a: { x: 1, y: 2 } }, { a: { y: 3, z: 4 } }, { a: { x: 1, y: 3, z: 4 } }],
    [{ a: { x: 1, y: 2 } }, { a: { y: null } }, { a: { x: 1 } }],
    [{ a: [1, 2, 3] }, { a: [4] }, { a: [4] }],
    [{ a: [{ x: 1 }] }, { a: [{ y: 2 }] }, { a: [{ y: 2 }] }],
    [{ a: 5 }, { a: { b: 1, c: null } }, { a: { b: 1 } }],
    [{ a: { b: 1 } }, { a: "flat" }, { a: "flat" }],
    [{ a: 1 }, { missing: null }, { a: 1 }],
  ];
  for (const [current, patch, expected] of cases) {
    const before = structuredClone(current);
    deepEqual(mergeState(current, patch), expected, JSON.stringify([current, patch]));
    deepEqual(current, before, "the current state is not changed");
  }
  const hostile = mergeState({}, JSON.parse('{"__proto__":{"polluted":true}}'));
  deepEqual(Object.keys(hostile), ["__proto__"]);
  equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("deltaOf lists desired keys that differ from reported, recursing into objects", () => {
  const cases: [ShadowState, ShadowState, ShadowState][] = [
    [{ a: 1 }, { a: 1 }, {}],
    [{ a: 1 }, { a: 2 }, { a: 1 }],
    [{ a: 1 }, {}, { a: 1 }],
    [{}, { a: 1 }, {}],
    [{ a: { x: 1, y: 2 } }, { a: { x: 1, y: 3 } }, { a: { y: 2 } }],
    [{ a: { x: 1 } }, { a: 7 }, { a: { x: 1 } }],
    [{ a: [1, 2] }, { a: [1, 2] }, {}],
    [{ a: [1, 2] }, { a: [2, 1] }, { a: [1, 2] }],
    [{ a: [1] }, { a: [1, 2] }, { a: [1] }],
    [{ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }] }, { a: [{ x: 1 }] }],
    [{ on: false, list: [] }, { on: true, list: [] }, { on: false }],
    [{ toString: 1 }, {}, { toString: 1 }],
  ];
  for (const [desired, reported, expected] of cases) {
    deepEqual(deltaOf(desired, reported), expected, JSON.stringify([desired, reported]));
  }
});

const state = fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 3 }), {
  maxKeys: 5,
}) as fc.Arbitrary<ShadowState>;

Deno.test("after a merge, reporting the merged state leaves no delta", () => {
  fc.assert(
    fc.property(state, state, (current, patch) => {
      const merged = mergeState(current, patch);
      deepEqual(deltaOf(merged, merged), {});
    }),
    { numRuns: 500 },
  );
});

Deno.test("reporting the delta makes reported match desired", () => {
  fc.assert(
    fc.property(state, state, state, (desiredPatch, reported0, desired0) => {
      const desired = mergeState(mergeState({}, desired0), desiredPatch);
      const reported = mergeState({}, reported0);
      const after = mergeState(reported, deltaOf(desired, reported));
      deepEqual(deltaOf(desired, after), {});
    }),
    { numRuns: 500 },
  );
});

Deno.test("newClientToken is random and fits AWS's 64-byte limit", () => {
  const tokens = new Set(Array.from({ length: 100 }, newClientToken));
  equal(tokens.size, 100);
  for (const token of tokens) ok(new TextEncoder().encode(token).length <= 64);
  ok(encodeUpdate({ reported: {}, clientToken: newClientToken() }));
});

Deno.test("diffState is the patch that turns one state into another", () => {
  deepEqual(diffState({ a: 1, b: { x: 1, y: 2 } }, { b: { x: 1, y: 3 }, c: true }), {
    a: null,
    b: { y: 3 },
    c: true,
  });
  deepEqual(diffState({ a: [1] }, { a: [1] }), {});
  fc.assert(
    fc.property(state, state, (from0, to0) => {
      // States as the device holds them: merged, so without nulls.
      const from = mergeState({}, from0);
      const to = mergeState({}, to0);
      deepEqual(deltaOf(mergeState(from, diffState(from, to)), to), {});
      deepEqual(deltaOf(to, mergeState(from, diffState(from, to))), {});
    }),
    { numRuns: 500 },
  );
});
