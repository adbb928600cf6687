import { deepEqual, equal, match, ok } from "node:assert/strict";
import fc from "fast-check";
import { getLogger as getLogTapeLogger } from "@logtape/logtape";
import {
  configureLogging,
  getLogger,
  type LogFormat,
  type LogLevel,
  redact,
  redactText,
  resetLogging,
} from "../../actors/runtime/logging.ts";

// Configures logging into an array, runs `body`, and always resets LogTape so
// no test leaves a global configuration behind.
async function withCapturedLogs(
  options: { level?: LogLevel; format?: LogFormat },
  body: (lines: string[]) => void | Promise<void>,
): Promise<void> {
  const lines: string[] = [];
  await configureLogging({ ...options, write: (line) => lines.push(line) });
  try {
    await body(lines);
  } finally {
    await resetLogging();
  }
}

function stringsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [k, ...stringsIn(v)]);
  }
  return [];
}

Deno.test("text format writes one human line: ISO time, padded level, dotted category, rendered message", async () => {
  await withCapturedLogs({}, (lines) => {
    getLogger("runtime").info("started {name} with {count} children", { name: "agent", count: 3 });
    getLogger("runtime", "tunnel").error("tunnel {id} failed", { id: "t-1" });
    equal(lines.length, 2);
    match(
      lines[0],
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}outpost\.runtime: started agent with 3 children$/,
    );
    match(lines[1], /Z ERROR outpost\.runtime\.tunnel: tunnel t-1 failed$/);
  });
});

Deno.test("text format escapes newlines so a message cannot split or forge a record", async () => {
  await withCapturedLogs({}, (lines) => {
    getLogger("runtime").warn("payload {body}", {
      body: "a\r\n2026-01-01T00:00:00.000Z FATAL forged",
    });
    equal(lines.length, 1);
    ok(!/[\r\n]/.test(lines[0]));
    match(
      lines[0],
      /WARNING outpost\.runtime: payload a\\r\\n2026-01-01T00:00:00\.000Z FATAL forged$/,
    );
  });
});

Deno.test("json format writes one JSON object per line with ts, level, category, message and properties", async () => {
  await withCapturedLogs({ format: "json" }, (lines) => {
    getLogger("shadow").warn("desired {version} rejected", { version: 7, reason: { code: "E1" } });
    equal(lines.length, 1);
    ok(!lines[0].includes("\n"));
    const record = JSON.parse(lines[0]);
    equal(new Date(record.ts).toISOString(), record.ts);
    deepEqual({ ...record, ts: undefined }, {
      ts: undefined,
      level: "warning",
      category: "outpost.shadow",
      message: "desired 7 rejected",
      properties: { version: 7, reason: { code: "E1" } },
    });
  });
});

Deno.test("records below the configured level are dropped, the rest are kept", async () => {
  await withCapturedLogs({}, (lines) => {
    const log = getLogger("levels");
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    deepEqual(lines.map((l) => l.split(": ")[1]), ["i", "w"]);
  });
  await withCapturedLogs({ level: "debug" }, (lines) => {
    getLogger("levels").trace("t");
    getLogger("levels").debug("d");
    deepEqual(lines.map((l) => l.split(": ")[1]), ["d"]);
  });
  await withCapturedLogs({ level: "error" }, (lines) => {
    getLogger("levels").warn("w");
    getLogger("levels").error("e");
    getLogger("levels").fatal("f");
    deepEqual(lines.map((l) => l.split(": ")[1]), ["e", "f"]);
  });
});

Deno.test("only categories under outpost reach the sink, and calling configureLogging again replaces the sink", async () => {
  const first: string[] = [];
  await configureLogging({ write: (line) => first.push(line) });
  try {
    await withCapturedLogs({ format: "json" }, (second) => {
      getLogTapeLogger(["some-library"]).error("not ours");
      getLogger("again").info("hello");
      getLogTapeLogger(["logtape", "meta"]).info("LogTape's own chatter");
      getLogTapeLogger(["logtape", "meta"]).warn("LogTape's own warning");
      equal(first.length, 0);
      deepEqual(second.map((line) => JSON.parse(line)).map((r) => [r.category, r.message]), [
        ["outpost.again", "hello"],
        ["logtape.meta", "LogTape's own warning"],
      ]);
    });
  } finally {
    await resetLogging();
  }
});

Deno.test("configureLogging names the bad level or format it was given", async () => {
  const cases: [object, string][] = [[{ level: "verbose" }, '"verbose"'], [
    { format: "xml" },
    '"xml"',
  ]];
  for (const [options, bad] of cases) {
    try {
      await configureLogging(options as never);
      ok(false, "expected a TypeError");
    } catch (error) {
      ok(error instanceof TypeError);
      ok(error.message.includes(bad), error.message);
      match(
        error.message,
        /levels: trace, debug, info, warning, error, fatal; formats: text, json/,
      );
    } finally {
      await resetLogging();
    }
  }
});

Deno.test("secret property names are recognised, and lookalike names are not", () => {
  const secret = [
    "password",
    "Password",
    "mqttPassword",
    "passwd",
    "secret",
    "clientSecret",
    "token",
    "accessToken",
    "apikey",
    "apiKey",
    "api_key",
    "x-api-key",
    "authorization",
    "Authorization",
    "privateKey",
    "private_key",
    "deviceKey",
    "groupKey",
    "sharedAccessKey",
    "claimKey",
    "sas",
    "signature",
    "sig",
    "credential",
    "credentials",
    "cookie",
    "Set-Cookie",
  ];
  const plain = [
    "key",
    "keys",
    "Key",
    "keyFile",
    "keyPath",
    "keepalive",
    "host",
    "port",
    "tokenUrl",
    "username",
    "sigma",
  ];
  const redacted = redact(Object.fromEntries([...secret, ...plain].map((k) => [k, `v-${k}`])));
  deepEqual(
    redacted,
    Object.fromEntries([
      ...secret.map((k) => [k, "[REDACTED]"]),
      ...plain.map((k) => [k, `v-${k}`]),
    ]),
  );
});

Deno.test("a bare key property names a setting and stays visible: a refused shadow key is readable", async () => {
  await withCapturedLogs({}, (lines) => {
    getLogger("aws").error(
      "Cloud {cloud}: shadow {shadow} refused desired {key}: {error}; reporting the current value",
      { cloud: "aws", shadow: "classic", key: "interval", error: "interval must be >= 1" },
    );
    match(lines[0], /shadow classic refused desired interval: interval must be >= 1;/);
  });
  deepEqual(redact({ key: "interval", keys: "fan, interval" }), {
    key: "interval",
    keys: "fan, interval",
  });
});

Deno.test("secret-looking values are hidden under any name, also where the message prints them", async () => {
  const azureKey = "c2VjcmV0LWtleS1vZi1hLWRldmljZS0xMjM0NTY3ODk=";
  const awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZXYtMSJ9.c2lnbmF0dXJlLXBhcnQ";
  deepEqual(redact({ key: azureKey, value: awsSecret, nested: [{ data: jwt }] }), {
    key: "[REDACTED]",
    value: "[REDACTED]",
    nested: [{ data: "[REDACTED]" }],
  });
  equal(redactText(`token was ${jwt} here`), "token was [REDACTED] here");
  await withCapturedLogs({ format: "json" }, (lines) => {
    getLogger("azure").info("using {key} for {device}", { key: azureKey, device: "d1" });
    const record = JSON.parse(lines[0]);
    equal(record.message, "using [REDACTED] for d1");
    ok(!lines[0].includes(azureKey));
  });
});

Deno.test("ordinary values that are not secrets stay visible", () => {
  const plain = {
    uuid: "ed7335bc-9cf8-49b0-8673-60497f1e54a6",
    certificateId: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
    path: "/var/lib/outpost/aws-aws/deviceCert.cert",
    thing: "thing-dev-1",
    topic: "$aws/things/thing-dev-1/shadow/update/delta",
    at: "2026-01-02T03:04:05.678+00:00",
    word: "SupercalifragilisticExpialidocious2",
    short: "QUJDREVGR0g=",
  };
  deepEqual(redact(plain), plain);
});

Deno.test("redact hides secrets at any depth in objects and arrays and leaves its input alone", () => {
  const input = {
    broker: { url: "mqtts://hub:8883", auth: { username: "dev", password: "hunter2" } },
    devices: [{ id: "a", deviceKey: "k1" }, [{ token: "t2" }]],
    credentials: { user: "u", pass: "p" },
    keyFile: "/etc/outpost/device.key",
  };
  deepEqual(redact(input), {
    broker: { url: "mqtts://hub:8883", auth: { username: "dev", password: "[REDACTED]" } },
    devices: [{ id: "a", deviceKey: "[REDACTED]" }, [{ token: "[REDACTED]" }]],
    credentials: "[REDACTED]",
    keyFile: "/etc/outpost/device.key",
  });
  equal(input.broker.auth.password, "hunter2");
});

Deno.test("redact survives cycles, keeps shared references, and stops at a depth limit", () => {
  const node: Record<string, unknown> = { name: "root", secret: "s" };
  node.self = node;
  const list: unknown[] = ["x"];
  list.push(list);
  const shared = { a: 1 };
  deepEqual(redact({ node, list, left: shared, right: shared }), {
    node: { name: "root", secret: "[REDACTED]", self: "[Circular]" },
    list: ["x", "[Circular]"],
    left: { a: 1 },
    right: { a: 1 },
  });
  let deep: unknown = "bottom";
  for (let i = 0; i < 50; i++) deep = { next: deep };
  ok(JSON.stringify(redact(deep)).includes("[Truncated]"));
  ok(!JSON.stringify(redact(deep)).includes("bottom"));
});

Deno.test("redactText hides each kind of secret in free text", () => {
  const cases: [string, string][] = [
    ["Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln-_x==", "Authorization: Bearer [REDACTED]"],
    [`Authorization: Basic ${btoa("dev:hunter2")} sent`, "Authorization: Basic [REDACTED] sent"],
    ["Basic auth is enabled", "Basic auth is enabled"],
    ["Bearer Bearer eyJhbGciOi.x", "Bearer Bearer [REDACTED]"],
    [`Basic Basic ${btoa("dev:pw")}`, "Basic Basic [REDACTED]"],
    [
      "SharedAccessSignature sr=hub.azure-devices.net%2Fdevices%2Fd1&sig=abc%2Bdef%3D&se=1700000000 ok",
      "SharedAccessSignature [REDACTED] ok",
    ],
    [
      "GET https://acct.blob.core.windows.net/c/f?sv=2021&sig=Zm9vYmFy%3D&se=2026 done",
      "GET https://acct.blob.core.windows.net/c/f?sv=2021&sig=[REDACTED]&se=2026 done",
    ],
    [
      "HostName=hub.azure-devices.net;DeviceId=d1;SharedAccessKey=c2VjcmV0a2V5",
      "HostName=hub.azure-devices.net;DeviceId=d1;SharedAccessKey=[REDACTED]",
    ],
    [
      "GET https://maps.example/api?key=AIzaSyD-x&q=pump",
      "GET https://maps.example/api?key=[REDACTED]&q=pump",
    ],
    ["session eyJhbGciOi.eyJzdWIi.c2ln-_x expired", "session [REDACTED] expired"],
    ["dial mqtts://dev:hunter2@broker:8883/x", "dial mqtts://dev:[REDACTED]@broker:8883/x"],
    ["dial mqtts://dev:p@ss@broker:8883", "dial mqtts://dev:[REDACTED]@broker:8883"],
    [
      "dial mqtts://broker:8883 and https://example.com/a:b",
      "dial mqtts://broker:8883 and https://example.com/a:b",
    ],
    [
      "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA PRIVATE KEY-----\nend",
      "key:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\nend",
    ],
    [
      "-----BEGIN PRIVATE KEY-----\nMIIEvQ (cut off)",
      "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----",
    ],
    [
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    ],
    ["retries=3 timeout=10", "retries=3 timeout=10"],
    // Found by the property below: one rule's rewrite completing another's match.
    ["mqtts://:&sig=mqtts://;@", "mqtts://:[REDACTED]@"],
    ["sig=Basic Basic dXNlcjpwYXNz", "sig=[REDACTED] Basic [REDACTED]"],
  ];
  for (const [input, expected] of cases) {
    equal(redactText(input), expected, `for ${JSON.stringify(input)}`);
  }
});

Deno.test("strings inside properties are redacted by pattern too", () => {
  deepEqual(redact({ header: "Bearer abc.def", urls: ["amqps://u:pw@host"] }), {
    header: "Bearer [REDACTED]",
    urls: ["amqps://u:[REDACTED]@host"],
  });
});

Deno.test("values JSON would mangle or leak through are rendered safely", () => {
  const error = Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
  const input = {
    error,
    url: new URL("mqtts://dev:pw@broker:8883/x"),
    map: new Map([["deviceKey", "k"], ["id", "d1"]]),
    set: new Set(["a"]),
    big: 10n,
    at: new Date(0),
    bytes: new Uint8Array(4),
  };
  deepEqual(redact(input), {
    error: { name: "Error", message: "refused", code: "ECONNREFUSED" },
    url: "mqtts://dev:[REDACTED]@broker:8883/x",
    map: { deviceKey: "[REDACTED]", id: "d1" },
    set: ["a"],
    big: 10n,
    at: "1970-01-01T00:00:00.000Z",
    bytes: "[Uint8Array 4 bytes]",
  });
});

Deno.test("bigint properties do not break the JSON format", async () => {
  await withCapturedLogs({ format: "json" }, (lines) => {
    getLogger("counters").info("sent {bytes}", { bytes: 2n ** 64n });
    const record = JSON.parse(lines[0]);
    equal(record.message, "sent 18446744073709551616");
    equal(record.properties.bytes, "18446744073709551616");
  });
});

Deno.test("errors render with name and redacted message in text and in JSON properties", async () => {
  const error = new TypeError("connect mqtts://dev:hunter2@broker failed", {
    cause: new Error("Bearer abc123"),
  });
  await withCapturedLogs({}, (lines) => {
    getLogger("mqtt").error("dial failed: {error}", { error });
    match(
      lines[0],
      /outpost\.mqtt: dial failed: TypeError: connect mqtts:\/\/dev:\[REDACTED\]@broker failed$/,
    );
  });
  await withCapturedLogs({ format: "json" }, (lines) => {
    getLogger("mqtt").error("dial failed", { error });
    deepEqual(JSON.parse(lines[0]).properties.error, {
      name: "TypeError",
      message: "connect mqtts://dev:[REDACTED]@broker failed",
      cause: { name: "Error", message: "Bearer [REDACTED]" },
    });
  });
});

Deno.test("a secret interpolated into the message is hidden there as well as in the properties", async () => {
  await withCapturedLogs({ format: "json" }, (lines) => {
    getLogger("provision").info("using {deviceKey} and {device.sas} for {id}", {
      deviceKey: "c2VjcmV0",
      device: { sas: "SAS-VALUE" },
      id: "d1",
    });
    getLogger("provision").info({ user: "dev", password: "hunter2" });
    const [first, second] = lines.map((line) => JSON.parse(line));
    equal(first.message, "using [REDACTED] and [REDACTED] for d1");
    deepEqual(first.properties, {
      deviceKey: "[REDACTED]",
      device: { sas: "[REDACTED]" },
      id: "d1",
    });
    equal(second.message, '{"user":"dev","password":"[REDACTED]"}');
    ok(!lines.join("\n").includes("c2VjcmV0") && !lines.join("\n").includes("hunter2"));
  });
});

// Fragments that trigger the text rules, so random strings exercise the rules'
// boundaries and their interplay rather than only plain noise.
const fragment = fc.oneof(
  { arbitrary: fc.string(), weight: 1 },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "Bearer ",
      "Basic ",
      "Bearer Bearer ",
      "dXNlcjpwYXNz",
      "SharedAccessSignature ",
      "sr=",
      "&sig=",
      "sig=",
      "se=",
      "password=",
      "SharedAccessKey=",
      "key=",
      "eyJhb.",
      "eyJzd.",
      "mqtts://",
      "user",
      ":",
      "@",
      "/",
      "=",
      "&",
      ";",
      " ",
      "\n",
      "-----BEGIN RSA PRIVATE KEY-----",
      "-----END RSA PRIVATE KEY-----",
      "[REDACTED]",
    ),
  },
);

Deno.test("redactText never throws and applying it twice equals applying it once", () => {
  fc.assert(
    fc.property(fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join("")), (text) => {
      const once = redactText(text);
      equal(redactText(once), once);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("a random secret under a password key never appears in a text or JSON line", async () => {
  const secretArb = fc.string({ minLength: 4 });
  for (const format of ["text", "json"] as const) {
    await withCapturedLogs({ format }, (lines) => {
      const log = getLogger("property");
      // Everything but the timestamp, which changes from line to line.
      const visible = (line: string) =>
        format === "text" ? [line.slice(25)] : stringsIn({ ...JSON.parse(line), ts: "" });
      fc.assert(fc.property(secretArb, (secret) => {
        lines.length = 0;
        log.info("login {user} with {password}", {
          user: "dev",
          password: "x",
          nested: [{ password: "x" }],
        });
        fc.pre(![...visible(lines[0]), "[REDACTED]"].some((s) => s.includes(secret)));
        lines.length = 0;
        log.info("login {user} with {password}", {
          user: "dev",
          password: secret,
          nested: [{ password: secret }],
        });
        equal(lines.length, 1);
        ok(
          !visible(lines[0]).some((s) => s.includes(secret)),
          `leaked ${JSON.stringify(secret)}: ${lines[0]}`,
        );
      }));
    });
  }
});
