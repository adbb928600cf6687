/**
 * Brokers for tests: the embedded aedes broker in this process, and a real
 * mosquitto child process (plain, TLS, mutual TLS, passwords). Both listen
 * on 127.0.0.1 only, on a port the OS handed out, and `stop()` leaves no
 * process, socket or timer behind.
 */
import { startEmbeddedBroker } from "../../actors/broker/embedded_broker.ts";

/** A running test broker. */
export interface TestBroker {
  port: number;
  /** `mqtt://127.0.0.1:<port>`, or `mqtts://…` with TLS. */
  url: string;
  stop(): Promise<void>;
}

/** The embedded broker on 127.0.0.1; port 0 (default) takes a free one. */
export async function startAedes(options: { port?: number } = {}): Promise<TestBroker> {
  const broker = await startEmbeddedBroker({ host: "127.0.0.1", port: options.port ?? 0 });
  return { port: broker.port, url: `mqtt://127.0.0.1:${broker.port}`, stop: broker.close };
}

/** A port that was free a moment ago: bound on 127.0.0.1 port 0, then released. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** How to configure a mosquitto test broker. */
export interface MosquittoOptions {
  /** Default: a free port. */
  port?: number;
  /** Serve MQTT over TLS with these PEM files. */
  tls?: {
    caFile: string;
    certFile: string;
    keyFile: string;
    /** Require a client certificate signed by `caFile` (mutual TLS). Default false. */
    requireCertificate?: boolean;
  };
  /** When given, anonymous clients are refused and only these user/password pairs log in. */
  users?: Record<string, string>;
  /** Lines of an ACL file (`topic readwrite a/#`); what they do not allow is denied. */
  acl?: string[];
  /** Keep sessions and queued messages across `restart()`. Default false. */
  persistence?: boolean;
}

/** A mosquitto process; `log()` reads its log, for failure messages. */
export interface MosquittoBroker extends TestBroker {
  log(): Promise<string>;
  /** Stops the process (SIGTERM, so it saves its sessions) and starts it again, same port and files. */
  restart(): Promise<void>;
  /** Kills the process (SIGKILL: no goodbye to any client) and waits; `restart()` brings it back. */
  crash(): Promise<void>;
}

/** Starts `mosquitto -c <conf>` and resolves once its port accepts TCP connections. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const port = options.port ?? freePort();
  const dir = await Deno.makeTempDir({ prefix: "outpost-mosquitto-" });
  const logFile = `${dir}/mosquitto.log`;
  const lines = [
    "per_listener_settings false",
    `listener ${port} 127.0.0.1`,
    ...(options.persistence
      ? ["persistence true", `persistence_location ${dir}/`, "autosave_interval 0"]
      : ["persistence false"]),
    `log_dest file ${logFile}`,
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    // Running as root, mosquitto would switch to its own user and lose the temp files.
    "user root",
    // A slow in-process subscriber must not lose QoS 1 messages to the default queue of 1000.
    "max_queued_messages 1000000",
    // As a cloud broker would: no 40 ms Nagle/delayed-ACK stalls on small replies.
    "set_tcp_nodelay true",
  ];
  if (options.users) {
    const passwords = `${dir}/passwords`;
    for (const [i, [user, password]] of Object.entries(options.users).entries()) {
      const args = ["-b", ...(i === 0 ? ["-c"] : []), passwords, user, password];
      const { code, stderr } = await new Deno.Command("mosquitto_passwd", { args, stdout: "null" })
        .output();
      if (code !== 0) {
        throw new Error(`mosquitto_passwd failed: ${new TextDecoder().decode(stderr)}`);
      }
    }
    lines.push("allow_anonymous false", `password_file ${passwords}`);
  } else {
    lines.push("allow_anonymous true");
  }
  if (options.acl) {
    const aclFile = `${dir}/acl`;
    await Deno.writeTextFile(aclFile, options.acl.join("\n") + "\n");
    lines.push(`acl_file ${aclFile}`);
  }
  if (options.tls) {
    lines.push(
      `cafile ${options.tls.caFile}`,
      `certfile ${options.tls.certFile}`,
      `keyfile ${options.tls.keyFile}`,
      `require_certificate ${options.tls.requireCertificate ? "true" : "false"}`,
    );
  }
  const conf = `${dir}/mosquitto.conf`;
  await Deno.writeTextFile(conf, lines.join("\n") + "\n");

  const log = () => Deno.readTextFile(logFile).catch(() => "(no log)");
  let process: { kill(signal?: Deno.Signal): Promise<void> };
  try {
    process = await spawnMosquitto(conf, port, log);
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await process.kill();
      await Deno.remove(dir, { recursive: true });
    })();
  const restart = async () => {
    await process.kill();
    process = await spawnMosquitto(conf, port, log);
  };
  const crash = () => process.kill("SIGKILL");
  const scheme = options.tls ? "mqtts" : "mqtt";
  return { port, url: `${scheme}://127.0.0.1:${port}`, stop, log, restart, crash };
}

/** Starts mosquitto on `conf` and resolves once `port` accepts; `kill()` ends it and waits. */
async function spawnMosquitto(
  conf: string,
  port: number,
  log: () => Promise<string>,
): Promise<{ kill(signal?: Deno.Signal): Promise<void> }> {
  const mosquitto = new Deno.Command("mosquitto", {
    args: ["-c", conf],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = mosquitto.status.then(() => void (exited = true));
  const kill = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      mosquitto.kill(signal);
    } catch {
      // It exited by itself; `status` has what happened.
    }
    await status;
  };
  try {
    await untilAccepting(port, () => exited, 5000);
  } catch (error) {
    const text = await log();
    await kill();
    throw new Error(
      `mosquitto did not start on port ${port}: ${(error as Error).message}\n${text}`,
    );
  }
  return { kill };
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection; rejects at the deadline or if `gone()`. */
async function untilAccepting(port: number, gone: () => boolean, deadlineMs: number) {
  const deadline = Date.now() + deadlineMs;
  while (true) {
    try {
      const connection = await Deno.connect({ hostname: "127.0.0.1", port });
      connection.close();
      return;
    } catch (error) {
      if (gone()) throw new Error("the process exited");
      if (Date.now() > deadline) {
        throw new Error(`nothing accepted within ${deadlineMs} ms`, { cause: error });
      }
    }
    // A retry interval, not a settle delay: the loop ends on the event or the deadline.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
