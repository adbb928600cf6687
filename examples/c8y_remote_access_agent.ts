/**
 * Cumulocity's Python remote access agent (`c8yagent.py`), on Outpost: it
 * registers a device, announces `c8y_RemoteAccessConnect`, and for every
 * `530` opens a tunnel from the platform to a local SSH, VNC or Telnet
 * server. Unlike the seed it only reaches the targets you allow, several
 * tunnels run at once under a supervisor, and both directions of a tunnel
 * apply backpressure.
 *
 * Run against a tenant (the tenant needs the `cloud-remote-access` feature,
 * the user the "Remote Access" permission; PROTOCOLS.md §1):
 *
 *   deno run -A examples/c8y_remote_access_agent.ts \
 *     --url mqtts://example.cumulocity.com:8883 --tenant t12345 \
 *     --user device_pi-1 --password '…' --serial pi-1 --allow 127.0.0.1:22
 *
 * or register it instead of giving a password (accept "pi-1" under Device
 * Management → Registration): `--bootstrap-password '…'`. Every option can
 * come from the environment: C8Y_URL, C8Y_TENANT, C8Y_USER, C8Y_PASSWORD,
 * C8Y_BOOTSTRAP_PASSWORD, C8Y_SERIAL, C8Y_ALLOW (comma-separated),
 * C8Y_REMOTE_ACCESS_URL, C8Y_STATE_DIR. `--remote-access-url` points the
 * tunnels at another relay (a proxy, or the test emulator's
 * `ws://127.0.0.1:<port>`). Then, in Device Management → the device →
 * Remote Access, add an endpoint for 127.0.0.1:22 and connect. Stop with
 * Ctrl-C; the agent prints "connected" once it is online.
 */
import { parseArgs } from "node:util";
import { stringify } from "smol-toml";
import { configureLogging, createAgent, parseConfig } from "../mod.ts";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: Deno.env.get("C8Y_URL") },
    tenant: { type: "string", default: Deno.env.get("C8Y_TENANT") },
    user: { type: "string", default: Deno.env.get("C8Y_USER") },
    password: { type: "string", default: Deno.env.get("C8Y_PASSWORD") },
    "bootstrap-password": { type: "string", default: Deno.env.get("C8Y_BOOTSTRAP_PASSWORD") },
    serial: { type: "string", default: Deno.env.get("C8Y_SERIAL") },
    allow: { type: "string", multiple: true, default: listFromEnv("C8Y_ALLOW") },
    "remote-access-url": { type: "string", default: Deno.env.get("C8Y_REMOTE_ACCESS_URL") },
    "state-dir": { type: "string", default: Deno.env.get("C8Y_STATE_DIR") ?? ".outpost-c8y" },
  },
});

function listFromEnv(name: string): string[] {
  return (Deno.env.get(name) ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}

if (!values.url || (!values.password && !values["bootstrap-password"])) {
  console.error(
    "Usage: c8y_remote_access_agent.ts --url mqtts://<host>:8883 --serial <serial> " +
      "--allow <host:port>… (--tenant <t> --user <u> --password <p> | --bootstrap-password <p>) " +
      "[--remote-access-url <ws(s)://relay>] [--state-dir <dir>]",
  );
  Deno.exit(2);
}

await configureLogging({ level: "info" });

const serial = values.serial ?? "outpost-remote-access";
const cloud: Record<string, unknown> = {
  type: "c8y",
  url: values.url,
  serial,
  deviceName: `Remote Access Demo Device ${serial}`,
  ...(values["remote-access-url"] && { remoteAccessUrl: values["remote-access-url"] }),
  ...(values.password
    ? { tenant: values.tenant, user: values.user, password: values.password }
    : { bootstrap: { enabled: true, password: values["bootstrap-password"] } }),
  backoff: { minMs: 500, maxMs: 30_000 },
};
// Written as TOML and read back, so the configuration is checked exactly as a file would be.
const config = parseConfig(
  stringify({
    agent: { deviceId: serial.replace(/[^A-Za-z0-9._-]/g, "-"), stateDir: values["state-dir"] },
    telemetry: { system: { enabled: false } },
    remoteAccess: { allow: values.allow },
    clouds: { c8y: cloud },
  }),
  { source: "c8y_remote_access_agent.ts", env: {} },
);

const agent = createAgent(config, { control: false });
await agent.start();
console.log(
  `Device ${serial}: tunnels may reach ${
    values.allow.length ? values.allow.join(", ") : "nothing"
  }`,
);
agent.connected().then(() => console.log("connected"));

const stop = new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
});
await Promise.race([stop, agent.exited]);
await agent.stop();
Deno.exit(0);
