/**
 * The console's HTTP API against a recording control plane, through Hono's
 * `fetch` (no socket): authentication, CSRF, every action, and bad input
 * answered 4xx with a message that says what was wrong.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { type ControlPlane, ControlPlaneError } from "../../actors/agent/control_plane.ts";
import type { ActorTreeNode, SystemEvent } from "../../actors/runtime/node.ts";
import type { SupportWatcher } from "../../actors/support/mod.ts";
import { ConsoleAuth } from "../../actors/console/auth.ts";
import { EventHub } from "../../actors/console/events.ts";
import { ConsoleRecorder } from "../../actors/console/recorder.ts";
import { consoleApp } from "../../actors/console/server.ts";
import { contentSecurityPolicy } from "../../actors/console/assets.ts";

const ORIGIN = "http://127.0.0.1:18880";
const CLIENT = "0123456789abcdef0123456789abcdef";

const TREE: ActorTreeNode = {
  id: "agent",
  path: "agent",
  kind: "supervisor",
  status: "running",
  state: null,
  restarts: 0,
  uptimeMs: 1000,
  strategy: "one_for_one",
  children: [],
};

/** A control plane that records what it was asked and refuses what a real one would. */
function recordingPlane(options: { localApi?: boolean } = {}) {
  const calls: string[] = [];
  const lifecycle = new Set<(event: SystemEvent) => void>();
  const watchers = new Set<SupportWatcher>();
  const localApi = () => {
    if (options.localApi === false) {
      throw new ControlPlaneError("unavailable", "The local API is not enabled");
    }
  };
  const decide = (decision: string) => (clientId: string) => {
    localApi();
    calls.push(`${decision} ${clientId}`);
    if (clientId !== CLIENT) {
      return Promise.reject(new ControlPlaneError("not_found", `No local API client ${clientId}`));
    }
    return Promise.resolve({
      clientId,
      name: "thermo",
      csrHash: "h",
      state: "active" as const,
      createdAt: 0,
    });
  };
  const plane: ControlPlane = {
    tree: () => TREE,
    status: () => ({ version: "0.1.0", deviceId: "dev-1", uptimeMs: 1000, clouds: [] }),
    lifecycle(listener) {
      lifecycle.add(listener);
      return () => void lifecycle.delete(listener);
    },
    clouds: () => [],
    tunnels: () => [{
      cloud: "main",
      id: "t-1",
      state: "open",
      target: "127.0.0.1:22",
      bytesUp: 1,
      bytesDown: 2,
      ageMs: 5,
    }],
    closeTunnel(cloud, id) {
      calls.push(`close ${cloud}/${id}`);
      if (cloud !== "main" || id !== "t-1") {
        return Promise.reject(new ControlPlaneError("not_found", `No tunnel ${id} of ${cloud}`));
      }
      return Promise.resolve();
    },
    access: () => ({
      access: {
        FileTransfer: "Allowed",
        RemoteView: "Allowed",
        RemoteControl: "AfterConfirmation",
        ScreenRecording: "Denied",
      },
      pending: ["RemoteControl"],
    }),
    setAccess(feature, access) {
      calls.push(`set ${feature} ${access}`);
      if (feature !== "RemoteControl") {
        throw new ControlPlaneError("bad_request", `Unknown feature "${feature}"`);
      }
      return true;
    },
    answer(feature, accept) {
      calls.push(`${accept ? "accept" : "reject"} ${feature}`);
      if (feature !== "RemoteControl") {
        throw new ControlPlaneError("not_found", `No access request for ${feature} is waiting`);
      }
    },
    watchSupport(watcher) {
      watchers.add(watcher);
      return () => void watchers.delete(watcher);
    },
    clients() {
      localApi();
      return [];
    },
    approve: decide("approve"),
    reject: decide("reject"),
    revoke: decide("revoke"),
    close() {},
  };
  return { plane, calls, lifecycle, watchers };
}

async function world(options: { localApi?: boolean } = {}) {
  const dir = await Deno.makeTempDir({ prefix: "outpost-console-api-" });
  const auth = await ConsoleAuth.open(`${dir}/console.token`);
  const token = (await Deno.readTextFile(`${dir}/console.token`)).trim();
  const recorder = new ConsoleRecorder({ logLines: 10 });
  const fake = recordingPlane(options);
  const hub = new EventHub({ plane: fake.plane, recorder, deviceId: "dev-1", tickMs: 60_000 });
  const app = consoleApp({
    plane: fake.plane,
    auth,
    hub,
    recorder,
    deviceId: "dev-1",
    csp: await contentSecurityPolicy(),
    hosts: new Set(["127.0.0.1:18880", "localhost:18880"]),
    secure: false,
  });
  let remote = "127.0.0.1";
  /** A request as a browser on this device sends it. */
  async function request(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; cookie?: string } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { host: "127.0.0.1:18880", ...init.headers };
    if (init.cookie) headers.cookie = init.cookie;
    if (method === "POST") {
      headers.origin ??= ORIGIN;
      headers["content-type"] ??= "application/json";
    }
    const body = init.body === undefined
      ? undefined
      : typeof init.body === "string"
      ? init.body
      : JSON.stringify(init.body);
    return await app.request(`${ORIGIN}${path}`, { method, headers, body }, { remote });
  }
  /** Signs in with the token; the cookie and CSRF token of the new session. */
  async function signIn(): Promise<{ cookie: string; csrf: string }> {
    const response = await request("POST", "/api/login", { body: { token } });
    equal(response.status, 200);
    const cookie = response.headers.get("set-cookie")!.split(";")[0];
    const session = await (await request("GET", "/api/session", { cookie })).json();
    return { cookie, csrf: session.csrf };
  }
  async function post(path: string, body: unknown = {}) {
    const { cookie, csrf } = await signIn();
    const response = await request("POST", path, {
      body,
      cookie,
      headers: { "x-csrf-token": csrf },
    });
    return { status: response.status, body: await response.json() };
  }
  return {
    ...fake,
    token,
    request,
    signIn,
    post,
    from(address: string) {
      remote = address;
    },
    async close() {
      hub.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const POSTS = [
  "/api/logout",
  "/api/tunnels/close",
  "/api/access",
  "/api/access/requests/RemoteControl/accept",
  "/api/access/requests/RemoteControl/reject",
  `/api/clients/${CLIENT}/approve`,
  `/api/clients/${CLIENT}/reject`,
  `/api/clients/${CLIENT}/revoke`,
];
const GETS = [
  "/api/session",
  "/api/status",
  "/api/tree",
  "/api/clouds",
  "/api/history",
  "/api/tunnels",
  "/api/access",
  "/api/clients",
  "/api/logs",
  "/api/events",
];

Deno.test("without a session every API answers 401 and no action reaches the agent", async () => {
  const t = await world();
  try {
    for (const path of GETS) {
      const response = await t.request("GET", path);
      equal(response.status, 401, path);
      match((await response.json()).error, /Not signed in/);
    }
    for (const path of POSTS) {
      const body = { cloud: "main", id: "t-1", feature: "RemoteControl", access: "Denied" };
      const response = await t.request("POST", path, { body, cookie: "outpost-console=forged" });
      equal(response.status, 401, path);
      await response.body?.cancel();
    }
    deepEqual(t.calls, []);
  } finally {
    await t.close();
  }
});

Deno.test("a wrong token is 401; the right one sets an HttpOnly, SameSite=Strict session cookie", async () => {
  const t = await world();
  try {
    const wrong = await t.request("POST", "/api/login", { body: { token: "nope" } });
    equal(wrong.status, 401);
    deepEqual(await wrong.json(), { error: "That token is not valid" });
    equal(wrong.headers.get("set-cookie"), null);

    const right = await t.request("POST", "/api/login", { body: { token: t.token } });
    equal(right.status, 200);
    const cookie = right.headers.get("set-cookie")!;
    match(cookie, /^outpost-console=[\w-]{40,};/);
    match(cookie, /HttpOnly/);
    match(cookie, /SameSite=Strict/);
    match(cookie, /Path=\//);
    equal(/Max-Age|Expires/i.test(cookie), false, "a session cookie, not a persistent one");

    const bad = await t.request("POST", "/api/login", { body: { token: 1 } });
    equal(bad.status, 400);
    match((await bad.json()).error, /either "token".*or "code"/);
  } finally {
    await t.close();
  }
});

Deno.test("the page needs a session, and every response has a strict CSP and no CORS header", async () => {
  const t = await world();
  try {
    const anonymous = await t.request("GET", "/");
    equal(anonymous.status, 303);
    equal(anonymous.headers.get("location"), "/login");
    const login = await t.request("GET", "/login");
    equal(login.status, 200);
    match(await login.text(), /<form id="login"/);

    const { cookie } = await t.signIn();
    const page = await t.request("GET", "/", { cookie });
    equal(page.status, 200);
    match(await page.text(), /<script type="module" src="\/assets\/app.js">/);
    const csp = page.headers.get("content-security-policy")!;
    match(csp, /default-src 'none'/);
    match(csp, /script-src 'self' 'sha256-[A-Za-z0-9+/]+=*'/);
    match(csp, /frame-ancestors 'none'/);
    equal(page.headers.get("x-content-type-options"), "nosniff");

    const preflight = await t.request("OPTIONS", "/api/access", {
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    await preflight.body?.cancel();
    for (const response of [page, login, preflight]) {
      for (const [name] of response.headers) ok(!name.startsWith("access-control-"), name);
    }
    const asset = await t.request("GET", "/assets/preact.js");
    equal(asset.status, 200);
    match(asset.headers.get("content-type")!, /javascript/);
    match(await asset.text(), /export\s*\{/);
    equal((await t.request("GET", "/assets/nothing.js")).status, 404);
  } finally {
    await t.close();
  }
});

Deno.test("a POST without the session's CSRF token is 403 and changes nothing", async () => {
  const t = await world();
  try {
    const { cookie } = await t.signIn();
    const other = await t.signIn();
    const body = { feature: "RemoteControl", access: "Denied" };
    const attempts: Record<string, string>[] = [
      {},
      { "x-csrf-token": "guess" },
      { "x-csrf-token": other.csrf },
    ];
    for (const headers of attempts) {
      const response = await t.request("POST", "/api/access", { body, cookie, headers });
      equal(response.status, 403);
      match((await response.json()).error, /CSRF token/);
    }
    deepEqual(t.calls, []);
  } finally {
    await t.close();
  }
});

Deno.test("a POST from another origin, or not as JSON, is refused and changes nothing", async () => {
  const t = await world();
  try {
    const { cookie, csrf } = await t.signIn();
    const body = { feature: "RemoteControl", access: "Denied" };
    const foreign = await t.request("POST", "/api/access", {
      body,
      cookie,
      headers: { "x-csrf-token": csrf, origin: "https://evil.example" },
    });
    equal(foreign.status, 403);
    match((await foreign.json()).error, /evil\.example/);
    const crossSite = await t.request("POST", "/api/login", {
      body: { token: t.token },
      headers: { "sec-fetch-site": "cross-site" },
    });
    equal(crossSite.status, 403);
    await crossSite.body?.cancel();
    const form = await t.request("POST", "/api/access", {
      body: "feature=RemoteControl&access=Denied",
      cookie,
      headers: { "x-csrf-token": csrf, "content-type": "application/x-www-form-urlencoded" },
    });
    equal(form.status, 415);
    match((await form.json()).error, /Content-Type: application\/json/);
    deepEqual(t.calls, []);
  } finally {
    await t.close();
  }
});

Deno.test("a Host header other than the console's own is refused (DNS rebinding)", async () => {
  const t = await world();
  try {
    const response = await t.request("GET", "/login", { headers: { host: "attacker.example" } });
    equal(response.status, 421);
    match((await response.json()).error, /attacker\.example/);
    match(response.headers.get("content-security-policy")!, /default-src 'none'/);
  } finally {
    await t.close();
  }
});

Deno.test("every action goes to the control plane and answers 200", async () => {
  const t = await world();
  try {
    deepEqual(await t.post("/api/tunnels/close", { cloud: "main", id: "t-1" }), {
      status: 200,
      body: { ok: true },
    });
    deepEqual(await t.post("/api/access", { feature: "RemoteControl", access: "Denied" }), {
      status: 200,
      body: { ok: true, changed: true },
    });
    equal((await t.post("/api/access/requests/RemoteControl/accept")).status, 200);
    equal((await t.post("/api/access/requests/RemoteControl/reject")).status, 200);
    for (const decision of ["approve", "reject", "revoke"]) {
      const { status, body } = await t.post(`/api/clients/${CLIENT}/${decision}`);
      equal(status, 200);
      equal(body.client.clientId, CLIENT);
    }
    deepEqual(t.calls, [
      "close main/t-1",
      "set RemoteControl Denied",
      "accept RemoteControl",
      "reject RemoteControl",
      `approve ${CLIENT}`,
      `reject ${CLIENT}`,
      `revoke ${CLIENT}`,
    ]);
  } finally {
    await t.close();
  }
});

Deno.test("bad input is a 4xx whose message says what was wrong", async () => {
  const t = await world();
  try {
    const cases: [string, unknown, number, RegExp][] = [
      ["/api/tunnels/close", { id: "t-1" }, 400, /"cloud" must be a non-empty string/],
      ["/api/tunnels/close", { cloud: "main", id: 7 }, 400, /"id" must be .* got 7/],
      ["/api/tunnels/close", { cloud: "main", id: "t-9" }, 404, /No tunnel t-9 of main/],
      ["/api/tunnels/close", "{not json", 400, /not valid JSON/],
      ["/api/tunnels/close", "[1,2]", 400, /must be a JSON object/],
      ["/api/access", { feature: "Teleport", access: "Denied" }, 400, /Unknown feature/],
      ["/api/access", { feature: "RemoteControl" }, 400, /"access" must be/],
      ["/api/access/requests/RemoteView/accept", {}, 404, /No access request for RemoteView/],
      ["/api/access/requests/RemoteControl/maybe", {}, 404, /No such API/],
      ["/api/clients/ffff/approve", {}, 404, /No local API client ffff/],
      [`/api/clients/${CLIENT}/promote`, {}, 404, /No such API/],
      ["/api/access", "x".repeat(20_000), 413, /longer than 16384 bytes/],
    ];
    for (const [path, body, status, message] of cases) {
      const answer = await t.post(path, body);
      equal(answer.status, status, `${path} ${JSON.stringify(body).slice(0, 40)}`);
      match(answer.body.error, message);
    }
    const { cookie } = await t.signIn();
    const level = await t.request("GET", "/api/logs?level=loud", { cookie });
    equal(level.status, 400);
    match((await level.json()).error, /"level" must be one of trace, debug/);
    const limit = await t.request("GET", "/api/logs?limit=-3", { cookie });
    equal(limit.status, 400);
    match((await limit.json()).error, /"limit" must be a whole number/);
  } finally {
    await t.close();
  }
});

Deno.test("with the local API off, its clients answer 409 with how to turn it on", async () => {
  const t = await world({ localApi: false });
  try {
    const { cookie } = await t.signIn();
    const list = await t.request("GET", "/api/clients", { cookie });
    equal(list.status, 409);
    match((await list.json()).error, /not enabled/);
    equal((await t.post(`/api/clients/${CLIENT}/approve`)).status, 409);
  } finally {
    await t.close();
  }
});

Deno.test("failed sign-ins are rate-limited with 429 and Retry-After", async () => {
  const t = await world();
  try {
    t.from("10.1.2.3");
    for (let i = 0; i < 5; i++) {
      const response = await t.request("POST", "/api/login", { body: { token: `guess${i}` } });
      equal(response.status, 401);
      await response.body?.cancel();
    }
    const limited = await t.request("POST", "/api/login", { body: { token: t.token } });
    equal(limited.status, 429);
    ok(Number(limited.headers.get("retry-after")) > 0);
    match((await limited.json()).error, /Too many failed sign-ins/);
  } finally {
    await t.close();
  }
});

Deno.test("signing out ends the session", async () => {
  const t = await world();
  try {
    const { cookie, csrf } = await t.signIn();
    const out = await t.request("POST", "/api/logout", {
      cookie,
      body: {},
      headers: { "x-csrf-token": csrf },
    });
    equal(out.status, 200);
    match(out.headers.get("set-cookie")!, /outpost-console=;/);
    const after = await t.request("GET", "/api/tree", { cookie });
    equal(after.status, 401);
    await after.body?.cancel();
  } finally {
    await t.close();
  }
});

Deno.test("the event stream starts with the whole picture, then pushes each lifecycle event and the tree", async () => {
  const t = await world();
  try {
    const { cookie } = await t.signIn();
    const abort = new AbortController();
    const response = await t.request("GET", "/api/events", { cookie });
    equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${pattern}: ${text}`);
        text += value;
      }
    };
    await until(/event: logs\n/);
    const names = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    deepEqual(names, [
      "hello",
      "tree",
      "clouds",
      "tunnels",
      "access",
      "clients",
      "status",
      "history",
      "logs",
    ]);
    equal(t.watchers.size, 1);
    equal([...t.watchers][0].canAnswer(), true, "an open page can answer access requests");

    text = "";
    for (const listener of t.lifecycle) {
      listener({ type: "started", path: "agent/x", kind: "worker", restarts: 1 });
    }
    await until(/event: tree\n/);
    match(text, /event: lifecycle\ndata: \{"type":"started","path":"agent\/x"/);
    abort.abort();
    await reader.cancel();
  } finally {
    await t.close();
  }
});
