/**
 * Restart latency, crash to running again with zero backoff: one supervised
 * permanent worker against a bare XState actor restarted by hand from its
 * error observer. Used by runtime_bench.ts.
 */
import { type AnyActorRef, createActor, setup } from "xstate";
import { child, createSystem, supervisor } from "../actors/runtime/mod.ts";

const SUPERVISOR_ID = "bench";
const CRASHING_ID = "crashing";
const CRASHING_PATH = `${SUPERVISOR_ID}/${CRASHING_ID}`;

/** A worker whose action throws on `crash`, so the actor fails inside `send`. */
const crashingMachine = setup({
  types: { events: {} as { type: "crash" } },
  actions: {
    explode: () => {
      throw new Error("benchmark crash");
    },
  },
}).createMachine({
  id: "crashing",
  initial: "running",
  states: {
    running: { on: { crash: { actions: "explode" } } },
  },
});

/**
 * Crash-to-restart latencies of one permanent worker under a one_for_one
 * supervisor with zero backoff and an intensity it never reaches: from just
 * before `send(crash)` to the `started` event of the next incarnation.
 */
export async function supervisedRestartLatencies(samples: number): Promise<number[]> {
  const system = createSystem(
    supervisor(SUPERVISOR_ID, { strategy: "one_for_one", intensity: 1e9, periodMs: 1000 }, [
      child(CRASHING_ID, crashingMachine, {
        restart: "permanent",
        backoff: { minMs: 0, maxMs: 0 },
      }),
    ]),
  );
  let restarted: (at: number) => void = () => {};
  const subscription = system.subscribe((event) => {
    if (event.type === "started" && event.path === CRASHING_PATH && event.restarts > 0) {
      restarted(performance.now());
    }
  });
  await system.start();
  const latencies = await crashRepeatedly(samples, () => {
    const actor = system.get(CRASHING_PATH);
    if (!actor) throw new Error(`Cannot crash "${CRASHING_PATH}": it is not running`);
    const running = new Promise<number>((resolve) => (restarted = resolve));
    return { actor, running };
  });
  subscription.unsubscribe();
  await system.stop();
  const exit = await system.exited;
  if (exit.reason !== "stopped") {
    throw new Error(`The benchmark system ended with "${exit.reason}" instead of being stopped`);
  }
  return latencies;
}

/**
 * The baseline: a bare root actor whose error observer creates and starts a
 * fresh actor from the same machine; from just before `send(crash)` to the
 * new actor started.
 */
export async function bareRestartLatencies(samples: number): Promise<number[]> {
  let restarted: (at: number) => void = () => {};
  let current = startBare();
  function startBare(): AnyActorRef {
    const actor = createActor(crashingMachine);
    actor.subscribe({
      error() {
        current = startBare();
        restarted(performance.now());
      },
    });
    actor.start();
    return actor;
  }
  const latencies = await crashRepeatedly(samples, () => {
    const running = new Promise<number>((resolve) => (restarted = resolve));
    return { actor: current, running };
  });
  current.stop();
  return latencies;
}

/** Crashes the actor `prepare` returns, `samples` times, each after the previous restart. */
async function crashRepeatedly(
  samples: number,
  prepare: () => { actor: { send(event: { type: string }): void }; running: Promise<number> },
): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const { actor, running } = prepare();
    const crashedAt = performance.now();
    actor.send({ type: "crash" });
    latencies.push((await running) - crashedAt);
  }
  return latencies;
}
