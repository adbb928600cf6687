/**
 * The WebSocket frame codec alone: RFC 6455 §5.7's examples byte for byte,
 * every protocol violation a server could commit, and fuzzing.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  encodeClosePayload,
  encodeFrame,
  OPCODE,
  WebSocketProtocolError,
} from "../../protocols/websocket_frame.ts";
import {
  type DecoderOptions,
  MessageDecoder,
  type WebSocketEvent,
} from "../../protocols/websocket_decode.ts";

const HELLO = new TextEncoder().encode("Hello");
const KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
const FROM_SERVER: DecoderOptions = { maxFrameBytes: 1 << 20, masking: "forbidden" };
const FROM_CLIENT: DecoderOptions = { maxFrameBytes: 1 << 20, masking: "required" };

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function decodeAll(options: DecoderOptions, ...chunks: Uint8Array[]): WebSocketEvent[] {
  const decoder = new MessageDecoder(options);
  const events: WebSocketEvent[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let e = decoder.next(); e; e = decoder.next()) events.push(e);
  }
  return events;
}

function protocolError(code: number, pattern: RegExp) {
  return (error: unknown) =>
    error instanceof WebSocketProtocolError && error.closeCode === code &&
    pattern.test(error.message);
}

Deno.test("RFC 6455 §5.7: a single-frame unmasked text message encodes and decodes byte for byte", () => {
  const wire = bytes(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f);
  deepEqual(encodeFrame({ fin: true, opcode: OPCODE.text, payload: HELLO }, { mask: false }), wire);
  deepEqual(decodeAll(FROM_SERVER, wire), [{ type: "message", text: true, data: HELLO }]);
});

Deno.test("RFC 6455 §5.7: a single-frame masked text message encodes and decodes byte for byte", () => {
  const wire = bytes(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58);
  deepEqual(encodeFrame({ fin: true, opcode: OPCODE.text, payload: HELLO }, { mask: KEY }), wire);
  deepEqual(decodeAll(FROM_CLIENT, wire), [{ type: "message", text: true, data: HELLO }]);
});

Deno.test("RFC 6455 §5.7: a fragmented text message is joined, with a ping between its fragments", () => {
  const events = decodeAll(
    FROM_SERVER,
    bytes(0x01, 0x03, 0x48, 0x65, 0x6c),
    bytes(0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f),
    bytes(0x80, 0x02, 0x6c, 0x6f),
  );
  deepEqual(events, [
    { type: "ping", data: HELLO },
    { type: "message", text: true, data: HELLO },
  ]);
});

Deno.test("RFC 6455 §5.7: ping and masked pong frames", () => {
  deepEqual(
    encodeFrame({ fin: true, opcode: OPCODE.ping, payload: HELLO }, { mask: false }),
    bytes(0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f),
  );
  const pong = bytes(0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58);
  deepEqual(encodeFrame({ fin: true, opcode: OPCODE.pong, payload: HELLO }, { mask: KEY }), pong);
  deepEqual(decodeAll(FROM_CLIENT, pong), [{ type: "pong", data: HELLO }]);
});

Deno.test("RFC 6455 §5.7: 256 bytes take a 16-bit length, 64 KiB a 64-bit length", () => {
  const small = new Uint8Array(256).fill(7);
  const frame = encodeFrame({ fin: true, opcode: OPCODE.binary, payload: small }, { mask: false });
  deepEqual(frame.subarray(0, 4), bytes(0x82, 0x7e, 0x01, 0x00));
  equal(frame.length, 260);
  const big = new Uint8Array(65536).fill(9);
  const large = encodeFrame({ fin: true, opcode: OPCODE.binary, payload: big }, { mask: false });
  deepEqual(large.subarray(0, 10), bytes(0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0));
  deepEqual(decodeAll(FROM_SERVER, frame, large), [
    { type: "message", text: false, data: small },
    { type: "message", text: false, data: big },
  ]);
});

Deno.test("a frame split into single bytes decodes once its last byte arrives", () => {
  const wire = encodeFrame({ fin: true, opcode: OPCODE.binary, payload: new Uint8Array(300) }, {
    mask: false,
  });
  const decoder = new MessageDecoder(FROM_SERVER);
  for (let i = 0; i < wire.length - 1; i++) {
    decoder.push(wire.subarray(i, i + 1));
    equal(decoder.next(), undefined);
  }
  decoder.push(wire.subarray(wire.length - 1));
  equal(decoder.next()?.type, "message");
  equal(decoder.buffered, 0);
});

Deno.test("close frames carry a status and a UTF-8 reason; an empty one means 1005", () => {
  const close = encodeFrame({
    fin: true,
    opcode: OPCODE.close,
    payload: encodeClosePayload(1000, "device closed"),
  }, { mask: false });
  deepEqual(decodeAll(FROM_SERVER, close), [{
    type: "close",
    code: 1000,
    reason: "device closed",
  }]);
  deepEqual(decodeAll(FROM_SERVER, bytes(0x88, 0x00)), [{ type: "close", code: 1005, reason: "" }]);
  deepEqual(encodeClosePayload(1005, "ignored"), new Uint8Array(0));
});

Deno.test("a long close reason is cut to 123 bytes, never inside a character", () => {
  const payload = encodeClosePayload(1011, "é".repeat(100));
  ok(payload.length <= 125);
  equal(payload.length % 2, 0, "2 status bytes plus whole 2-byte characters");
  const [event] = decodeAll(
    FROM_SERVER,
    encodeFrame({ fin: true, opcode: OPCODE.close, payload }, { mask: false }),
  );
  deepEqual(event, { type: "close", code: 1011, reason: "é".repeat(61) });
});

Deno.test("control frames that break the RFC cannot be encoded", () => {
  throws(
    () => encodeFrame({ fin: true, opcode: OPCODE.ping, payload: new Uint8Array(126) }),
    /payload of 126 bytes exceeds 125/,
  );
  throws(
    () => encodeFrame({ fin: false, opcode: OPCODE.close, payload: new Uint8Array(0) }),
    /fragmented/,
  );
});

Deno.test("every violation of RFC 6455 by the peer is a WebSocketProtocolError with its close code", () => {
  const cases: [string, Uint8Array[], number, RegExp, DecoderOptions?][] = [
    ["reserved bits", [bytes(0xc2, 0x00)], 1002, /reserved bits 0x40/],
    ["unknown opcode", [bytes(0x83, 0x00)], 1002, /unknown opcode 0x3/],
    ["control frame over 125", [bytes(0x89, 0x7e, 0x00, 0x7e)], 1002, /longer than 125/],
    ["fragmented control frame", [bytes(0x09, 0x00)], 1002, /is fragmented/],
    ["64-bit length with MSB", [bytes(0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0)], 1002, /most sig/],
    ["masked server frame", [bytes(0x82, 0x80, 1, 2, 3, 4)], 1002, /Masked frame from the server/],
    ["unmasked client frame", [bytes(0x82, 0x00)], 1002, /Unmasked frame/, FROM_CLIENT],
    ["continuation first", [bytes(0x80, 0x00)], 1002, /without a message to continue/],
    ["data inside fragments", [bytes(0x02, 0x00), bytes(0x82, 0x00)], 1002, /unfinished/],
    ["invalid UTF-8 text", [bytes(0x81, 0x02, 0xc3, 0x28)], 1007, /Text message is not valid/],
    ["invalid UTF-8 reason", [bytes(0x88, 0x03, 0x03, 0xe8, 0xff)], 1007, /Close reason/],
    ["1-byte close", [bytes(0x88, 0x01, 0x03)], 1002, /1-byte payload/],
    ["reserved close code", [bytes(0x88, 0x02, 0x03, 0xed)], 1002, /invalid status 1005/],
    ["close code below 1000", [bytes(0x88, 0x02, 0x03, 0xe7)], 1002, /invalid status 999/],
    [
      "frame over the limit",
      [bytes(0x82, 0x7e, 0x01, 0x00)],
      1009,
      /Frame of 256 bytes exceeds the limit of 255/,
      { maxFrameBytes: 255, masking: "forbidden" },
    ],
    [
      "fragments over the message limit",
      [
        bytes(0x02, 0x7e, 0x00, 0xc8),
        new Uint8Array(200),
        bytes(0x80, 0x7e, 0x00, 0xc8),
        new Uint8Array(200),
      ],
      1009,
      /Message of more than 300 bytes/,
      { maxFrameBytes: 255, maxMessageBytes: 300, masking: "forbidden" },
    ],
  ];
  for (const [name, chunks, code, pattern, options] of cases) {
    throws(() => decodeAll(options ?? FROM_SERVER, ...chunks), protocolError(code, pattern), name);
  }
});

/** A message as a list of fragments (each a data or continuation frame). */
const message = fc.record({
  text: fc.boolean(),
  parts: fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 }),
  ping: fc.option(fc.uint8Array({ maxLength: 125 })),
});

Deno.test("fragmented messages with pings between them round-trip through any chunking", () => {
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 10 }),
      (messages, cuts) => {
        const frames: Uint8Array[] = [];
        const expected: WebSocketEvent[] = [];
        for (const m of messages) {
          // Text fragments carry ASCII so that each message is valid UTF-8.
          const parts = m.parts.map((p) => (m.text ? p.map((b) => b & 0x7f) : p));
          parts.forEach((payload, i) => {
            const opcode = i > 0 ? OPCODE.continuation : m.text ? OPCODE.text : OPCODE.binary;
            frames.push(encodeFrame({ fin: i === parts.length - 1, opcode, payload }));
            // After the first fragment: inside the message when it has more than one.
            if (i === 0 && m.ping !== null) {
              frames.push(encodeFrame({ fin: true, opcode: OPCODE.ping, payload: m.ping }));
            }
          });
          const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          parts.reduce((offset, p) => (data.set(p, offset), offset + p.length), 0);
          const whole: WebSocketEvent = { type: "message", text: m.text, data };
          const ping: WebSocketEvent[] = m.ping === null ? [] : [{ type: "ping", data: m.ping }];
          expected.push(...(parts.length > 1 ? [...ping, whole] : [whole, ...ping]));
        }
        const wire = concat(frames);
        const chunks: Uint8Array[] = [];
        for (let offset = 0, i = 0; offset < wire.length; i++) {
          const size = cuts[i % cuts.length];
          chunks.push(wire.slice(offset, offset + size));
          offset += size;
        }
        deepEqual(decodeAll(FROM_CLIENT, ...chunks), expected);
      },
    ),
  );
});

Deno.test("the decoder throws nothing but WebSocketProtocolError on arbitrary bytes", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }),
      fc.constantFrom<DecoderOptions["masking"]>("forbidden", "required"),
      (chunks, masking) => {
        try {
          decodeAll({ maxFrameBytes: 200, masking }, ...chunks);
        } catch (error) {
          if (!(error instanceof WebSocketProtocolError)) throw error;
          ok([1002, 1007, 1009].includes(error.closeCode));
        }
      },
    ),
    { numRuns: 2000 },
  );
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

Deno.test("masking gives the bytes of RFC 6455 §5.3 for every payload length and key", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 70_000 }),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      (payload, key) => {
        const wire = encodeFrame({ fin: true, opcode: OPCODE.binary, payload }, { mask: key });
        const body = wire.subarray(wire.length - payload.length);
        const header = wire.subarray(0, wire.length - payload.length);
        deepEqual(header.subarray(header.length - 4), key);
        for (let i = 0; i < payload.length; i++) {
          if (body[i] !== (payload[i] ^ key[i & 3])) return false;
        }
        return true;
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("masking is right at the length boundaries of the 7-, 16- and 64-bit headers", () => {
  const key = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
  for (const length of [0, 1, 3, 15, 16, 17, 125, 126, 127, 16_384, 65_535, 65_536, 65_539]) {
    const payload = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 0xff);
    const wire = encodeFrame({ fin: true, opcode: OPCODE.binary, payload }, { mask: key });
    const body = wire.subarray(wire.length - length);
    const expected = payload.map((b, i) => b ^ key[i & 3]);
    deepEqual(body, expected, `length ${length}`);
  }
});
