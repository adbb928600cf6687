/**
 * The console's credentials: the token file, one-time login codes,
 * sessions and the rate limit on failed sign-ins, with time as an input.
 */
import { equal, notEqual, ok } from "node:assert/strict";
import { ConsoleAuth } from "../../actors/console/auth.ts";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "outpost-console-auth-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function clock(start = 1_000_000) {
  const time = { now: start };
  return { time, now: () => time.now };
}

Deno.test("the token is made at the first start with mode 0600 and read back at the next", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/console.token`;
    await ConsoleAuth.open(file);
    const token = (await Deno.readTextFile(file)).trim();
    ok(token.length >= 40, "32 random bytes, base64url");
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    const again = await ConsoleAuth.open(file);
    equal((await Deno.readTextFile(file)).trim(), token, "kept, not replaced");
    equal(again.login({ token }, "127.0.0.1").ok, true);
  });
});

Deno.test("a token file others may read is narrowed to 0600", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/console.token`;
    await Deno.writeTextFile(file, "a-token-someone-wrote-by-hand\n", { mode: 0o644 });
    await Deno.chmod(file, 0o644);
    const auth = await ConsoleAuth.open(file);
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    equal(auth.login({ token: "a-token-someone-wrote-by-hand" }, "local").ok, true);
  });
});

Deno.test("a login code signs in once, and not after it expired", async () => {
  await withDir(async (dir) => {
    const { time, now } = clock();
    const auth = await ConsoleAuth.open(`${dir}/console.token`, { now, codeTtlMs: 60_000 });
    const { code, expiresAt } = auth.newLoginCode();
    equal(expiresAt, time.now + 60_000);
    const first = auth.login({ code }, "local");
    ok(first.ok);
    const second = auth.login({ code }, "local");
    equal(second.ok, false);
    equal(!second.ok && second.status, 401);
    const late = auth.newLoginCode();
    time.now += 60_001;
    equal(auth.login({ code: late.code }, "local").ok, false);
  });
});

Deno.test("each session has its own id and CSRF token; an idle one is forgotten", async () => {
  await withDir(async (dir) => {
    const { time, now } = clock();
    const auth = await ConsoleAuth.open(`${dir}/console.token`, { now, sessionIdleMs: 1000 });
    const token = (await Deno.readTextFile(`${dir}/console.token`)).trim();
    const a = auth.login({ token }, "local");
    const b = auth.login({ token }, "local");
    ok(a.ok && b.ok);
    notEqual(a.session.id, b.session.id);
    notEqual(a.session.csrf, b.session.csrf);
    equal(auth.csrfMatches(a.session, a.session.csrf), true);
    equal(auth.csrfMatches(a.session, b.session.csrf), false);
    equal(auth.csrfMatches(a.session, undefined), false);
    time.now += 900;
    ok(auth.session(a.session.id), "used within the idle limit");
    time.now += 900;
    ok(auth.session(a.session.id), "each use counts");
    equal(auth.session(b.session.id), undefined, "b was idle for 1800 ms");
    auth.logout(a.session.id);
    equal(auth.session(a.session.id), undefined);
  });
});

Deno.test("five failed sign-ins make that address wait a minute; another address still signs in", async () => {
  await withDir(async (dir) => {
    const { time, now } = clock();
    const auth = await ConsoleAuth.open(`${dir}/console.token`, { now });
    const token = (await Deno.readTextFile(`${dir}/console.token`)).trim();
    for (let i = 0; i < 5; i++) {
      const result = auth.login({ token: `guess-${i}` }, "10.0.0.9");
      equal(!result.ok && result.status, 401);
      time.now += 1000;
    }
    const blocked = auth.login({ token }, "10.0.0.9");
    equal(!blocked.ok && blocked.status, 429, "even the right token waits");
    equal(!blocked.ok && blocked.status === 429 && blocked.retryAfterSec, 55);
    equal(auth.login({ token }, "127.0.0.1").ok, true);
    time.now += 55_000;
    equal(auth.login({ token }, "10.0.0.9").ok, true, "the window has passed");
  });
});

Deno.test("failed sign-ins from many addresses together are limited too", async () => {
  await withDir(async (dir) => {
    const { now } = clock();
    const auth = await ConsoleAuth.open(`${dir}/console.token`, { now, maxFailures: 2 });
    for (let i = 0; i < 8; i++) auth.login({ token: "wrong" }, `10.0.0.${i}`);
    const result = auth.login({ token: "wrong" }, "10.0.1.1");
    equal(!result.ok && result.status, 429);
  });
});
