import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { migrate, openDatabase, readSecretFile, writeSecretFile } from "../../actors/store/mod.ts";

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "outpost_store_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function pragma(db: DatabaseSync, name: string): unknown {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>;
  return Object.values(row)[0];
}

function versions(db: DatabaseSync, component: string): number[] {
  return (db.prepare(
    "SELECT version FROM schema_migrations WHERE component = ? ORDER BY version",
  ).all(component) as { version: number }[]).map((r) => r.version);
}

Deno.test("openDatabase creates a missing state directory with mode 0700 and opens outpost.db in WAL mode", async () => {
  await withTempDir((dir) => {
    const stateDir = `${dir}/state/nested`;
    const db = openDatabase(stateDir);
    try {
      assert.equal(Deno.statSync(stateDir).mode! & 0o777, 0o700);
      assert.ok(Deno.statSync(`${stateDir}/outpost.db`).isFile);
      assert.equal(pragma(db, "journal_mode"), "wal");
      assert.equal(pragma(db, "synchronous"), 1, "NORMAL by default");
      assert.equal(pragma(db, "busy_timeout"), 5000);
    } finally {
      db.close();
    }
  });
});

Deno.test("openDatabase with durability power fsyncs every commit (synchronous FULL)", async () => {
  await withTempDir((dir) => {
    const db = openDatabase(dir, { durability: "power", busyTimeoutMs: 250 });
    try {
      assert.equal(pragma(db, "synchronous"), 2);
      assert.equal(pragma(db, "busy_timeout"), 250);
    } finally {
      db.close();
    }
  });
});

Deno.test("openDatabase names the bad option and the directory", async () => {
  await withTempDir((dir) => {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => openDatabase(dir, { durability: "disk" as any }),
      (e: Error) => e.message.includes(dir) && e.message.includes(`got "disk"`),
    );
    assert.throws(() => openDatabase(dir, { busyTimeoutMs: -1 }), /busyTimeoutMs .* got -1/);
  });
});

Deno.test("migrate applies each step once per component and only new steps later", async () => {
  await withTempDir((dir) => {
    const steps = [
      "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",
      "ALTER TABLE notes ADD COLUMN created_at INTEGER",
    ];
    let db = openDatabase(dir);
    try {
      assert.equal(migrate(db, "notes", steps), 2);
      assert.equal(migrate(db, "notes", steps), 0);
      assert.equal(migrate(db, "other", ["CREATE TABLE other (id INTEGER)"]), 1);
      assert.deepEqual(versions(db, "notes"), [1, 2]);
      assert.deepEqual(versions(db, "other"), [1]);
    } finally {
      db.close();
    }
    db = openDatabase(dir);
    try {
      const more = [...steps, "CREATE INDEX notes_by_time ON notes (created_at)"];
      assert.equal(migrate(db, "notes", more), 1);
      assert.deepEqual(versions(db, "notes"), [1, 2, 3]);
      db.prepare("INSERT INTO notes (text, created_at) VALUES (?, ?)").run("x", 1);
    } finally {
      db.close();
    }
  });
});

Deno.test("a failing migration step is rolled back whole and names its component and version", async () => {
  await withTempDir((dir) => {
    const db = openDatabase(dir);
    try {
      const steps = [
        "CREATE TABLE a (id INTEGER)",
        "CREATE TABLE b (id INTEGER); INSERT INTO nowhere VALUES (1)",
      ];
      assert.throws(
        () => migrate(db, "broken", steps),
        /Migration 2 of "broken" failed: .*nowhere/,
      );
      assert.deepEqual(versions(db, "broken"), [1]);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()
        .map((r) => (r as { name: string }).name);
      assert.ok(tables.includes("a"));
      assert.ok(!tables.includes("b"), "the failed step's first statement was rolled back");
      assert.equal(db.isTransaction, false);
    } finally {
      db.close();
    }
  });
});

Deno.test("migrate refuses a database written by a build with more steps", async () => {
  await withTempDir((dir) => {
    const db = openDatabase(dir);
    try {
      migrate(db, "c", ["CREATE TABLE c1 (id INTEGER)", "CREATE TABLE c2 (id INTEGER)"]);
      assert.throws(
        () => migrate(db, "c", ["CREATE TABLE c1 (id INTEGER)"]),
        /"c": the database is at version 2, newer than the 1 step/,
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("writeSecretFile writes text and bytes readable by the owner only (mode 0600)", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/device.key`;
    await writeSecretFile(path, "-----BEGIN PRIVATE KEY-----\nabc\n");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal(await readSecretFile(path), "-----BEGIN PRIVATE KEY-----\nabc\n");

    await Deno.chmod(path, 0o644);
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await writeSecretFile(path, bytes);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, "a rewrite restores 0600");
    assert.deepEqual(await Deno.readFile(path), bytes);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["device.key"]);
  });
});

Deno.test("readSecretFile returns undefined for a missing file", async () => {
  await withTempDir(async (dir) => {
    assert.equal(await readSecretFile(`${dir}/absent`), undefined);
  });
});

Deno.test("a write that crashed midway leaves the old secret in place, and the next write clears its temp file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/token`;
    await writeSecretFile(path, "old-complete-token");
    // What a process killed between write() and rename() leaves behind.
    const leftover = `${dir}/.token.tmp-0b1c2d3e`;
    await Deno.writeTextFile(leftover, "new-partial-tok", { mode: 0o600 });

    assert.equal(await readSecretFile(path), "old-complete-token");

    await writeSecretFile(path, "new-complete-token");
    assert.equal(await readSecretFile(path), "new-complete-token");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["token"]);
  });
});

Deno.test("a write that fails before the rename leaves the target untouched and no temp file", async () => {
  await withTempDir(async (dir) => {
    // A directory in the target's place makes the rename fail after the data was written.
    const path = `${dir}/cert.pem`;
    await Deno.mkdir(path);
    await Deno.writeTextFile(`${path}/inside`, "keep");
    await assert.rejects(
      writeSecretFile(path, "certificate"),
      (e: Error) => e.message.startsWith(`Cannot write secret file "${path}"`),
    );
    assert.ok((await Deno.stat(path)).isDirectory);
    assert.equal(await Deno.readTextFile(`${path}/inside`), "keep");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["cert.pem"]);
  });
});

Deno.test("concurrent writes to one secret file end with one complete value", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/password`;
    const values = Array.from({ length: 20 }, (_, i) => `password-${i}-`.repeat(1000));
    await Promise.all(values.map((v) => writeSecretFile(path, v)));
    assert.equal(await readSecretFile(path), values.at(-1), "writes apply in call order");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["password"]);
  });
});

Deno.test("a writer killed at any moment of a rewrite leaves one complete version of the file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/key`;
    const size = 4 << 20;
    const module = new URL("../../actors/store/secret_file.ts", import.meta.url).href;
    // Each version is one digit repeated, so any torn file shows two digits or a short length.
    const script = `
      import { writeSecretFile } from ${JSON.stringify(module)};
      for (let i = 0; ; i++) {
        await writeSecretFile(${JSON.stringify(path)}, String(i % 10).repeat(${size}));
        console.log(i);
      }`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    // Kill it mid-stream once a few versions were written; the read resolves as it prints.
    while ((seen.match(/\n/g) ?? []).length < 3) {
      const { value, done } = await lines.read();
      if (done) break;
      seen += value;
    }
    child.kill("SIGKILL");
    await lines.cancel();
    await child.status;

    const text = await readSecretFile(path);
    assert.ok(text !== undefined);
    assert.equal(text.length, size);
    assert.ok(text === text[0].repeat(size), "the file holds one version, whole");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  });
});
