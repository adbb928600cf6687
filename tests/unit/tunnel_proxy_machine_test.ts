/**
 * The tunnel proxy statechart alone: test boxes instead of sockets and a
 * simulated clock, so timeouts are checked to the millisecond.
 */
import { deepEqual, equal } from "node:assert/strict";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import {
  type PipeEnd,
  TunnelFailure,
  type TunnelOutcome,
  tunnelProxyMachine,
} from "../../machines/tunnel_proxy.ts";
import type { AccessDecision, TunnelTarget } from "../../actors/tunnels/types.ts";

interface Deferred<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  aborted: boolean;
}

function deferred<T>(signal: AbortSignal, slot: (d: Deferred<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const d: Deferred<T> = { resolve, reject, aborted: false };
    signal.addEventListener("abort", () => (d.aborted = true));
    slot(d);
  });
}

/** Stands in for every effect and records what the machine asked for. */
function start(options: { allowed?: boolean; dialTimeoutMs?: number } = {}) {
  const box = {
    allowlistAsked: [] as TunnelTarget[],
    access: undefined as Deferred<AccessDecision> | undefined,
    websocket: undefined as Deferred<void> | undefined,
    target: undefined as Deferred<void> | undefined,
    pipe: undefined as Deferred<PipeEnd> | undefined,
    release: undefined as Deferred<void> | undefined,
    releases: [] as PipeEnd[],
    destroyed: 0,
    reports: [] as unknown[],
  };
  const logic = tunnelProxyMachine.provide({
    guards: {
      targetAllowed: (_, target) => {
        box.allowlistAsked.push(target);
        return options.allowed ?? true;
      },
    },
    actors: {
      checkAccess: fromPromise(({ signal }) => deferred(signal, (d) => (box.access = d))),
      dialWebSocket: fromPromise(({ signal }) => deferred(signal, (d) => (box.websocket = d))),
      dialTarget: fromPromise(({ signal }) => deferred(signal, (d) => (box.target = d))),
      pipe: fromPromise(({ signal }) => deferred(signal, (d) => (box.pipe = d))),
      release: fromPromise(({ signal, input }) => {
        box.releases.push(input);
        return deferred(signal, (d) => (box.release = d));
      }),
      hold: fromCallback(() => () => void box.destroyed++),
    },
    actions: {
      reportOpen: () => void box.reports.push("open"),
      reportFailed: (_, failure) => void box.reports.push({ failed: failure }),
      reportClosed: (_, end) => void box.reports.push({ closed: end }),
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(logic, {
    clock,
    input: {
      target: { host: "10.0.0.5", port: 22 },
      dialTimeoutMs: options.dialTimeoutMs ?? 10_000,
    },
  });
  actor.start();
  const state = () => actor.getSnapshot().value;
  const output = () => actor.getSnapshot().output as TunnelOutcome | undefined;
  return { actor, clock, box, state, output };
}

/** Lets promise continuations (a fake effect settling) reach the machine. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

async function toOpen(t: ReturnType<typeof start>) {
  t.box.access!.resolve({ allowed: true });
  await settle();
  t.box.websocket!.resolve();
  t.box.target!.resolve();
  await settle();
  equal(t.state(), "open");
}

async function finishRelease(t: ReturnType<typeof start>) {
  t.box.release!.resolve();
  await settle();
}

Deno.test("an allowed tunnel dials both sides at once, opens, and closes with the pipe's status", async () => {
  const t = start();
  deepEqual(t.box.allowlistAsked, [{ host: "10.0.0.5", port: 22 }]);
  deepEqual(t.state(), { authorizing: "access" });
  t.box.access!.resolve({ allowed: true });
  await settle();
  deepEqual(t.state(), { dialing: { websocket: "connecting", target: "connecting" } });
  t.box.target!.resolve();
  await settle();
  deepEqual(t.state(), { dialing: { websocket: "connecting", target: "up" } });
  t.box.websocket!.resolve();
  await settle();
  equal(t.state(), "open");
  deepEqual(t.box.reports, ["open"]);
  t.box.pipe!.resolve({ code: 1000, reason: "device closed" });
  await settle();
  equal(t.state(), "closing");
  await finishRelease(t);
  equal(t.actor.getSnapshot().status, "done");
  deepEqual(t.output(), { status: "closed", code: 1000, reason: "device closed" });
  deepEqual(t.box.reports, ["open", { closed: { code: 1000, reason: "device closed" } }]);
  equal(t.box.destroyed, 1, "the hold is let go when the machine ends");
});

Deno.test("a target not on the allowlist fails without asking access or dialing", async () => {
  const t = start({ allowed: false });
  equal(t.state(), "closing");
  equal(t.box.access, undefined);
  equal(t.box.websocket, undefined);
  equal(t.box.target, undefined);
  await finishRelease(t);
  deepEqual(t.output(), {
    status: "failed",
    kind: "not_allowed",
    reason: "target 10.0.0.5:22 is not allowed",
  });
  deepEqual(t.box.reports, [{
    failed: { kind: "not_allowed", reason: "target 10.0.0.5:22 is not allowed" },
  }]);
});

Deno.test("an access check that says no, or throws, fails the tunnel before any dial", async () => {
  const denied = start();
  denied.box.access!.resolve({ allowed: false, reason: "the operator said no" });
  await settle();
  await finishRelease(denied);
  deepEqual(denied.output(), {
    status: "failed",
    kind: "denied",
    reason: "access denied: the operator said no",
  });
  equal(denied.box.websocket, undefined);

  const broken = start();
  broken.box.access!.reject(new Error("no session store"));
  await settle();
  await finishRelease(broken);
  deepEqual(broken.output(), {
    status: "failed",
    kind: "denied",
    reason: "access denied: the access check failed: no session store",
  });
  equal(broken.box.target, undefined);
});

Deno.test("both sides must be up within the dial timeout, or the tunnel fails naming what was late", async () => {
  const t = start({ dialTimeoutMs: 5000 });
  t.box.access!.resolve({ allowed: true });
  await settle();
  t.box.websocket!.resolve();
  await settle();
  t.clock.increment(4999);
  await settle();
  deepEqual(t.state(), { dialing: { websocket: "up", target: "connecting" } });
  t.clock.increment(1);
  await settle();
  equal(t.state(), "closing");
  equal(t.box.target!.aborted, true, "the late dial is cancelled");
  const reason = "timeout: target 10.0.0.5:22 did not open within 5000 ms";
  deepEqual(t.box.releases, [{ code: 1011, reason }]);
  await finishRelease(t);
  deepEqual(t.output(), { status: "failed", kind: "timeout", reason });
});

Deno.test("the dial timer counts from the start of dialing, not from the access check", async () => {
  const t = start({ dialTimeoutMs: 1000 });
  t.clock.increment(60_000);
  await settle();
  deepEqual(t.state(), { authorizing: "access" });
  t.box.access!.resolve({ allowed: true });
  await settle();
  t.clock.increment(999);
  await settle();
  deepEqual(t.state(), { dialing: { websocket: "connecting", target: "connecting" } });
  t.clock.increment(1);
  await settle();
  deepEqual(t.box.releases, [{
    code: 1011,
    reason: "timeout: the WebSocket and target 10.0.0.5:22 did not open within 1000 ms",
  }]);
});

Deno.test("either side failing to open fails the tunnel with its reason and cancels the other", async () => {
  const refused = start();
  refused.box.access!.resolve({ allowed: true });
  await settle();
  refused.box.target!.reject(new TunnelFailure("refused", "connection refused: 10.0.0.5:22"));
  await settle();
  equal(refused.box.websocket!.aborted, true);
  await finishRelease(refused);
  deepEqual(refused.output(), {
    status: "failed",
    kind: "refused",
    reason: "connection refused: 10.0.0.5:22",
  });

  const rejected = start();
  rejected.box.access!.resolve({ allowed: true });
  await settle();
  rejected.box.target!.resolve();
  await settle();
  rejected.box.websocket!.reject(
    new TunnelFailure("unauthorized", "WebSocket authentication rejected (401)"),
  );
  await settle();
  await finishRelease(rejected);
  deepEqual(rejected.output(), {
    status: "failed",
    kind: "unauthorized",
    reason: "WebSocket authentication rejected (401)",
  });
  deepEqual(rejected.box.releases, [{
    code: 1011,
    reason: "WebSocket authentication rejected (401)",
  }]);

  const odd = start();
  odd.box.access!.resolve({ allowed: true });
  await settle();
  odd.box.websocket!.reject(new Error("TLS handshake failed"));
  await settle();
  await finishRelease(odd);
  deepEqual(odd.output(), { status: "failed", kind: "dial", reason: "TLS handshake failed" });
});

Deno.test("outpost.stop while authorizing closes without dialing", async () => {
  const t = start();
  t.actor.send({ type: "outpost.stop" });
  equal(t.state(), "closing");
  equal(t.box.access!.aborted, true);
  await finishRelease(t);
  deepEqual(t.output(), { status: "closed", code: 1001, reason: "stopped" });
  equal(t.box.websocket, undefined);
});

Deno.test("outpost.stop while dialing cancels both dials and closes", async () => {
  const t = start();
  t.box.access!.resolve({ allowed: true });
  await settle();
  t.box.websocket!.resolve();
  await settle();
  t.actor.send({ type: "outpost.stop" });
  equal(t.box.target!.aborted, true);
  deepEqual(t.box.releases, [{ code: 1001, reason: "stopped" }]);
  await finishRelease(t);
  deepEqual(t.output(), { status: "closed", code: 1001, reason: "stopped" });
  deepEqual(t.box.reports, [{ closed: { code: 1001, reason: "stopped" } }]);
});

Deno.test("outpost.stop while open stops the pipe and closes with 1001", async () => {
  const t = start();
  await toOpen(t);
  t.actor.send({ type: "outpost.stop" });
  equal(t.box.pipe!.aborted, true);
  equal(t.state(), "closing");
  await finishRelease(t);
  deepEqual(t.output(), { status: "closed", code: 1001, reason: "stopped" });
});

Deno.test("outpost.stop while closing is ignored: the release runs once", async () => {
  const t = start();
  await toOpen(t);
  t.box.pipe!.resolve({ code: 4001, reason: "session ended" });
  await settle();
  t.actor.send({ type: "outpost.stop" });
  t.actor.send({ type: "outpost.stop" });
  equal(t.box.releases.length, 1);
  equal(t.box.release!.aborted, false);
  await finishRelease(t);
  deepEqual(t.output(), { status: "closed", code: 4001, reason: "session ended" });
});

Deno.test("a pipe that breaks after the tunnel opened closes it with 1011 rather than failing it", async () => {
  const t = start();
  await toOpen(t);
  t.box.pipe!.reject(new Error("bug in the pipe"));
  await settle();
  await finishRelease(t);
  deepEqual(t.output(), { status: "closed", code: 1011, reason: "bug in the pipe" });
});

Deno.test("a release that fails still ends the tunnel", async () => {
  const t = start({ allowed: false });
  t.box.release!.reject(new Error("close failed"));
  await settle();
  equal(t.output()?.status, "failed");
});

Deno.test("stopping the actor by force lets go of everything it holds", () => {
  const t = start();
  t.actor.stop();
  equal(t.box.destroyed, 1);
  equal(t.box.access!.aborted, true);
});
