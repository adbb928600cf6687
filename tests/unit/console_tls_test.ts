/**
 * A console with a certificate is served over TLS only, and its session
 * cookie is then `Secure` with the `__Host-` prefix.
 */
import { equal, match } from "node:assert/strict";
import { freePort, startAedes } from "../helpers/brokers.ts";
import { testAgent } from "../helpers/agent.ts";
import { testPki } from "../helpers/tls.ts";
import { Condition } from "../helpers/condition.ts";

Deno.test("with certFile and keyFile the console speaks TLS and its cookie is Secure and __Host-", async () => {
  const pki = await testPki();
  const broker = await startAedes();
  const port = freePort();
  const { agent, stateDir } = await testAgent({
    url: broker.url,
    extra: `\n[console]\nenabled = true\nport = ${port}\n` +
      `certFile = "${pki.server.certFile}"\nkeyFile = "${pki.server.keyFile}"\n`,
  });
  const client = Deno.createHttpClient({ caCerts: [pki.ca.cert] });
  try {
    await agent.start();
    await new Condition().until(
      "the console to listen",
      () => agent.tree().children.find((c) => c.id === "console")?.children[1]?.state === "running",
      { timeoutMs: 10_000, pollMs: 20 },
    );
    const base = `https://127.0.0.1:${port}`;
    const page = await fetch(`${base}/login`, { client });
    equal(page.status, 200);
    await page.body?.cancel();
    const token = (await Deno.readTextFile(`${stateDir}/console.token`)).trim();
    const login = await fetch(`${base}/api/login`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify({ token }),
    });
    equal(login.status, 200);
    await login.body?.cancel();
    const cookie = login.headers.get("set-cookie")!;
    match(cookie, /^__Host-outpost-console=[\w-]+;/);
    match(cookie, /Secure/);
    match(cookie, /HttpOnly/);
    match(cookie, /SameSite=Strict/);
  } finally {
    client.close();
    await agent.stop();
    await broker.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
