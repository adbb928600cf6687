/**
 * The support examples run as their own programs against the agent (through
 * the local-API bridge), the way a user runs them.
 */
import { ok } from "node:assert/strict";
import { supportSetup } from "../helpers/support_agent.ts";
import { testPki } from "../helpers/tls.ts";

async function runUntil(
  example: string,
  args: string[],
  env: Record<string, string>,
  expected: RegExp,
): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `examples/${example}`, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    while (!expected.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
  } finally {
    child.kill("SIGINT");
    reader.releaseLock();
    await child.stdout.cancel();
    const stderr = await new Response(child.stderr).text();
    const status = await child.status;
    clearTimeout(deadline);
    ok(expected.test(text), `${example} printed:\n${text}\nstderr:\n${stderr}`);
    ok(status.success || status.signal === "SIGINT", `${example} exited ${status.code}: ${stderr}`);
  }
  return text;
}

Deno.test("the agent_connection and access_control examples connect, set and list access", async () => {
  const t = await supportSetup();
  const pki = await testPki();
  const env = {
    OUTPOST_API_URL: t.bridge.url,
    OUTPOST_API_CA: `${pki.dir}/ca.pem`,
    OUTPOST_API_CERT: pki.client.certFile,
    OUTPOST_API_KEY: pki.client.keyFile,
    OUTPOST_API_CLIENT_ID: "example-app",
    NO_COLOR: "1",
  };
  try {
    await runUntil("agent_connection.ts", [], env, /Connection status: Connected/);
    await runUntil(
      "access_control.ts",
      ["--feature", "FileTransfer", "--access", "Denied"],
      env,
      /ScreenRecording - Allowed/,
    ).then((out) => ok(out.includes("FileTransfer - Denied"), out));
    await runUntil("session_management.ts", [], env, /Waiting for sessions/);
  } finally {
    await t.teardown();
  }
});
