/**
 * A state directory on a disk that fills up or turns read-only, made real
 * with a small tmpfs mounted for the test (root only: CI runs as root; the
 * tests are skipped with a message elsewhere). The error must name the
 * database file and the cause, and SIGTERM must still end the agent with 0
 * when nothing was lost.
 */
import assert from "node:assert/strict";
import { testAgent } from "../helpers/agent.ts";
import { startAedes } from "../helpers/brokers.ts";
import { LineReader } from "../helpers/line_reader.ts";
import { describeStorageError } from "../../actors/store/storage_fault.ts";
import { statfsSync } from "node:fs";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function mount(args: string[]): { ok: boolean; error: string } {
  const output = new Deno.Command("mount", { args, stdout: "null", stderr: "piped" }).outputSync();
  return { ok: output.success, error: new TextDecoder().decode(output.stderr).trim() };
}

/** Whether this process may mount a tmpfs (root in a sandbox that allows it). */
function canMount(): boolean {
  const dir = Deno.makeTempDirSync({ prefix: "outpost_mount_probe_" });
  try {
    const mounted = mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
    if (mounted.ok) new Deno.Command("umount", { args: [dir] }).outputSync();
    return mounted.ok;
  } catch {
    return false;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const mountable = canMount();
if (!mountable) console.warn("agent_disk_test: cannot mount a tmpfs here (not root?); skipped");

/** Runs `fn` with a fresh tmpfs of `sizeKb` KiB mounted at a temporary directory. */
async function withTmpfs(sizeKb: number, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "outpost_disk_" });
  const mounted = mount(["-t", "tmpfs", "-o", `size=${sizeKb}k,mode=0700`, "tmpfs", dir]);
  assert.ok(mounted.ok, `mount tmpfs: ${mounted.error}`);
  try {
    await fn(dir);
  } finally {
    // Lazy: a failed test may leave a child process with files open there.
    const umount = new Deno.Command("umount", { args: ["-l", dir], stderr: "piped" }).outputSync();
    assert.ok(umount.success, new TextDecoder().decode(umount.stderr));
    await Deno.remove(dir, { recursive: true });
  }
}

async function offlineUrl(): Promise<string> {
  const broker = await startAedes();
  await broker.stop();
  return broker.url;
}

Deno.test({
  name:
    "a full disk refuses appends naming the database file and 'the disk is full'; stop still succeeds",
  ignore: !mountable,
  fn: () =>
    withTmpfs(512, async (stateDir) => {
      const { agent } = await testAgent({ url: await offlineUrl(), stateDir });
      await agent.start();
      const filler = "x".repeat(4000);
      let refusal: Error | undefined;
      for (let i = 0; i < 1000 && !refusal; i++) {
        await agent.publish("fill", { i, filler }).catch((error) => (refusal = error));
      }
      assert.ok(refusal, "512 KiB filled up within 1000 records of 4 KB");
      assert.match(refusal.message, new RegExp(`${stateDir}/outpost\\.db: the disk is full`));
      await agent.stop();
    }),
});

Deno.test({
  name: "a database on a file system turned read-only: start fails naming the file and 'read-only'",
  ignore: !mountable,
  fn: () =>
    withTmpfs(4096, async (stateDir) => {
      const url = await offlineUrl();
      const { agent: before } = await testAgent({ url, stateDir });
      await before.start();
      await before.publish("before", { i: 0 });
      await before.stop();
      // Remounting needs no file open for writing, so it happens between runs.
      const remounted = mount(["-o", "remount,ro", stateDir]);
      assert.ok(remounted.ok, remounted.error);
      const { agent } = await testAgent({ url, stateDir });
      await assert.rejects(
        agent.start(),
        new RegExp(`${stateDir}/outpost\\.(db|lock)\\b.*read-only`, "s"),
      );
    }),
});

Deno.test({
  name: "a disk I/O error on a read-only file system is named as such",
  ignore: !mountable,
  fn: () =>
    withTmpfs(64, (dir) => {
      const remounted = mount(["-o", "remount,ro", dir]);
      assert.ok(remounted.ok, remounted.error);
      assert.equal(
        describeStorageError(new Error("disk I/O error"), `${dir}/outpost.db`),
        `${dir}/outpost.db: the file system is read-only (disk I/O error)`,
      );
      return Promise.resolve();
    }),
});

Deno.test({
  name:
    "outpost run on a disk that fills up logs the file and the cause once, and still exits 0 on SIGTERM",
  ignore: !mountable,
  fn: () =>
    withTmpfs(2048, async (stateDir) => {
      const config = `${stateDir}/outpost.toml`;
      await Deno.writeTextFile(
        config,
        `[agent]
deviceId = "disk-1"
stateDir = "${stateDir}"
[control]
socket = "${stateDir}/control.sock"
[telemetry.system]
enabled = true
intervalSec = 0.01
[clouds.test]
type = "mqtt"
url = "${await offlineUrl()}"
`,
      );
      const agent = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "run", "-c", config],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const lines = new LineReader(agent.stderr);
      const seen: string[] = [];
      const until = async (pattern: RegExp) => {
        for (let line = await lines.read(); line !== undefined; line = await lines.read()) {
          seen.push(line);
          if (pattern.test(line)) return line;
        }
        assert.fail(`the agent ended before logging ${pattern}:\n${seen.join("\n")}`);
      };
      const deadline = setTimeout(() => agent.kill("SIGKILL"), 30_000);
      try {
        await until(/Outpost .* started/);
        // Leave the agent 64 KiB: its samples fill them within seconds.
        const free = statfsSync(stateDir).bavail * statfsSync(stateDir).bsize;
        await Deno.writeFile(`${stateDir}/filler`, new Uint8Array(Math.max(0, free - 65536)))
          .catch((error) => {
            // The agent's samples won the race for the last blocks: full all the same.
            if (!/os error 28/.test(String(error))) {
              throw error;
            }
          });
        const line = await until(/Cannot store a system record/);
        assert.match(line, /outpost\.db: the disk is full/);
        agent.kill("SIGTERM");
        for (let l = await lines.read(); l !== undefined; l = await lines.read()) seen.push(l);
        const status = await agent.status;
        assert.equal(status.code, 0, `exit ${status.code}; log:\n${seen.join("\n")}`);
        const repeats = seen.filter((l) => l.includes("Cannot store a system record")).length;
        assert.ok(repeats <= 2, `the same error was logged ${repeats} times`);
      } finally {
        clearTimeout(deadline);
        await lines.cancel();
      }
    }),
});
