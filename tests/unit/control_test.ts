import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { controlCommands, MAX_REQUEST_BYTES, serveControl } from "../../actors/agent/control.ts";
import { askControl, ControlError } from "../../actors/agent/control_client.ts";
import { formatTree, formatUptime } from "../../actors/agent/control_format.ts";
import type { ActorTreeNode } from "../../actors/runtime/mod.ts";

const TREE: ActorTreeNode = {
  id: "agent",
  path: "agent",
  kind: "supervisor",
  status: "running",
  state: null,
  restarts: 0,
  uptimeMs: 3_725_000,
  strategy: "one_for_one",
  children: [
    {
      id: "store",
      path: "agent/store",
      kind: "worker",
      status: "running",
      state: "ready",
      restarts: 0,
      uptimeMs: 3_725_000,
      children: [],
    },
    {
      id: "cloud:c8y",
      path: "agent/cloud:c8y",
      kind: "supervisor",
      status: "running",
      state: null,
      restarts: 2,
      uptimeMs: 125_400,
      strategy: "rest_for_one",
      children: [
        {
          id: "connection",
          path: "agent/cloud:c8y/connection",
          kind: "worker",
          status: "restarting",
          state: { online: "waiting" },
          restarts: 12,
          uptimeMs: null,
          children: [],
        },
        {
          id: "ops",
          path: "agent/cloud:c8y/ops",
          kind: "worker",
          status: "running",
          state: "active",
          restarts: 0,
          uptimeMs: 3_999,
          children: [],
        },
      ],
    },
  ],
};

const STATUS = { device: "pump-7", clouds: { c8y: "online" } };

/** Runs `body` with a control endpoint serving tree and status in a fresh temp dir. */
async function withEndpoint(
  body: (path: string, dir: string) => Promise<void>,
  handler = controlCommands({ tree: () => TREE, status: () => STATUS }),
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "outpost-ctl-" });
  const path = `${dir}/control.sock`;
  const server = await serveControl(path, handler);
  try {
    await body(path, dir);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends raw bytes as a client would and returns the reply line, parsed. */
async function rawRequest(path: string, bytes: Uint8Array): Promise<unknown> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    // The server may answer and close before reading everything (a long line).
    const writing = (async () => {
      let written = 0;
      while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    })().catch(() => {});
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    await writing;
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    ok(text.endsWith("\n"), `one line with its newline: ${JSON.stringify(text)}`);
    equal(text.indexOf("\n"), text.length - 1, "exactly one line");
    return JSON.parse(text);
  } finally {
    try {
      conn.close();
    } catch {
      // closed by a failed write
    }
  }
}

const line = (text: string) => new TextEncoder().encode(text + "\n");

Deno.test("tree and status round-trip through a real Unix socket", async () => {
  await withEndpoint(async (path) => {
    deepEqual(await askControl(path, "tree"), TREE);
    deepEqual(await askControl(path, "status"), STATUS);
    deepEqual(await rawRequest(path, line('{"command":"status"}')), { ok: true, result: STATUS });
  });
});

Deno.test("the socket file is readable and writable by its owner only", async () => {
  await withEndpoint(async (path) => {
    const info = await Deno.lstat(path);
    ok(info.isSocket);
    equal((info.mode ?? 0) & 0o777, 0o600);
  });
});

Deno.test("close() disconnects idle clients, stops listening and removes the socket file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outpost-ctl-" });
  const path = `${dir}/control.sock`;
  const server = await serveControl(path, () => "ok");
  equal(await askControl(path, "anything"), "ok");
  const hangingUp = await Deno.connect({ transport: "unix", path });
  hangingUp.close();
  const idle = await Deno.connect({ transport: "unix", path });
  equal(
    await askControl(path, "anything"),
    "ok",
    "a client that hung up does not disturb the server",
  );
  await server.close();
  equal(await idle.read(new Uint8Array(16)), null, "an idle client is disconnected by close()");
  idle.close();
  await rejects(Deno.lstat(path), Deno.errors.NotFound);
  await rejects(askControl(path, "status"), ControlError);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an unknown command, bad JSON or an over-long line get a clear error and the server keeps serving", async () => {
  await withEndpoint(async (path) => {
    await rejects(askControl(path, "frobnicate"), {
      name: "ControlError",
      message: `The Outpost agent on ${path} refused "frobnicate": ` +
        'Unknown command "frobnicate"; known commands: status, tree',
    });
    deepEqual(await rawRequest(path, line('{"command": oops}')), {
      ok: false,
      error:
        'the request is not valid JSON (Unexpected token \'o\', "{"command": oops}" is not valid JSON); ' +
        'send one line such as {"command":"status"}',
    });
    for (const request of ['{"cmd":"tree"}', '["tree"]', '{"command":42}', "null"]) {
      deepEqual(await rawRequest(path, line(request)), {
        ok: false,
        error: 'the request needs a string "command"; send one line such as {"command":"status"}',
      }, request);
    }
    const long = new Uint8Array(MAX_REQUEST_BYTES + 10).fill(0x20);
    deepEqual(await rawRequest(path, long), {
      ok: false,
      error: "the request line is longer than 65536 bytes",
    });
    // Exactly at the limit is still a request.
    const padded = '{"command":"tree"}'.padEnd(MAX_REQUEST_BYTES, " ");
    deepEqual(await rawRequest(path, line(padded)), { ok: true, result: TREE });
    deepEqual(await askControl(path, "status"), STATUS, "still serving");
  });
});

Deno.test("a handler that throws answers ok:false with its message", async () => {
  await withEndpoint(
    async (path) => {
      deepEqual(await rawRequest(path, line('{"command":"status"}')), {
        ok: false,
        error: "store is not open",
      });
      await rejects(askControl(path, "status"), {
        name: "ControlError",
        message: `The Outpost agent on ${path} refused "status": store is not open`,
      });
    },
    () => Promise.reject(new Error("store is not open")),
  );
});

Deno.test("a result that cannot be sent as JSON is answered as an error", async () => {
  await withEndpoint(async (path) => {
    await rejects(askControl(path, "status"), {
      name: "ControlError",
      message: `The Outpost agent on ${path} refused "status": ` +
        "the result cannot be sent as JSON: Do not know how to serialize a BigInt",
    });
  }, () => ({ big: 1n }));
});

Deno.test("a socket path longer than Unix allows is refused before anything is created", async () => {
  const path = `/tmp/${"x".repeat(110)}.sock`;
  await rejects(serveControl(path, () => null), {
    name: "ControlError",
    message: `The control socket path ${path} is too long: Unix sockets allow at most 107 bytes`,
  });
});

Deno.test("askControl on a path where no agent listens says so plainly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outpost-ctl-" });
  try {
    const path = `${dir}/control.sock`;
    await rejects(askControl(path, "status"), {
      name: "ControlError",
      message: `No Outpost agent is answering on ${path}: is it running?`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Leaves a socket file nobody listens on, as an agent killed with SIGKILL would. */
async function leaveStaleSocket(path: string): Promise<void> {
  const code = `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); Deno.exit(0);`;
  const { success } = await new Deno.Command(Deno.execPath(), { args: ["eval", code] }).output();
  ok(success);
  ok((await Deno.lstat(path)).isSocket, "the dead process left its socket file behind");
}

Deno.test("a stale socket file nobody answers on is replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outpost-ctl-" });
  const path = `${dir}/control.sock`;
  try {
    await leaveStaleSocket(path);
    await rejects(askControl(path, "status"), { message: /No Outpost agent is answering/ });
    const server = await serveControl(path, () => "fresh");
    try {
      equal(await askControl(path, "status"), "fresh");
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second endpoint on a live socket is refused and the first keeps serving", async () => {
  await withEndpoint(async (path) => {
    await rejects(serveControl(path, () => "usurper"), {
      name: "ControlError",
      message: `Another Outpost agent is already answering on ${path}; ` +
        "stop it first or configure another control socket",
    });
    deepEqual(await askControl(path, "status"), STATUS);
  });
});

Deno.test("a file that is not a socket is never deleted to make room", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outpost-ctl-" });
  const path = `${dir}/control.sock`;
  try {
    await Deno.writeTextFile(path, "precious");
    await rejects(serveControl(path, () => null), {
      name: "ControlError",
      message:
        `Cannot use ${path} as the control socket: a file that is not a socket is in the way`,
    });
    equal(await Deno.readTextFile(path), "precious");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("askControl gives up after its timeout when the agent does not answer", async () => {
  const never = Promise.withResolvers<unknown>();
  await withEndpoint(
    async (path) => {
      const started = performance.now();
      await rejects(askControl(path, "tree", { timeoutMs: 50 }), {
        name: "ControlError",
        message: `The Outpost agent on ${path} did not answer "tree" within 50 ms`,
      });
      ok(performance.now() - started >= 45);
    },
    () => never.promise,
  );
  never.resolve(null);
});

Deno.test("formatTree prints one aligned, indented line per node", () => {
  equal(
    formatTree(TREE),
    [
      "PATH                            KIND        STATUS      RESTARTS  UPTIME  STATE",
      "agent                           supervisor  running     0         1h 2m",
      '  agent/store                   worker      running     0         1h 2m   "ready"',
      "  agent/cloud:c8y               supervisor  running     2         2m 5s",
      '    agent/cloud:c8y/connection  worker      restarting  12        -       {"online":"waiting"}',
      '    agent/cloud:c8y/ops         worker      running     0         3s      "active"',
    ].join("\n"),
  );
});

Deno.test("uptimes read as people say them", () => {
  const cases: [number | null, string][] = [
    [null, "-"],
    [0, "0s"],
    [999, "0s"],
    [3_000, "3s"],
    [59_999, "59s"],
    [60_000, "1m 0s"],
    [125_000, "2m 5s"],
    [3_720_000, "1h 2m"],
    [86_399_000, "23h 59m"],
    [90_000_000, "1d 1h"],
  ];
  for (const [ms, text] of cases) equal(formatUptime(ms), text, String(ms));
});
