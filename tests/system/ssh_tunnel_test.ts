/**
 * Real OpenSSH through a Cumulocity remote-access tunnel: a real `sshd` on a
 * loopback port is the tunnel's target, the agent (in-process, wired to the
 * c8y emulator and its relay) opens one tunnel per `530`, and the real `ssh`
 * and `scp` clients talk to the relay's client-side port of that connection
 * key, as a user's browser session would through the platform.
 *
 * The relay pairs one client-side port with one connection key, so every
 * ssh session gets its own `530`.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { freePort } from "../helpers/brokers.ts";
import { tunnelCount, tunnelSetup } from "../helpers/c8y_agent.ts";
import { until } from "../helpers/wait.ts";

/** A child process's ceiling: a hung ssh fails the test instead of stalling CI. */
const commandDeadlineMs = 60_000;

interface Sshd {
  port: number;
  dir: string;
  /** The client's private key, authorized for root. */
  clientKey: string;
  stop(): Promise<void>;
}

/** Runs `command args` to completion and returns its output; rejects on a non-zero exit. */
async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    stdin: "null",
    signal: AbortSignal.timeout(commandDeadlineMs),
  }).output();
  const text = new TextDecoder();
  equal(
    output.code,
    0,
    `${command} ${args.join(" ")} exited ${output.code}:\n${text.decode(output.stdout)}${
      text.decode(output.stderr)
    }`,
  );
  return text.decode(output.stdout);
}

/** Starts `sshd` on 127.0.0.1 with its own host key and a client key authorized for root. */
async function startSshd(): Promise<Sshd> {
  const dir = await Deno.makeTempDir({ prefix: "outpost-sshd-" });
  const port = freePort();
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_key`]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/client_key`]);
  await Deno.copyFile(`${dir}/client_key.pub`, `${dir}/authorized_keys`);
  await Deno.writeTextFile(
    `${dir}/sshd_config`,
    [
      "ListenAddress 127.0.0.1",
      `Port ${port}`,
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      // The tests run as root.
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      // The temporary directory is not root-owned 0755 all the way up.
      "StrictModes no",
      // scp speaks SFTP since OpenSSH 9.0.
      "Subsystem sftp internal-sftp",
      "MaxStartups 50",
      "MaxSessions 50",
      "LogLevel INFO",
      "",
    ].join("\n"),
  );
  // Privilege separation needs it; a fresh container may not have it.
  await Deno.mkdir("/run/sshd", { recursive: true });
  const child = new Deno.Command("/usr/sbin/sshd", {
    args: ["-D", "-e", "-f", `${dir}/sshd_config`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    // A last resort should the test itself hang; stop() ends it normally.
    signal: AbortSignal.timeout(10 * commandDeadlineMs),
  }).spawn();
  // sshd logs to stderr (-e); the whole log is kept for failure messages.
  const ready = `Server listening on 127.0.0.1 port ${port}`;
  let log = "";
  let onListening!: (listening: boolean) => void;
  const listening = new Promise<boolean>((resolve) => (onListening = resolve));
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      log += chunk;
      if (log.includes(ready)) onListening(true);
    }
    onListening(false);
  })();
  async function stop(): Promise<void> {
    try {
      child.kill("SIGTERM");
    } catch { /* already ended */ }
    await child.status;
    await drained;
    await Deno.remove(dir, { recursive: true });
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const up = await Promise.race([
    listening,
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 10_000))),
  ]);
  clearTimeout(timer);
  if (!up) {
    await stop();
    throw new Error(`sshd did not listen on 127.0.0.1:${port} within 10 s; its log:\n${log}`);
  }
  return { port, dir, clientKey: `${dir}/client_key`, stop };
}

/** Options every ssh and scp call shares: key only, no host key checks, no user config. */
function clientOptions(sshd: Sshd): string[] {
  return [
    "-F",
    "/dev/null",
    "-i",
    sshd.clientKey,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=20",
  ];
}

/** sshd, an emulator, its relay and an agent allowed to tunnel to sshd alone. */
async function withSshTunnels(
  test: (t: {
    sshd: Sshd;
    /** Opens a tunnel with its own connection key; resolves with its client-side port. */
    tunnel(key: string): Promise<number>;
  }) => Promise<void>,
): Promise<void> {
  const sshd = await startSshd();
  try {
    const t = await tunnelSetup({
      allow: () => [`127.0.0.1:${sshd.port}`],
      extra: "maxTunnels = 20",
    });
    try {
      await test({
        sshd,
        async tunnel(key) {
          const session = await t.relay.open(key);
          const op = await t.emulator.waitForEnd(
            await t.emulator.operation(["530", "dev-1", "127.0.0.1", String(sshd.port), key]),
            15_000,
          );
          deepEqual(
            [op.status, op.failureReason],
            ["SUCCESSFUL", undefined],
            `530 for ${key}`,
          );
          return session.port;
        },
      });
      // Every ssh client hung up: the relay closed each WebSocket and each tunnel ended.
      await until("every tunnel to end", () => tunnelCount(t.agent) === 0, 10_000);
      deepEqual(t.emulator.violations, []);
    } finally {
      await t.teardown();
    }
  } finally {
    await sshd.stop();
  }
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("ssh through a tunnel runs a command on the real sshd and reads its output", async () => {
  await withSshTunnels(async ({ sshd, tunnel }) => {
    const port = await tunnel("ssh-command");
    const output = await run("ssh", [
      ...clientOptions(sshd),
      "-p",
      String(port),
      "root@127.0.0.1",
      "echo hello-from-sshd; uname -s",
    ]);
    equal(output, `hello-from-sshd\n${Deno.build.os === "linux" ? "Linux" : "Darwin"}\n`);
  });
});

Deno.test("scp copies a 20 MB random file through a tunnel each way with matching SHA-256", async () => {
  await withSshTunnels(async ({ sshd, tunnel }) => {
    const size = 20 * 1024 * 1024;
    const original = new Uint8Array(size);
    // getRandomValues fills at most 64 KiB per call.
    for (let offset = 0; offset < size; offset += 65_536) {
      crypto.getRandomValues(original.subarray(offset, offset + 65_536));
    }
    await Deno.writeFile(`${sshd.dir}/original.bin`, original);
    const expected = await sha256(`${sshd.dir}/original.bin`);

    const upStarted = performance.now();
    await run("scp", [
      ...clientOptions(sshd),
      "-P",
      String(await tunnel("scp-up")),
      `${sshd.dir}/original.bin`,
      `root@127.0.0.1:${sshd.dir}/uploaded.bin`,
    ]);
    const upMs = performance.now() - upStarted;
    equal((await Deno.stat(`${sshd.dir}/uploaded.bin`)).size, size);
    equal(await sha256(`${sshd.dir}/uploaded.bin`), expected);

    const downStarted = performance.now();
    await run("scp", [
      ...clientOptions(sshd),
      "-P",
      String(await tunnel("scp-down")),
      `root@127.0.0.1:${sshd.dir}/original.bin`,
      `${sshd.dir}/downloaded.bin`,
    ]);
    const downMs = performance.now() - downStarted;
    equal(await sha256(`${sshd.dir}/downloaded.bin`), expected);
    // For BENCHMARKS.md: real scp through relay and tunnel, 530 to 503 included.
    console.log(
      `scp 20 MB through the tunnel: up ${upMs.toFixed(0)} ms, down ${downMs.toFixed(0)} ms`,
    );
  });
});

Deno.test("ten ssh sessions at once, each through its own tunnel, each read back", async () => {
  await withSshTunnels(async ({ sshd, tunnel }) => {
    const ids = Array.from({ length: 10 }, (_, i) => i);
    const ports = await Promise.all(ids.map((i) => tunnel(`ssh-many-${i}`)));
    ok(new Set(ports).size === 10, "each tunnel has its own client-side port");
    const outputs = await Promise.all(ids.map((i) =>
      run("ssh", [
        ...clientOptions(sshd),
        "-p",
        String(ports[i]),
        "root@127.0.0.1",
        // A little more than one frame of output per session, so they interleave.
        `echo session-${i}; head -c 40000 /dev/zero | tr '\\0' '${i}'; echo`,
      ])
    ));
    for (const i of ids) {
      equal(outputs[i], `session-${i}\n${String(i).repeat(40_000)}\n`, `session ${i}`);
    }
  });
});
