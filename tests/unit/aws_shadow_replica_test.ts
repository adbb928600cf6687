/**
 * The device's side of a shadow, without an actor or a broker: what a
 * delta does to desired, reported, the version and the handlers.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { ShadowReplica } from "../../actors/aws/shadow_replica.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";

/** A replica in sync at version 3 with `fan` = 1, whose handlers record each call. */
function syncedReplica() {
  const replica = new ShadowReplica("aws", "classic");
  const calls: [string, unknown][] = [];
  for (const key of ["fan", "blob", "tree"]) {
    replica.handle(key, (value) => {
      calls.push([key, value]);
      return value;
    });
  }
  replica.fetched({ fan: 1 }, { fan: 1 }, 3);
  replica.report({ fan: 1 });
  return { replica, calls };
}

function snapshot(replica: ShadowReplica) {
  return { desired: replica.desired, reported: replica.reported, version: replica.version };
}

Deno.test("a delta that would make the document larger than 8 KB changes nothing and runs no handler", async () => {
  const { replica, calls } = syncedReplica();
  const before = snapshot(replica);
  const patch = await replica.apply({ fan: 2, blob: "x".repeat(20_000) }, 4);
  deepEqual(patch, {}, "nothing is reported");
  deepEqual(calls, [], "no handler ran");
  deepEqual(snapshot(replica), before);
});

Deno.test("after a refused delta the next small one applies and is reported", async () => {
  const { replica, calls } = syncedReplica();
  await replica.apply({ blob: "x".repeat(20_000) }, 4);
  const patch = await replica.apply({ fan: 2 }, 5);
  deepEqual(patch, { fan: 2 });
  deepEqual(calls, [["fan", 2]]);
  deepEqual(snapshot(replica), { desired: { fan: 2 }, reported: { fan: 2 }, version: 5 });
});

Deno.test("a delta nested deeper than AWS allows is refused the same way", async () => {
  const { replica, calls } = syncedReplica();
  const before = snapshot(replica);
  const deep = { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } };
  deepEqual(await replica.apply({ tree: deep }, 4), {});
  deepEqual(calls, []);
  deepEqual(snapshot(replica), before);
  deepEqual(await replica.apply({ fan: 3 }, 5), { fan: 3 });
  equal(replica.reported.fan, 3);
});

Deno.test("the log names the desired key a handler refused and the one no handler takes", async () => {
  const lines: string[] = [];
  await configureLogging({ write: (line) => lines.push(line) });
  try {
    const { replica } = syncedReplica();
    replica.handle("interval", (value) => {
      if (typeof value !== "number" || value < 1) throw new RangeError("interval must be >= 1");
      return value;
    });
    await replica.apply({ interval: 0, colour: "red" }, 4);
    ok(
      lines.some((l) =>
        l.includes("shadow classic refused desired interval: interval must be >= 1")
      ),
      lines.join("\n"),
    );
    ok(lines.some((l) => l.includes("no handler applied desired key colour")), lines.join("\n"));
  } finally {
    await resetLogging();
  }
});

Deno.test("keys without a handler of their own go to the other-keys handler as one document; what it returns is reported", async () => {
  const { replica, calls } = syncedReplica();
  const others: [Record<string, unknown>, number][] = [];
  replica.handleOtherKeys((desired, version) => {
    others.push([desired, version]);
    return { mode: String(desired.mode).toUpperCase() };
  });
  const patch = await replica.apply({ fan: 2, mode: "eco", colour: "red" }, 4);
  deepEqual(calls, [["fan", 2]], "a key with its own handler stays with it");
  deepEqual(others, [[{ mode: "eco", colour: "red" }, 4]]);
  deepEqual(patch, { fan: 2, mode: "ECO" }, "colour was not applied: not reported");
  deepEqual(replica.reported, { fan: 2, mode: "ECO" });
});

Deno.test("an other-keys handler returning nothing applied every key as given; one that throws reports none", async () => {
  const lines: string[] = [];
  await configureLogging({ write: (line) => lines.push(line) });
  try {
    const { replica } = syncedReplica();
    replica.handleOtherKeys((desired) => {
      if ("broken" in desired) throw new Error("cannot apply broken");
    });
    deepEqual(await replica.apply({ mode: "eco", level: { a: 1 } }, 4), {
      mode: "eco",
      level: { a: 1 },
    });
    deepEqual(await replica.apply({ fan: 5, broken: true, mode: "off" }, 5), { fan: 5 });
    deepEqual(replica.reported, { fan: 5, mode: "eco", level: { a: 1 } });
    ok(
      lines.some((l) => l.includes("refused broken, mode of version 5: cannot apply broken")),
      lines.join("\n"),
    );
  } finally {
    await resetLogging();
  }
});

Deno.test("what the other-keys handler returns beyond the keys it was given is not reported", async () => {
  const { replica } = syncedReplica();
  replica.handleOtherKeys(() => ({ mode: "eco", event_publishing_enabled: false }));
  deepEqual(await replica.apply({ mode: "eco" }, 4), { mode: "eco" });
});
