/**
 * The task actor (actors/runtime/task_actor.ts) with plain promises in place
 * of real jobs: each test settles the job by hand and waits for the state
 * it expects, never for time.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { type AnyActorLogic, type AnyActorRef, createActor, waitFor } from "xstate";
import { child, createSystem, supervisor } from "../../mod.ts";
import { taskActor, type TaskOptions } from "../../actors/runtime/task_actor.ts";
import { nextEvent } from "../helpers/runtime.ts";

/** A job the test settles by hand, with what it was given. */
function manualJob<T>() {
  const job = {
    signal: undefined as AbortSignal | undefined,
    starts: 0,
    resolve: (_value: T) => {},
    reject: (_error: unknown) => {},
    run: (signal: AbortSignal): Promise<T> => {
      job.signal = signal;
      job.starts++;
      return new Promise<T>((resolve, reject) => {
        job.resolve = resolve;
        job.reject = reject;
      });
    },
  };
  return job;
}

function start<T>(run: (signal: AbortSignal) => Promise<T>, options: TaskOptions = {}) {
  const stops: string[] = [];
  const actor = createActor(
    taskActor("task", run, { ...options, onStop: () => stops.push("onStop") }) as AnyActorLogic,
  );
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  return { actor: actor as AnyActorRef, stops, errors };
}

const until = (actor: AnyActorRef, value: string) =>
  waitFor(actor, (s) => s.value === value, { timeout: 2000 });

Deno.test("a job that resolves finishes the actor with its result as output", async () => {
  const job = manualJob<{ thing: string }>();
  const { actor, stops, errors } = start(job.run);
  equal(actor.getSnapshot().value, "running");
  ok(job.signal && !job.signal.aborted, "the job runs with a live signal");
  job.resolve({ thing: "t1" });
  const done = await until(actor, "done");
  equal(done.status, "done");
  deepEqual(done.output, { thing: "t1" });
  deepEqual([stops, errors], [[], []]);
});

Deno.test("with untilStop a finished job waits in done, and outpost.stop ends it", async () => {
  const job = manualJob<void>();
  const { actor, stops } = start(job.run, { untilStop: true });
  job.resolve();
  equal((await until(actor, "done")).status, "active", "a permanent child is not restarted");
  actor.send({ type: "outpost.stop" });
  equal((await until(actor, "stopped")).status, "done");
  deepEqual(stops, ["onStop"]);
});

Deno.test("a job that rejects is an error exit with the job's error", async () => {
  const job = manualJob<void>();
  const { actor, errors } = start(job.run);
  const failure = new Error("AWS rejected RegisterThing: 400");
  job.reject(failure);
  await rejects(waitFor(actor, () => false, { timeout: 2000 }), failure);
  equal(actor.getSnapshot().status, "error");
  deepEqual(errors, [failure]);
});

Deno.test("a job that throws before returning a promise is an error exit too", async () => {
  const { actor } = start(() => {
    throw new TypeError("bad options");
  });
  await rejects(waitFor(actor, () => false, { timeout: 2000 }), TypeError);
});

Deno.test("outpost.stop while the job runs aborts it, calls onStop once and waits for the job to settle", async () => {
  const job = manualJob<void>();
  const { actor, stops, errors } = start(job.run);
  actor.send({ type: "outpost.stop" });
  ok(job.signal!.aborted, "the job's signal is aborted");
  deepEqual(stops, ["onStop"]);
  equal(actor.getSnapshot().value, "stopping", "the job is still closing its session");
  actor.send({ type: "outpost.stop" });
  deepEqual(stops, ["onStop"], "stopping twice does not stop twice");
  job.reject(new DOMException("aborted", "AbortError"));
  const stopped = await until(actor, "stopped");
  equal(stopped.status, "done", "a job that rejects because it was aborted is no failure");
  equal(stopped.output, undefined);
  deepEqual(errors, []);
});

Deno.test("a job that resolves after outpost.stop still ends in stopped", async () => {
  const job = manualJob<string>();
  const { actor } = start(job.run);
  actor.send({ type: "outpost.stop" });
  job.resolve("late");
  const stopped = await until(actor, "stopped");
  deepEqual([stopped.status, stopped.output], ["done", undefined]);
});

Deno.test("a forced stop aborts the job without onStop", () => {
  const job = manualJob<void>();
  const { actor, stops } = start(job.run);
  actor.stop();
  ok(job.signal!.aborted);
  deepEqual(stops, []);
});

Deno.test("under a supervisor a failed task is restarted and a finished transient one is not", async () => {
  const job = manualJob<void>();
  const system = createSystem(
    supervisor("root", { intensity: 5 }, [
      child("task", taskActor("task", job.run), {
        restart: "transient",
        backoff: { minMs: 0, maxMs: 0 },
      }),
    ]),
  );
  await system.start();
  const restarted = nextEvent(system, (e) => e.type === "started" && e.restarts === 1);
  job.reject(new Error("no network"));
  await restarted;
  equal(job.starts, 2);
  const exited = nextEvent(system, (e) => e.type === "exited");
  job.resolve();
  await exited;
  equal(system.tree().children[0].status, "exited");
  equal(job.starts, 2, "a normal exit of a transient child is final");
  await system.stop();
});
