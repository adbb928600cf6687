/**
 * The Python seed's `c8ydp.DeviceProxy` as a peer of bench/tunnel_bench.ts:
 * the same relay emulator, clients and targets, the seed in place of the
 * device. Its source is not part of this project: point `C8YDP_SRC` at a
 * checkout of the seed (the directory holding `c8ydp/`). It runs in its own
 * Python process through a small driver (below), one JSON command per line.
 *
 * The seed needs `websocket-client` and `certifi`. Where PyPI is not
 * reachable, Debian's `python3-websocket` and `python3-certifi` provide them
 * (for /usr/bin/python3); `C8YDP_PYTHON` names the interpreter, otherwise
 * the first of `python3`, `/usr/bin/python3` that can import both is used.
 */

/** A running seed process. */
export interface Seed {
  /** Interpreter and checkout, for the report. */
  readonly description: string;
  /** Opens a tunnel for relay session `key` to the target port; resolves once both sides are up. */
  open(key: string, port: number): Promise<SeedTunnel>;
  /** CPU time of the seed's process so far (user + system). */
  cpuMs(): Promise<number>;
  quit(): Promise<void>;
}

/** One of the seed's tunnels. */
export interface SeedTunnel {
  /** Resolves when the seed reported the WebSocket closed (its `on_close_handler`). */
  closed: Promise<void>;
  /** `DeviceProxy.stop()`; resolves with `closed`. */
  close(): Promise<void>;
}

// The driver: this project's code, not the seed's. It only calls the seed's
// public API (`DeviceProxy(...)`, `connect()`, `stop()`).
const DRIVER = `
import functools, json, logging, os, sys, threading
sys.path.insert(0, os.environ["C8YDP_SRC"])
import websocket
# The seed does not ask for the "binary" subprotocol that Cloud Remote Access
# requires (PROTOCOLS.md section 1) and the relay emulator enforces: ask for it.
websocket.WebSocketApp = functools.partial(websocket.WebSocketApp, subprotocols=["binary"])
from c8ydp.device_proxy import DeviceProxy
logging.basicConfig(level=logging.CRITICAL)
lock = threading.Lock()
def say(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\\n")
        sys.stdout.flush()
proxies = {}
for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    if op == "open":
        key = cmd["key"]
        def on_close(status, reason, key=key):
            say({"event": "closed", "key": key, "status": status, "reason": reason})
        proxy = DeviceProxy(cmd["host"], cmd["port"], cmd["bufferSize"], key, cmd["baseUrl"],
                            cmd["user"], cmd["password"], None, on_close)
        try:
            proxy.connect()
            proxies[key] = proxy
            say({"op": "open", "ok": True})
        except Exception as error:
            say({"op": "open", "ok": False, "error": str(error)})
    elif op == "close":
        proxy = proxies.pop(cmd["key"], None)
        if proxy is not None:
            try:
                proxy.stop()
            except Exception:
                pass
        say({"op": "close"})
    elif op == "cpu":
        t = os.times()
        say({"op": "cpu", "cpuMs": (t.user + t.system) * 1000})
    elif op == "quit":
        say({"op": "quit"})
        break
`;

/** What the bench passes about the relay. */
export interface SeedRelay {
  httpBase: string;
  user: string;
  password: string;
  bufferSize: number;
}

/**
 * Starts the seed's driver, or explains why not (no `C8YDP_SRC`, no
 * interpreter that has the seed's dependencies): then the bench skips it.
 */
export async function startSeed(relay: SeedRelay): Promise<Seed | string> {
  const src = Deno.env.get("C8YDP_SRC");
  if (!src) {
    return "set C8YDP_SRC to a checkout of the seed (the directory holding c8ydp/)";
  }
  try {
    Deno.statSync(`${src}/c8ydp/device_proxy.py`);
  } catch {
    return `C8YDP_SRC=${src} has no c8ydp/device_proxy.py`;
  }
  const candidates = Deno.env.get("C8YDP_PYTHON")
    ? [Deno.env.get("C8YDP_PYTHON")!]
    : ["python3", "/usr/bin/python3"];
  let python: string | undefined;
  for (const candidate of candidates) {
    const probe = await new Deno.Command(candidate, {
      args: ["-c", "import websocket, certifi"],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => undefined);
    if (probe?.success) {
      python = candidate;
      break;
    }
  }
  if (!python) {
    return `none of ${candidates.join(", ")} can import websocket and certifi, ` +
      "which the seed needs (PyPI's websocket-client and certifi; without PyPI: " +
      "apt-get install python3-websocket python3-certifi, for /usr/bin/python3)";
  }
  const child = new Deno.Command(python, {
    args: ["-u", "-c", DRIVER],
    env: { C8YDP_SRC: src },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  const answers: ((answer: Record<string, unknown>) => void)[] = [];
  const closedWaiters = new Map<string, () => void>();
  const reading = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let newline: number;
      while ((newline = rest.indexOf("\n")) >= 0) {
        const line = JSON.parse(rest.slice(0, newline));
        rest = rest.slice(newline + 1);
        if (line.event === "closed") {
          closedWaiters.get(line.key)?.();
          closedWaiters.delete(line.key);
        } else {
          answers.shift()?.(line);
        }
      }
    }
  })();
  let queue: Promise<unknown> = Promise.resolve();
  function ask(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = queue.then(async () => {
      const answered = new Promise<Record<string, unknown>>((resolve) => answers.push(resolve));
      await writer.write(encoder.encode(JSON.stringify(command) + "\n"));
      return await answered;
    });
    queue = answer.catch(() => {});
    return answer;
  }
  return {
    description: `${python}, C8YDP_SRC=${src}`,
    async open(key, port) {
      const closed = new Promise<void>((resolve) => closedWaiters.set(key, resolve));
      const answer = await ask({
        op: "open",
        key,
        host: "127.0.0.1",
        port,
        bufferSize: relay.bufferSize,
        baseUrl: relay.httpBase,
        user: relay.user,
        password: relay.password,
      });
      if (!answer.ok) throw new Error(`the seed could not open a tunnel: ${answer.error}`);
      return {
        closed,
        async close() {
          await ask({ op: "close", key });
          // A seed that never reports its close must not hang the benchmark.
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            closed,
            new Promise((resolve) => (timer = setTimeout(resolve, 5000))),
          ]);
          clearTimeout(timer);
        },
      };
    },
    async cpuMs() {
      return (await ask({ op: "cpu" })).cpuMs as number;
    },
    async quit() {
      await ask({ op: "quit" });
      await writer.close();
      await child.status;
      await reading;
    },
  };
}
