/**
 * A TCP proxy between a device and a broker (the Cumulocity emulator, a
 * mosquitto) that can hold back the broker's PUBACKs: it reads the MQTT 3.1.1 packets both ways
 * (fixed header, remaining length; PUBLISH topic and packet id; PUBACK
 * packet id) and, while `hold` is on, keeps the PUBACK of every QoS 1
 * publish whose payload matches, forwarding everything else at once. So a
 * test can see what a device publishes while earlier publishes wait for
 * their PUBACK, without slowing the broker itself down. When either side
 * closes (a broker killed), the proxy closes the other, as the path would.
 */

/** A running gate. */
export interface PubackGate {
  /** `mqtt://127.0.0.1:<port>`: where the device connects instead of the emulator. */
  readonly url: string;
  /** From now on, withholds the PUBACKs of publishes whose payload matches. */
  hold(match: (payload: string) => boolean): void;
  /** The payloads whose PUBACK is withheld now, in the order the PUBACKs came. */
  held(): string[];
  /** Forwards every withheld PUBACK, in order, and withholds no more. */
  release(): void;
  close(): Promise<void>;
}

const PUBLISH = 3;
const PUBACK = 4;

/** Starts a gate in front of the broker on 127.0.0.1:`brokerPort`. */
export function startPubackGate(brokerPort: number): PubackGate {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pipes = new Set<Promise<void>>();
  const conns = new Set<Deno.Conn>();
  let match: ((payload: string) => boolean) | undefined;
  const withheld: { payload: string; send: () => void }[] = [];

  async function serve(device: Deno.Conn): Promise<void> {
    const broker = await Deno.connect({ hostname: "127.0.0.1", port: brokerPort });
    conns.add(device);
    conns.add(broker);
    // Packet id → payload of the device's QoS 1 publishes still waiting for their PUBACK.
    const published = new Map<number, string>();
    const toBroker = serialWriter(broker);
    const toDevice = serialWriter(device);
    const up = pump(device, (packet) => {
      const publish = readPublish(packet);
      if (publish?.packetId !== undefined) published.set(publish.packetId, publish.payload);
      return toBroker(packet);
    });
    const down = pump(broker, (packet) => {
      if (packet[0] >> 4 === PUBACK) {
        const id = (packet[2] << 8) | packet[3];
        const payload = published.get(id) ?? "";
        published.delete(id);
        if (match?.(payload)) {
          withheld.push({ payload, send: () => void toDevice(packet).catch(() => {}) });
          return Promise.resolve();
        }
      }
      return toDevice(packet);
    });
    await Promise.race([up, down]).catch(() => {});
    for (const conn of [device, broker]) {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed by the other direction */ }
    }
    await Promise.allSettled([up, down]);
  }

  const accepting = (async () => {
    for await (const device of listener) {
      const pipe = serve(device).catch(() => {});
      pipes.add(pipe);
      pipe.finally(() => pipes.delete(pipe));
    }
  })().catch(() => {});

  return {
    url: `mqtt://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    hold(next) {
      match = next;
    },
    held: () => withheld.map((w) => w.payload),
    release() {
      match = undefined;
      for (const { send } of withheld.splice(0)) send();
    },
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await accepting;
      await Promise.allSettled([...pipes]);
    },
  };
}

// Reads whole MQTT packets from `from` and hands each to `forward`, in order.
async function pump(
  from: Deno.Conn,
  forward: (packet: Uint8Array) => Promise<void>,
): Promise<void> {
  let buffer: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await from.read(chunk);
    if (n === null) return;
    buffer = concat(buffer, chunk.subarray(0, n));
    for (let size = packetSize(buffer); size !== undefined; size = packetSize(buffer)) {
      const packet = buffer.slice(0, size);
      buffer = buffer.slice(size);
      await forward(packet);
    }
  }
}

// The size of the first packet in `buffer`, or undefined when it is not all there yet.
function packetSize(buffer: Uint8Array): number | undefined {
  let length = 0;
  for (let i = 1; i <= 4; i++) {
    if (i >= buffer.length) return undefined;
    length += (buffer[i] & 0x7f) * 128 ** (i - 1);
    if ((buffer[i] & 0x80) === 0) {
      const size = 1 + i + length;
      return buffer.length >= size ? size : undefined;
    }
  }
  throw new Error("Malformed MQTT remaining length");
}

function readPublish(packet: Uint8Array): { packetId?: number; payload: string } | undefined {
  if (packet[0] >> 4 !== PUBLISH) return undefined;
  let offset = 1;
  while (packet[offset] & 0x80) offset++;
  offset++;
  const topicLength = (packet[offset] << 8) | packet[offset + 1];
  offset += 2 + topicLength;
  const qos = (packet[0] >> 1) & 3;
  let packetId: number | undefined;
  if (qos > 0) {
    packetId = (packet[offset] << 8) | packet[offset + 1];
    offset += 2;
  }
  return { packetId, payload: new TextDecoder().decode(packet.subarray(offset)) };
}

// Writes to `conn` one packet after the other, whoever asks (the pump or a release).
function serialWriter(conn: Deno.Conn): (bytes: Uint8Array) => Promise<void> {
  let last = Promise.resolve();
  return (bytes) => {
    last = last.then(async () => {
      for (let written = 0; written < bytes.length;) {
        written += await conn.write(bytes.subarray(written));
      }
    });
    return last;
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
