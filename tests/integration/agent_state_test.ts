/**
 * The agent's state directory under abuse: a second agent on it, a database
 * emptied behind the agent's back, a corrupt outbox page. Each case must end
 * in a clear error or a loud report, never in silent loss or a log flood.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { type Agent, createAgent } from "../../actors/agent/agent.ts";
import { parseConfig } from "../../actors/agent/config.ts";
import { configureLogging, resetLogging } from "../../actors/runtime/logging.ts";
import { RestartIntensityError } from "../../actors/runtime/supervisor.ts";
import { StateDirLockedError } from "../../actors/store/state_dir.ts";
import { startAedes } from "../helpers/brokers.ts";
import { observe } from "../helpers/mqtt_observer.ts";
import { testAgent } from "../helpers/agent.ts";

async function withStateDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "outpost_state_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A broker URL that refuses connections: the agent stays offline and queues. */
async function deadBrokerUrl(): Promise<{ url: string; port: number }> {
  const broker = await startAedes();
  await broker.stop();
  return { url: broker.url, port: broker.port };
}

/** Publishes `count` records while offline; returns their seqs. */
async function queueRecords(agent: Agent, count: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) seqs.push(await agent.publish("queued", { i }));
  return seqs;
}

Deno.test("a second agent on the same state directory exits before touching the network, naming the directory and the holder's pid", async () => {
  await withStateDir(async (stateDir) => {
    const broker = await startAedes();
    try {
      const { agent: first } = await testAgent({ url: broker.url, stateDir });
      await first.start();
      try {
        await first.connected();
        let drops = 0;
        const stop = first.cloud("test")!.link.onStatus((up) => void (!up && drops++));
        const { agent: second } = await testAgent({ url: broker.url, stateDir });
        await assert.rejects(second.start(), (error: Error) => {
          assert.ok(error instanceof StateDirLockedError, `got ${error}`);
          assert.match(error.message, new RegExp(`"${stateDir}"`));
          assert.match(error.message, new RegExp(`process ${Deno.pid} holds its lock`));
          return true;
        });
        assert.equal(drops, 0, "the first agent was never knocked off its broker");
        assert.ok(first.status().clouds[0].connected);
        stop();
      } finally {
        await first.stop();
      }
      // Released with the first agent: a new one may take the directory.
      const { agent: third } = await testAgent({ url: broker.url, stateDir });
      await third.start();
      await third.stop();
    } finally {
      await broker.stop();
    }
  });
});

Deno.test("an emptied database next to earlier state is reported loudly and seqs never go backwards", async () => {
  await withStateDir(async (stateDir) => {
    const offline = await deadBrokerUrl();
    const { agent: before } = await testAgent({ url: offline.url, stateDir });
    await before.start();
    const queued = await queueRecords(before, 5);
    await before.stop();

    // The database file is emptied (a failed copy, a bad restore): SQLite
    // would open it as a fresh database.
    for (const suffix of ["-wal", "-shm"]) {
      await Deno.remove(`${stateDir}/outpost.db${suffix}`).catch(() => {});
    }
    await Deno.writeFile(`${stateDir}/outpost.db`, new Uint8Array());

    const lines: string[] = [];
    await configureLogging({ level: "error", write: (line) => lines.push(line) });
    const broker = await startAedes({ port: offline.port });
    const cloud = await observe(broker.url, ["outpost/dev-1/#"]);
    try {
      const { agent } = await testAgent({ url: broker.url, stateDir });
      await agent.start();
      try {
        const report = await cloud.waitFor((m) => m.topic.endsWith("/events/store.recreated"));
        const event = JSON.parse(report.text);
        assert.ok(event.seq > Math.max(...queued), `event seq ${event.seq} is above ${queued}`);
        assert.equal(event.data.database, "empty");
        assert.match(event.text, /any records the old one queued are lost/);
        const next = await agent.publish("after", { i: 0 });
        assert.ok(next > event.seq, `seq ${next} continues after the report`);
        assert.ok(
          lines.some((l) => l.includes(`${stateDir}/outpost.db was empty`)),
          `the log names the file: ${lines.join("\n")}`,
        );
      } finally {
        await agent.stop();
      }
    } finally {
      await resetLogging();
      await cloud.close();
      await broker.stop();
    }
  });
});

/** Overwrites the root page of the outbox's table with garbage. */
function corruptOutbox(stateDir: string): void {
  const file = `${stateDir}/outpost.db`;
  const db = new DatabaseSync(file);
  const { page_size: pageSize } = db.prepare("PRAGMA page_size").get() as { page_size: number };
  const { rootpage } = db.prepare(
    "SELECT rootpage FROM sqlite_master WHERE name = 'outbox_records'",
  ).get() as { rootpage: number };
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  const bytes = Deno.readFileSync(file);
  bytes.fill(0xa5, (rootpage - 1) * pageSize, rootpage * pageSize);
  Deno.writeFileSync(file, bytes);
}

Deno.test("a corrupt outbox crashes the store actor until the agent gives up, naming the file, without a log line per sample", async () => {
  await withStateDir(async (stateDir) => {
    const offline = await deadBrokerUrl();
    const { agent: before } = await testAgent({ url: offline.url, stateDir });
    await before.start();
    await queueRecords(before, 200);
    await before.stop();
    corruptOutbox(stateDir);

    const lines: string[] = [];
    await configureLogging({ level: "error", write: (line) => lines.push(line) });
    const broker = await startAedes({ port: offline.port });
    try {
      const config = parseConfig(
        `[agent]
deviceId = "dev-1"
stateDir = "${stateDir}"
[telemetry.system]
enabled = true
intervalSec = 0.02
[clouds.test]
type = "mqtt"
url = "${broker.url}"
`,
        { source: "corrupt test", env: {} },
      );
      const agent = createAgent(config, { control: false });
      await agent.start();
      const deadline = Promise.withResolvers<never>();
      const timer = setTimeout(
        () => deadline.reject(new Error("the agent kept running on a corrupt database")),
        30_000,
      );
      try {
        const exit = await Promise.race([agent.exited, deadline.promise]);
        assert.equal(exit.reason, "gave_up");
        let cause: unknown = exit.reason === "gave_up" ? exit.error : undefined;
        while (cause instanceof RestartIntensityError) cause = cause.cause;
        assert.match(String(cause), new RegExp(`${stateDir}/outpost\\.db: the file is corrupt`));
      } finally {
        clearTimeout(timer);
        await agent.stop();
      }
      const sampleErrors = lines.filter((l) => l.includes("Cannot store a system record"));
      assert.ok(sampleErrors.length >= 1, "the failing samples were logged");
      assert.ok(
        sampleErrors.length <= 2,
        `identical sample errors are counted, not repeated: ${sampleErrors.length} lines`,
      );
    } finally {
      await resetLogging();
      await broker.stop();
    }
  });
});
