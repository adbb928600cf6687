/**
 * The zero-copy paths of the WebSocket codec against their references:
 * `maskInPlace` against RFC 6455 §5.3 byte by byte, `frameInPlace` against
 * `encodeFrame`, and `ReceiveBuffer` against `MessageDecoder`, by fuzzing
 * (any payload, alignment, chunking and buffer size).
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  encodeFrame,
  FRAME_HEADROOM,
  frameInPlace,
  OPCODE,
  WebSocketProtocolError,
} from "../../protocols/websocket_frame.ts";
import {
  type DecoderOptions,
  MessageDecoder,
  type WebSocketEvent,
} from "../../protocols/websocket_decode.ts";
import { ReceiveBuffer, type ReceiveEvent } from "../../protocols/websocket_receive.ts";
import { maskInPlace, maskReference } from "../../protocols/websocket_mask.ts";

Deno.test("maskInPlace gives the bytes of the reference at every length, alignment and key", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 5000 }),
      fc.integer({ min: 0, max: 7 }),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      (payload, shift, key) => {
        const backing = new Uint8Array(payload.length + 8);
        const data = backing.subarray(shift, shift + payload.length);
        data.set(payload);
        maskInPlace(data, key);
        deepEqual(data, maskReference(payload, key));
        deepEqual(backing.subarray(0, shift), new Uint8Array(shift), "nothing before it touched");
        maskInPlace(data, key);
        deepEqual(data, payload, "masking twice gives the payload back");
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("frameInPlace writes the bytes of encodeFrame, header and masked payload in one array", () => {
  const lengths = [0, 1, 15, 16, 125, 126, 127, 16_384, 65_535, 65_536, 65_539];
  fc.assert(
    fc.property(
      fc.oneof(fc.constantFrom(...lengths), fc.integer({ min: 0, max: 70_000 })),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.boolean(),
      (length, key, masked) => {
        const payload = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 0xff);
        const buffer = new Uint8Array(FRAME_HEADROOM + length + 3);
        buffer.set(payload, FRAME_HEADROOM);
        const frame = frameInPlace(buffer, length, OPCODE.binary, masked ? key : false);
        const expected = encodeFrame({ fin: true, opcode: OPCODE.binary, payload }, {
          mask: masked ? key : false,
        });
        deepEqual(frame, expected);
        equal(frame.buffer, buffer.buffer, "no copy");
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("frameInPlace draws a fresh key per frame and refuses what does not fit", () => {
  const a = frameInPlace(new Uint8Array(FRAME_HEADROOM + 8), 8).slice(2, 6);
  const b = frameInPlace(new Uint8Array(FRAME_HEADROOM + 8), 8).slice(2, 6);
  ok(a.some((byte, i) => byte !== b[i]), "two frames, two keys");
  throws(() => frameInPlace(new Uint8Array(FRAME_HEADROOM + 8), 9), RangeError);
  throws(() => frameInPlace(new Uint8Array(FRAME_HEADROOM + 200), 126, OPCODE.ping), RangeError);
});

/** A message as the fuzzers send it: fragments, and maybe a ping after the first. */
const message = fc.record({
  text: fc.boolean(),
  parts: fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 }),
  ping: fc.option(fc.uint8Array({ maxLength: 125 })),
});

interface Message {
  text: boolean;
  parts: Uint8Array[];
  ping: Uint8Array | null;
}

function wireOf(
  messages: Message[],
  masked: boolean,
  closeAtEnd: boolean,
): Uint8Array {
  const frames: Uint8Array[] = [];
  const mask = masked ? undefined : false as const;
  for (const m of messages) {
    const parts = m.parts.map((p) => (m.text ? p.map((b) => b & 0x7f) : p));
    parts.forEach((payload, i) => {
      const opcode = i > 0 ? OPCODE.continuation : m.text ? OPCODE.text : OPCODE.binary;
      frames.push(encodeFrame({ fin: i === parts.length - 1, opcode, payload }, { mask }));
      if (i === 0 && m.ping !== null) {
        frames.push(encodeFrame({ fin: true, opcode: OPCODE.ping, payload: m.ping }, { mask }));
      }
    });
  }
  if (closeAtEnd) {
    const payload = Uint8Array.of(0x03, 0xe8, 0x6f, 0x6b); // 1000 "ok"
    frames.push(encodeFrame({ fin: true, opcode: OPCODE.close, payload }, { mask }));
  }
  return concat(frames);
}

/** Everything MessageDecoder makes of `chunks`, and the error it ended with. */
function reference(options: DecoderOptions, chunks: Uint8Array[]) {
  const decoder = new MessageDecoder(options);
  const events: WebSocketEvent[] = [];
  try {
    for (const chunk of chunks) {
      decoder.push(chunk.slice());
      for (let e = decoder.next(); e; e = decoder.next()) events.push(e);
    }
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
}

/**
 * Feeds `chunks` to a ReceiveBuffer the way a socket reader does (into
 * `space()`, as much as fits), taking events as they come; data events are
 * copied at once (they are borrowed) and, unless `join`, gathered into
 * messages as the client does.
 */
function inPlace(
  options: DecoderOptions & { initialBytes: number; capacity: number },
  chunks: Uint8Array[],
  join: boolean,
) {
  const rx = new ReceiveBuffer(options);
  const events: (WebSocketEvent | { type: "bytes"; data: Uint8Array })[] = [];
  let parts: Uint8Array[] = [];
  const take = (event: ReceiveEvent) => {
    if (event.type !== "data") return events.push(event);
    if (join) return events.push({ type: "bytes", data: event.data.slice() });
    parts.push(event.data.slice());
    if (!event.fin) return;
    events.push({ type: "message", text: event.text, data: concat(parts) });
    parts = [];
  };
  try {
    for (const chunk of chunks) {
      let offset = 0;
      while (true) {
        for (let e = rx.next(join); e; e = rx.next(join)) take(e);
        if (offset === chunk.length) break;
        const space = rx.space();
        ok(space.length > 0, "there is always room for the frame being received");
        const n = Math.min(space.length, chunk.length - offset);
        space.set(chunk.subarray(offset, offset + n));
        rx.commit(n);
        offset += n;
        const bound = Math.max(
          64,
          options.initialBytes,
          options.capacity,
          options.maxFrameBytes + 14,
        );
        ok(rx.size <= bound, "bounded buffer");
      }
    }
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
}

function chunked(wire: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0, i = 0; offset < wire.length; i++) {
    const size = cuts[i % cuts.length];
    chunks.push(wire.slice(offset, offset + size));
    offset += size;
  }
  return chunks;
}

const sizes = fc.record({
  initialBytes: fc.integer({ min: 1, max: 400 }),
  capacity: fc.integer({ min: 1, max: 1200 }),
});

Deno.test("ReceiveBuffer gives MessageDecoder's messages and control events through any chunking and size", () => {
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 10 }),
      sizes,
      fc.boolean(),
      fc.boolean(),
      (messages, cuts, size, masked, closeAtEnd) => {
        const options: DecoderOptions = {
          maxFrameBytes: 1 << 16,
          masking: masked ? "required" : "forbidden",
        };
        const chunks = chunked(wireOf(messages, masked, closeAtEnd), cuts);
        const expected = reference(options, chunks);
        const actual = inPlace({ ...options, ...size }, chunks, false);
        equal(expected.error, undefined);
        equal(actual.error, undefined);
        deepEqual(actual.events, expected.events);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("ReceiveBuffer joined into a byte stream carries every data byte in order, control events in place", () => {
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 10 }),
      sizes,
      fc.boolean(),
      (messages, cuts, size, closeAtEnd) => {
        const options: DecoderOptions = { maxFrameBytes: 1 << 16, masking: "forbidden" };
        const chunks = chunked(wireOf(messages, false, closeAtEnd), cuts);
        const actual = inPlace({ ...options, ...size }, chunks, true);
        equal(actual.error, undefined);
        // The wire's order: the data bytes between two control frames, then the control frame.
        const expected: (Uint8Array | WebSocketEvent)[] = [];
        let run: Uint8Array[] = [];
        for (const m of messages) {
          m.parts.forEach((part, i) => {
            run.push(m.text ? part.map((b) => b & 0x7f) : part);
            if (i === 0 && m.ping !== null) {
              expected.push(concat(run), { type: "ping", data: m.ping });
              run = [];
            }
          });
        }
        expected.push(concat(run));
        if (closeAtEnd) {
          expected.push({ type: "close", code: 1000, reason: "ok" }, new Uint8Array());
        }
        const got: (Uint8Array | WebSocketEvent)[] = [];
        run = [];
        for (const e of actual.events) {
          if (e.type === "bytes") {
            ok(e.data.length > 0, "no empty data in a byte stream");
            run.push(e.data);
          } else {
            got.push(concat(run), e as WebSocketEvent);
            run = [];
          }
        }
        got.push(concat(run));
        deepEqual(got, expected);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("ReceiveBuffer fails where MessageDecoder does, with the same close code", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }),
      fc.constantFrom<DecoderOptions["masking"]>("forbidden", "required"),
      sizes,
      (chunks, masking, size) => {
        const options: DecoderOptions = { maxFrameBytes: 200, masking };
        const expected = reference(options, chunks);
        const actual = inPlace({ ...options, ...size }, chunks, false);
        if (actual.error !== undefined) {
          ok(actual.error instanceof WebSocketProtocolError, String(actual.error));
          ok([1002, 1007, 1009].includes(actual.error.closeCode));
        }
        if (expected.error === undefined) {
          // Text is checked fragment by fragment here, at the message's end there.
          if (actual.error !== undefined) {
            equal((actual.error as WebSocketProtocolError).closeCode, 1007);
            return;
          }
          deepEqual(actual.events, expected.events);
          return;
        }
        ok(actual.error !== undefined, "the in-place decoder fails too");
        const code = (actual.error as WebSocketProtocolError).closeCode;
        const want = (expected.error as WebSocketProtocolError).closeCode;
        ok(code === want || code === 1007, `close code ${code}, reference ${want}`);
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("ReceiveBuffer grows for a frame larger than its capacity, then shrinks back", () => {
  const rx = new ReceiveBuffer({
    maxFrameBytes: 1 << 20,
    masking: "forbidden",
    initialBytes: 1024,
    capacity: 4096,
  });
  const payload = Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff);
  const large = encodeFrame({ fin: true, opcode: OPCODE.binary, payload }, { mask: false });
  const wire = concat([
    large,
    large,
    encodeFrame({ fin: true, opcode: OPCODE.binary, payload: payload.subarray(0, 10) }, {
      mask: false,
    }),
  ]);
  const sizes: number[] = [];
  let offset = 0;
  const got: Uint8Array[] = [];
  while (got.length < 3) {
    const event = rx.next(false);
    if (event?.type === "data") {
      got.push(event.data.slice());
      continue;
    }
    const space = rx.space();
    sizes.push(rx.size);
    const n = Math.min(space.length, wire.length - offset);
    space.set(wire.subarray(offset, offset + n));
    rx.commit(n);
    offset += n;
  }
  deepEqual(got, [payload, payload, payload.subarray(0, 10)]);
  const first = sizes.indexOf(large.length);
  const last = sizes.lastIndexOf(large.length);
  ok(first >= 0, "it grew to the large frame's size");
  deepEqual(sizes.slice(first, last + 1), sizes.slice(first, last + 1).map(() => large.length));
  rx.space();
  equal(rx.size, 4096, "back to its capacity once the large frame is gone");

  // A read that ends exactly at the end of a large frame: the next space keeps the size.
  const exact = new ReceiveBuffer({
    maxFrameBytes: 1 << 20,
    masking: "forbidden",
    initialBytes: 1024,
    capacity: 4096,
  });
  exact.push(large);
  equal(exact.next(false)?.type, "data");
  exact.space();
  equal(exact.size, large.length, "no shrinking between two large frames");
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
