/**
 * The SmartREST 2.0 CSV codec against PROTOCOLS.md §1 and Cumulocity's own
 * examples: quoting and escaping as tables, several lines per publish, the
 * 16184-byte limit, and properties that hold for any text.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  decodeLine,
  decodeMessage,
  encodeLine,
  packLines,
  SMARTREST_PAYLOAD_LIMIT,
  SmartRestError,
  type SmartRestField,
  utf8Length,
} from "../../protocols/smartrest.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** Asserts a SmartRestError at `line`/`column` whose message matches `message`. */
function throwsAt(fn: () => unknown, where: { line: number; column: number }, message: RegExp) {
  throws(fn, (error: unknown) => {
    ok(error instanceof SmartRestError, `expected a SmartRestError, got ${error}`);
    deepEqual({ line: error.line, column: error.column }, where, error.message);
    ok(message.test(error.message), `${JSON.stringify(error.message)} should match ${message}`);
    return true;
  });
}

Deno.test("encodeLine quotes exactly the fields PROTOCOLS.md says need it", () => {
  const table: [fields: SmartRestField[], line: string][] = [
    [["100", "plain", "inner space"], "100,plain,inner space"],
    [
      ["100", "This value, needs escaping", "This value does not need escaping"],
      '100,"This value, needs escaping",This value does not need escaping',
    ],
    [["511", 'say "hi"'], '511,"say \\"hi\\""'],
    [["511", "two\nlines"], '511,"two\nlines"'],
    [["511", "carriage\rreturn"], '511,"carriage\rreturn"'],
    [["400", " leading"], '400," leading"'],
    [["400", "trailing "], '400,"trailing "'],
    [["400", "\ttab"], '400,"\ttab"'],
    [["400", '"'], '400,"\\""'],
    [["400", ""], "400,"],
    [[undefined, "x", undefined], ",x,"],
    [[""], ""],
    [["400", "ünïcödé €", "😀"], "400,ünïcödé €,😀"],
  ];
  deepEqual(table.map(([fields]) => [fields, encodeLine(fields)]), table);
});

Deno.test("a backslash is escaped only where it would be misread", () => {
  const table: [field: string, encoded: string][] = [
    ["C:\\temp", "C:\\temp"], // unquoted: always literal
    ["C:\\temp, D:\\", '"C:\\temp, D:\\\\"'], // at the end of a quoted field
    ['a\\"b', '"a\\\\\\"b"'], // before a quote
    ["a\\\\b,", '"a\\\\\\b,"'], // before another backslash
    ["echo \\n,", '"echo \\n,"'], // before anything else
  ];
  deepEqual(table.map(([field]) => [field, encodeLine([field])]), table);
  for (const [field, encoded] of table) deepEqual(decodeLine(encoded), [field]);
});

Deno.test("numbers are written as plain decimals", () => {
  equal(
    encodeLine([200, 25, -3, 0.1, -0, 0.0000015, 1e20, 123456789012, 2 ** 53]),
    "200,25,-3,0.1,0,0.0000015,100000000000000000000,123456789012,9007199254740992",
  );
  throws(() => encodeLine([200, Number.NaN]), /field 2 must be a finite number, got NaN/);
  throws(() => encodeLine([200, Infinity]), RangeError);
  throws(() => encodeLine(["200", null as unknown as string]), /field 2 must be a string/);
});

Deno.test("decodeLine reads Cumulocity's examples and tolerates CRLF and blanks around fields", () => {
  const table: [line: string, fields: string[]][] = [
    ["100,myDevice,myType", ["100", "myDevice", "myType"]],
    ['100,"This value, needs escaping",This value does not need escaping', [
      "100",
      "This value, needs escaping",
      "This value does not need escaping",
    ]],
    ['511,myDeviceSerial,"execute this\nand this\nand \\"this\\""', [
      "511",
      "myDeviceSerial",
      'execute this\nand this\nand "this"',
    ]],
    ['513,DeviceSerial,"val1=1\\nval2=2"', ["513", "DeviceSerial", "val1=1\\nval2=2"]],
    ["510,dev-1\r\n", ["510", "dev-1"]],
    ["510,dev-1\n", ["510", "dev-1"]],
    ["510,dev-1\r", ["510", "dev-1"]],
    ["100,,myType", ["100", "", "myType"]],
    [",,", ["", "", ""]],
    ["", [""]],
    [" 530 , dev ,\t127.0.0.1\t,22 , k ", ["530", "dev", "127.0.0.1", "22", "k"]],
    ['400, "quoted" ,x', ["400", "quoted", "x"]],
    ['400," kept "', ["400", " kept "]],
    ['400,""', ["400", ""]],
    ['400,ab"c,d', ["400", 'ab"c', "d"]],
    ["400,a\rb", ["400", "a\rb"]],
  ];
  deepEqual(table.map(([line]) => [line, decodeLine(line)]), table);
});

Deno.test("a malformed line is a SmartRestError naming its line and column", () => {
  throwsAt(
    () => decodeLine('530,dev,"unterminated'),
    { line: 1, column: 9 },
    /line 1 .*column 9: the quoted field opened here is never closed/,
  );
  throwsAt(
    () => decodeLine('511,"abc"x,y'),
    { line: 1, column: 10 },
    /unexpected "x" after a closing quote/,
  );
  throwsAt(
    () => decodeMessage('510,a\n511,"x" y'),
    { line: 2, column: 9 },
    /line 2 \(starting "511,\\"x\\" y"\) at column 9/,
  );
  throwsAt(() => decodeMessage('511,"a\nb"c'), { line: 2, column: 3 }, /unexpected "c"/);
  throwsAt(
    () => decodeMessage('510,a\n\n511,"open\nstill open'),
    { line: 3, column: 5 },
    /never closed/,
  );
  throwsAt(() => decodeLine("510,a\n511,b"), { line: 2, column: 1 }, /use decodeMessage/);
});

Deno.test("error messages quote only the start of a line, not its trailing secrets", () => {
  throws(() => decodeLine('530,dev-1,10.0.0.1,22,"super-secret-connection-key'), (error: Error) => {
    ok(!error.message.includes("super-secret"), error.message);
    return error instanceof SmartRestError;
  });
});

Deno.test("decodeMessage reads several lines per publish and skips empty ones", () => {
  const payload = '510,dev-1\r\n\n511,dev-1,"ls -l\n/tmp"\n\n530,dev-1,127.0.0.1,22,key\n';
  const expected = [
    ["510", "dev-1"],
    ["511", "dev-1", "ls -l\n/tmp"],
    ["530", "dev-1", "127.0.0.1", "22", "key"],
  ];
  deepEqual(decodeMessage(payload), expected);
  deepEqual(decodeMessage(bytes(payload)), expected);
  deepEqual(decodeMessage(""), []);
  deepEqual(decodeMessage("\n\r\n  \n"), []);
  deepEqual(decodeMessage(bytes("\uFEFF510,dev-1")), [["510", "dev-1"]]);
});

Deno.test("bytes that are not UTF-8 are a SmartRestError", () => {
  throws(() => decodeMessage(new Uint8Array([0x35, 0x31, 0x30, 0xff])), (error: Error) => {
    ok(error instanceof SmartRestError);
    return /not valid UTF-8/.test(error.message);
  });
});

Deno.test("packLines fills each payload up to the limit exactly, counting UTF-8 bytes", () => {
  // 4 + 1 + 5 = 10 bytes: fits a limit of 10, not 9.
  deepEqual(packLines(["a,bc", "d,efg"], 10), ["a,bc\nd,efg"]);
  deepEqual(packLines(["a,bc", "d,efg"], 9), ["a,bc", "d,efg"]);
  // "€" is 3 bytes, "é" 2, "😀" 4.
  deepEqual(packLines(["400,€€", "1,é", "2😀"], 10), ["400,€€", "1,é\n2😀"]);
  deepEqual(packLines([]), []);
  deepEqual(packLines(["125"]), ["125"]);
});

Deno.test("the default limit is Cumulocity's 16184 bytes", () => {
  equal(SMARTREST_PAYLOAD_LIMIT, 16184);
  const full = `400,${"x".repeat(16184 - 4)}`;
  deepEqual(packLines([full, "125"]), [full, "125"]);
  const half = `400,${"€".repeat(2695)}`;
  equal(utf8Length(half), 8089);
  // 8089 + 1 + 8089 + 1 + 4 = 16184: the first payload ends exactly at the limit.
  deepEqual(packLines([half, half, "1234", "1"]), [`${half}\n${half}\n1234`, "1"]);
});

Deno.test("a single line over the limit is a SmartRestError naming its template and size", () => {
  throws(() => packLines(["125", `201,${"é".repeat(8091)}`]), (error: Error) => {
    ok(error instanceof SmartRestError);
    equal(
      error.message,
      'SmartREST line of template "201" is 16186 bytes, more than the payload limit of 16184 bytes',
    );
    return true;
  });
  throws(() => packLines(["a"], 0), RangeError);
});

// Text rich in the characters the codec treats specially.
const tricky = fc.string({
  unit: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(",", '"', "\\", "\n", "\r", " ", "\t", "\u00a0") },
    { weight: 1, arbitrary: fc.constantFrom("a", "5", "é", "€", "😀", "\uFEFF") },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  ),
  maxLength: 12,
});

Deno.test("decodeLine(encodeLine(fields)) gives back any fields", () => {
  fc.assert(
    fc.property(fc.array(tricky, { minLength: 1, maxLength: 8 }), (fields) => {
      deepEqual(decodeLine(encodeLine(fields)), fields);
    }),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
    deepEqual(decodeLine(encodeLine([200, n])), ["200", String(n)]);
  }));
});

Deno.test("decodeMessage throws nothing but SmartRestError on any input", () => {
  const onlySmartRestErrors = (input: string | Uint8Array) => {
    try {
      decodeMessage(input);
    } catch (error) {
      if (!(error instanceof SmartRestError)) throw error;
    }
  };
  fc.assert(fc.property(tricky, onlySmartRestErrors), { numRuns: 2000 });
  fc.assert(fc.property(fc.string({ unit: "binary" }), onlySmartRestErrors));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), onlySmartRestErrors));
});

Deno.test("packed payloads each fit the limit and give back the lines in order", () => {
  const lines = fc.array(fc.string({ unit: "binary", maxLength: 40 }), { maxLength: 30 });
  fc.assert(
    fc.property(lines, fc.nat(60), (lines, slack) => {
      const limit = Math.max(1, ...lines.map(utf8Length)) + slack;
      const payloads = packLines(lines, limit);
      for (const payload of payloads) ok(bytes(payload).length <= limit);
      equal(payloads.join("\n"), lines.join("\n"));
      equal(payloads.length === 0, lines.length === 0);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("encoded lines survive packing and decoding as the same records", () => {
  const records = fc.array(
    fc.array(tricky, { minLength: 1, maxLength: 5 }).map((fields) => ["400", ...fields]),
    { maxLength: 12 },
  );
  fc.assert(
    fc.property(records, (records) => {
      const payloads = packLines(records.map(encodeLine), 400);
      deepEqual(payloads.flatMap((payload) => decodeMessage(bytes(payload))), records);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("utf8Length agrees with TextEncoder, lone surrogates included", () => {
  fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => {
    equal(utf8Length(text), bytes(text).length);
  }));
  equal(utf8Length("\ud800x\udc00"), 7);
});
