/**
 * Cumulocity's static templates as PROTOCOLS.md §1 lays them out: the exact
 * line every encoder writes, the operations parsed from `s/ds`, malformed
 * `530` lines answered with the right fragment, and how telemetry, events
 * and alarms map to measurements.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  eventRecordToLine,
  eventToLine,
  numericSeries,
  telemetryToLines,
} from "../../protocols/c8y_telemetry.ts";
import {
  alarm,
  C8Y_TOPICS,
  C8yMessageError,
  childDevice,
  clearAlarm,
  createDevice,
  event,
  fragmentOf,
  FRAGMENTS,
  hardware,
  heartbeat,
  measurement,
  measurements,
  OPERATION_TEMPLATES,
  operationExecuting,
  operationExecutingById,
  operationFailed,
  operationFailedById,
  operationSuccessful,
  operationSuccessfulById,
  parseBootstrapCredentials,
  parseDownstream,
  parseServerError,
  parseToken,
  pendingOperations,
  remoteAccessProtocols,
  requiredInterval,
  supportedOperations,
} from "../../protocols/c8y_messages.ts";
import {
  decodeLine,
  decodeMessage,
  encodeLine,
  SmartRestError,
  utf8Length,
} from "../../protocols/smartrest.ts";

const ts = new Date("2025-03-04T05:06:07.089Z");
const iso = "2025-03-04T05:06:07.089Z";

/** Asserts a C8yMessageError for `fragment` whose message matches `message`. */
function throwsMessageError(fn: () => unknown, fragment: string | undefined, message: RegExp) {
  throws(fn, (error: unknown) => {
    ok(error instanceof C8yMessageError, `expected a C8yMessageError, got ${error}`);
    equal(error.fragment, fragment, error.message);
    ok(message.test(error.message), `${JSON.stringify(error.message)} should match ${message}`);
    return true;
  });
}

Deno.test("the topics and fragments are Cumulocity's", () => {
  deepEqual(
    {
      ...C8Y_TOPICS,
      childUp: C8Y_TOPICS.childUp("child-7"),
      legacy: C8Y_TOPICS.legacy("remoteConnect"),
    },
    {
      up: "s/us",
      childUp: "s/us/child-7",
      down: "s/ds",
      errors: "s/e",
      transientUp: "t/us",
      bootstrapUp: "s/ucr",
      bootstrapDown: "s/dcr",
      tokenRequest: "s/uat",
      tokenResponse: "s/dat",
      operations: "devicecontrol/notifications",
      jsonErrors: "error",
      createEvent: "event/events/create",
      createTransientEvent: "t/event/events/create",
      legacy: "s/dc/remoteConnect",
    },
  );
  deepEqual(FRAGMENTS, {
    restart: "c8y_Restart",
    shell: "c8y_Command",
    configuration: "c8y_Configuration",
    logfile: "c8y_LogfileRequest",
    remoteAccess: "c8y_RemoteAccessConnect",
  });
  deepEqual(["510", "511", "522", "530", "da600", "999"].map(fragmentOf), [
    "c8y_Restart",
    "c8y_Command",
    "c8y_LogfileRequest",
    "c8y_RemoteAccessConnect",
    "c8y_RemoteAccessConnect",
    undefined,
  ]);
});

Deno.test("every static operation template of s/ds has the fragment its operation reports under", () => {
  // Cumulocity's MQTT static templates document (subscribe templates 510..530),
  // fragments as Cumulocity's device agents answer them.
  deepEqual(OPERATION_TEMPLATES, {
    "510": "c8y_Restart",
    "511": "c8y_Command",
    "513": "c8y_Configuration",
    "515": "c8y_Firmware",
    "516": "c8y_SoftwareList",
    "517": "c8y_MeasurementRequestOperation",
    "518": "c8y_Relay",
    "519": "c8y_RelayArray",
    "520": "c8y_UploadConfigFile",
    "521": "c8y_DownloadConfigFile",
    "522": "c8y_LogfileRequest",
    "523": "c8y_CommunicationMode",
    "524": "c8y_DownloadConfigFile",
    "525": "c8y_Firmware",
    "526": "c8y_UploadConfigFile",
    "527": "c8y_DeviceProfile",
    "528": "c8y_SoftwareUpdate",
    "529": "c8y_SoftwareUpdate",
    "530": "c8y_RemoteAccessConnect",
    "da600": "c8y_RemoteAccessConnect",
  });
  ok(Object.isFrozen(OPERATION_TEMPLATES));
  // Replies and ids that only look like keys of an object are no operations.
  for (const id of ["106", "124", "500", "512", "531", "0510", "__proto__", "constructor", ""]) {
    equal(fragmentOf(id), undefined, id);
  }
});

Deno.test("a 513 carries its configuration text, empty when the platform sent none", () => {
  const parse = (line: string) => parseDownstream(decodeLine(line));
  deepEqual(parse(String.raw`513,DeviceSerial,"{\"a\": 1, \"b\": 2}"`), {
    kind: "configuration",
    serial: "DeviceSerial",
    text: '{"a": 1, "b": 2}',
  });
  deepEqual(parse("513,dev-1"), { kind: "configuration", serial: "dev-1", text: "" });
  throwsMessageError(() => parseDownstream(["513"]), "c8y_Configuration", /serial is missing/);
});

Deno.test("an operation of a template Outpost does not run is parsed as other, with its fragment", () => {
  const parse = (line: string) => parseDownstream(decodeLine(line));
  deepEqual(parse("528,dev-1,softwareA,1.0,url1,install,softwareB,2.0,url2,install"), {
    kind: "other",
    serial: "dev-1",
    templateId: "528",
    fragment: "c8y_SoftwareUpdate",
  });
  deepEqual(parse("520,dev-1"), {
    kind: "other",
    serial: "dev-1",
    templateId: "520",
    fragment: "c8y_UploadConfigFile",
  });
  // Without a serial it cannot be for anyone, but it is still answered under its fragment.
  throwsMessageError(
    () => parseDownstream(["515"]),
    "c8y_Firmware",
    /the serial is missing \(expected 515,<serial>,…\)/,
  );
  throwsMessageError(() => parseDownstream(["527", " "]), "c8y_DeviceProfile", /serial is empty/);
  deepEqual(parse("106,child-1,child-2"), {
    kind: "unknown",
    templateId: "106",
    fields: ["106", "child-1", "child-2"],
  });
  deepEqual(parse("constructor,dev-1"), {
    kind: "unknown",
    templateId: "constructor",
    fields: ["constructor", "dev-1"],
  });
});

Deno.test("every upstream encoder writes the line of its template", () => {
  const table: [got: string, expected: string][] = [
    [createDevice("Outpost pump-7"), "100,Outpost pump-7,c8y_MQTTDevice"],
    [createDevice("pump, 7", "outpost"), '100,"pump, 7",outpost'],
    [childDevice("pump-7-valve", "Valve", "valve"), "101,pump-7-valve,Valve,valve"],
    [childDevice("v", "Valve"), "101,v,Valve,c8y_MQTTChildDevice"],
    [hardware("SN-1", "Outpost", "1.2.3"), "110,SN-1,Outpost,1.2.3"],
    [
      supportedOperations(["c8y_Restart", "c8y_RemoteAccessConnect"]),
      "114,c8y_Restart,c8y_RemoteAccessConnect",
    ],
    [supportedOperations([]), "114"],
    [requiredInterval(60), "117,60"],
    [heartbeat(), "125"],
    [remoteAccessProtocols(), "150,SSH,VNC,TELNET,PASSTHROUGH"],
    [remoteAccessProtocols(["SSH"]), "150,SSH"],
    [measurement("c8y_Temperature", "T", 25), "200,c8y_Temperature,T,25"],
    [measurement("c8y_Temperature", "T", 25.5, "C"), "200,c8y_Temperature,T,25.5,C"],
    [measurement("c8y_Temperature", "T", -4, undefined, ts), `200,c8y_Temperature,T,-4,,${iso}`],
    [measurement("c8y_Temperature", "T", 0, "C", ts), `200,c8y_Temperature,T,0,C,${iso}`],
    [
      measurements("KamstrupA220Reading", ts, [
        { fragment: "c8y_SinglePhaseEnergyMeasurement", series: "A+:1", value: 1234, unit: "kWh" },
        { fragment: "c8y_SinglePhaseEnergyMeasurement", series: "A-:1", value: 2345, unit: "kWh" },
      ]),
      `201,KamstrupA220Reading,${iso},c8y_SinglePhaseEnergyMeasurement,A+:1,1234,kWh,c8y_SinglePhaseEnergyMeasurement,A-:1,2345,kWh`,
    ],
    [
      measurements("t", undefined, [
        { fragment: "f", series: "a", value: 1 },
        { fragment: "f", series: "b", value: 2 },
      ]),
      "201,t,,f,a,1,,f,b,2",
    ],
    [alarm("critical", "c8y_TemperatureAlarm"), "301,c8y_TemperatureAlarm"],
    [
      alarm("major", "c8y_TemperatureAlarm", "This is an alarm"),
      "302,c8y_TemperatureAlarm,This is an alarm",
    ],
    [alarm("minor", "t", "hot, very"), '303,t,"hot, very"'],
    [alarm("warning", "c8y_TemperatureAlarm", undefined, ts), `304,c8y_TemperatureAlarm,,${iso}`],
    [clearAlarm("c8y_TemperatureAlarm"), "306,c8y_TemperatureAlarm"],
    [event("c8y_MyEvent", "Something was triggered"), "400,c8y_MyEvent,Something was triggered"],
    [event("door", "opened", ts), `400,door,opened,${iso}`],
    [event("door", ""), "400,door,door"],
    [pendingOperations(), "500"],
    [operationExecuting("c8y_Restart"), "501,c8y_Restart"],
    [operationFailed("c8y_Restart"), "502,c8y_Restart"],
    [operationFailed("c8y_Restart", "Could not restart"), "502,c8y_Restart,Could not restart"],
    [
      operationFailed("c8y_RemoteAccessConnect", 'connect ECONNREFUSED 127.0.0.1:22, "sshd" down'),
      '502,c8y_RemoteAccessConnect,"connect ECONNREFUSED 127.0.0.1:22, \\"sshd\\" down"',
    ],
    [operationSuccessful("c8y_Restart"), "503,c8y_Restart"],
    [operationSuccessful("c8y_Command", "total 0\n"), '503,c8y_Command,"total 0\n"'],
    [operationSuccessful("c8y_X", "a", "b"), "503,c8y_X,a,b"],
    [operationExecutingById("123"), "504,123"],
    [operationFailedById("123", "Could not restart"), "505,123,Could not restart"],
    [operationSuccessfulById("123", "p"), "506,123,p"],
  ];
  for (const [got, expected] of table) equal(got, expected);
});

Deno.test("encoders refuse values that are bugs in the agent", () => {
  throws(() => operationExecuting(""), /fragment must be a non-empty string, got ""/);
  throws(
    () => alarm("fatal" as "critical", "t"),
    /severity must be critical, major, minor or warning, got "fatal"/,
  );
  throws(() => requiredInterval(1.5), /whole number of minutes, got 1.5/);
  throws(() => measurement("f", "s", Number.NaN), /must be a finite number/);
  throws(() => measurements("t", ts, []), /needs at least one series/);
  throws(() => event("door", "x", new Date(Number.NaN)), /must be a valid Date/);
  throws(() => clearAlarm(""), TypeError);
});

Deno.test("downstream operations are parsed from their lines", () => {
  const parse = (line: string) => parseDownstream(decodeLine(line));
  deepEqual(parse("510,DeviceSerial"), { kind: "restart", serial: "DeviceSerial" });
  deepEqual(parse('511,DeviceSerial,"ls -l\n/tmp, \\"x\\""'), {
    kind: "shell",
    serial: "DeviceSerial",
    command: 'ls -l\n/tmp, "x"',
  });
  deepEqual(
    parse(
      "522,DeviceSerial,logfileA,2013-06-22T17:03:14.000+02:00,2013-06-22T18:03:14.000+02:00,ERROR,1000",
    ),
    {
      kind: "logfile",
      serial: "DeviceSerial",
      log: "logfileA",
      from: new Date("2013-06-22T15:03:14.000Z"),
      to: new Date("2013-06-22T16:03:14.000Z"),
      search: "ERROR",
      maxLines: 1000,
    },
  );
  deepEqual(parse("522,d,syslog,2013-06-22T17:03:14Z,2013-06-22T18:03:14Z"), {
    kind: "logfile",
    serial: "d",
    log: "syslog",
    from: new Date("2013-06-22T17:03:14Z"),
    to: new Date("2013-06-22T18:03:14Z"),
    search: "",
    maxLines: undefined,
  });
  const remote = {
    kind: "remoteAccess",
    serial: "DeviceSerial",
    host: "127.0.0.1",
    port: 22,
    connectionKey: "eb5e9d13-1caa-486b-bdda-130ca0d87df8",
  };
  deepEqual(parse("530,DeviceSerial,127.0.0.1,22,eb5e9d13-1caa-486b-bdda-130ca0d87df8"), remote);
  deepEqual(parse("da600,DeviceSerial,127.0.0.1,22,eb5e9d13-1caa-486b-bdda-130ca0d87df8"), remote);
  deepEqual(
    parse("530,DeviceSerial,127.0.0.1,22,eb5e9d13-1caa-486b-bdda-130ca0d87df8,future"),
    remote,
  );
  deepEqual(parse("530,d,localhost,65535,k"), {
    ...remote,
    serial: "d",
    host: "localhost",
    port: 65535,
    connectionKey: "k",
  });
  deepEqual(parse("599,DeviceSerial,val"), {
    kind: "unknown",
    templateId: "599",
    fields: ["599", "DeviceSerial", "val"],
  });
});

Deno.test("one publish of several operations parses line by line", () => {
  const payload = "510,dev-1\n530,dev-1,127.0.0.1,5900,key-1\r\n\n530,dev-1,127.0.0.1,22,key-2\n";
  deepEqual(decodeMessage(payload).map(parseDownstream).map((op) => op.kind), [
    "restart",
    "remoteAccess",
    "remoteAccess",
  ]);
});

Deno.test("a malformed 530 is a C8yMessageError carrying c8y_RemoteAccessConnect", () => {
  const table: [fields: string[], message: RegExp][] = [
    [["530"], /the serial is missing \(expected 530,<serial>,<host>,<port>,<connectionKey>\)/],
    [["530", "dev"], /the host is missing/],
    [["530", "dev", "127.0.0.1"], /the port is missing/],
    [["530", "dev", "127.0.0.1", "22"], /the connection key is missing/],
    [["530", "dev", "127.0.0.1", "ssh", "k"], /port "ssh" is not a number/],
    [["530", "dev", "127.0.0.1", "22a", "k"], /port "22a" is not a number/],
    [["530", "dev", "127.0.0.1", "-1", "k"], /port "-1" is not a number/],
    [["530", "dev", "127.0.0.1", "2.5", "k"], /port "2.5" is not a number/],
    [["530", "dev", "127.0.0.1", "", "k"], /the port is empty/],
    [["530", "dev", "127.0.0.1", "0", "k"], /port 0 is out of range 1..65535/],
    [["530", "dev", "127.0.0.1", "70000", "k"], /port 70000 is out of range 1..65535/],
    [["530", "dev", "127.0.0.1", "22", ""], /the connection key is empty/],
    [["530", "dev", "127.0.0.1", "22", "  "], /the connection key is empty/],
    [["530", "dev", "", "22", "k"], /the host is empty/],
    [["530", "", "127.0.0.1", "22", "k"], /the serial is empty/],
    [["da600", "dev", "127.0.0.1", "x", "k"], /port "x" is not a number/],
  ];
  for (const [fields, message] of table) {
    throwsMessageError(() => parseDownstream(fields), "c8y_RemoteAccessConnect", message);
  }
  throwsMessageError(
    () => parseDownstream(decodeLine("530,dev,127.0.0.1,abc,k")),
    "c8y_RemoteAccessConnect",
    /^Cannot parse SmartREST line "530,dev,127.0.0.1,abc,<redacted>": port "abc" is not a number$/,
  );
});

Deno.test("errors never repeat a connection key, password or token", () => {
  const secret = "s3cr3t-value";
  const cases: (() => unknown)[] = [
    () => parseDownstream(["530", "dev", "127.0.0.1", "0", secret]),
    () => parseDownstream(["da600", "dev", "", "22", secret]),
    () => parseBootstrapCredentials(["70", "", "device_pump-7", secret]),
    () => parseToken(["41", secret]),
  ];
  for (const fn of cases) {
    throws(fn, (error: Error) => {
      ok(error instanceof C8yMessageError, String(error));
      ok(!error.message.includes(secret), error.message);
      return true;
    });
  }
});

Deno.test("other malformed operations carry their own fragment", () => {
  throwsMessageError(() => parseDownstream(["510"]), "c8y_Restart", /the serial is missing/);
  throwsMessageError(
    () => parseDownstream(["511", "dev"]),
    "c8y_Command",
    /the command is missing/,
  );
  throwsMessageError(
    () => parseDownstream(["511", "dev", ""]),
    "c8y_Command",
    /the command is empty/,
  );
  throwsMessageError(
    () => parseDownstream(["522", "dev", "log", "yesterday", "2013-06-22T18:03:14Z"]),
    "c8y_LogfileRequest",
    /the start date "yesterday" is not an ISO-8601 time/,
  );
  throwsMessageError(
    () =>
      parseDownstream([
        "522",
        "dev",
        "log",
        "2013-06-22T17:03:14Z",
        "2013-06-22T18:03:14Z",
        "",
        "ten",
      ]),
    "c8y_LogfileRequest",
    /the maximum lines "ten" is not a whole number/,
  );
  throwsMessageError(() => parseDownstream([]), undefined, /it has no fields/);
});

Deno.test("bootstrap credentials and tokens are read from 70 and 71", () => {
  deepEqual(parseBootstrapCredentials(decodeLine("70,t12345,device_pump-7,pa,ss\\w0rd")), {
    tenant: "t12345",
    username: "device_pump-7",
    password: "pa",
  });
  deepEqual(parseBootstrapCredentials(decodeLine('70,t12345,device_pump-7,"pa,ss\\"w0rd"')), {
    tenant: "t12345",
    username: "device_pump-7",
    password: 'pa,ss"w0rd',
  });
  equal(parseToken(["71", "eyJhbGciOi.eyJzdWIi.c2ln"]), "eyJhbGciOi.eyJzdWIi.c2ln");
  throwsMessageError(
    () => parseBootstrapCredentials(["70", "t1", "u"]),
    undefined,
    /password is missing/,
  );
  throwsMessageError(
    () => parseToken(["71"]),
    undefined,
    /the token is missing \(expected 71,<jwt>\)/,
  );
  throwsMessageError(
    () => parseToken(["41", "100", "x"]),
    undefined,
    /expected template 71,<jwt>, found template "41"/,
  );
});

Deno.test("errors on s/e are read as code, template and text", () => {
  deepEqual(parseServerError(decodeLine("41,100,Device already existing")), {
    code: "41",
    templateId: "100",
    message: "Device already existing",
  });
  deepEqual(parseServerError(["40", "", "No template for this X-ID"]), {
    code: "40",
    templateId: "",
    message: "No template for this X-ID",
  });
  deepEqual(parseServerError(["50"]), { code: "50", templateId: "", message: "" });
});

Deno.test("a telemetry record with one numeric value is a 200 measurement", () => {
  deepEqual(telemetryToLines("temperature", { celsius: 21.5 }, ts), [
    `200,temperature,celsius,21.5,,${iso}`,
  ]);
  deepEqual(telemetryToLines("door", { open: true, label: "front" }, ts), [
    `200,door,open,1,,${iso}`,
  ]);
});

Deno.test("a telemetry record with several numeric values is one 201 of type outpost_<stream>", () => {
  deepEqual(
    telemetryToLines(
      "system",
      { cpu: 12.5, mem: 40, up: false, host: "a", tags: [1], n: null },
      ts,
    ),
    [`201,outpost_system,${iso},system,cpu,12.5,,system,mem,40,,system,up,0`],
  );
  deepEqual(telemetryToLines("system", { host: "a", nested: { x: 1 } }, ts), []);
  deepEqual(numericSeries({ a: 1, b: "2", c: Number.NaN, d: true, "": 3, e: { f: 1 } }), {
    series: [["a", 1], ["d", 1]],
    skipped: ["b", "c", "", "e"],
  });
});

Deno.test("a 201 that would pass the payload limit is split into several", () => {
  const values = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`series${i}`, i]));
  const lines = telemetryToLines("s", values, ts, { limit: 80 });
  ok(lines.length > 1);
  const series: string[][] = [];
  for (const line of lines) {
    ok(utf8Length(line) <= 80, line);
    const fields = decodeLine(line);
    deepEqual(fields.slice(0, 3), ["201", "outpost_s", iso]);
    for (let i = 3; i < fields.length; i += 4) series.push(fields.slice(i, i + 3));
  }
  deepEqual(series, Object.entries(values).map(([name, value]) => ["s", name, String(value)]));
  // The header is 38 bytes and each series "s,a,1" 5: two series make exactly 51.
  const two = `201,outpost_s,${iso},s,a,1,,s,b,2`;
  equal(utf8Length(two), 51);
  deepEqual(telemetryToLines("s", { a: 1, b: 2 }, ts, { limit: 51 }), [two]);
  deepEqual(telemetryToLines("s", { a: 1, b: 2 }, ts, { limit: 50 }), [
    `201,outpost_s,${iso},s,a,1`,
    `201,outpost_s,${iso},s,b,2`,
  ]);
  throws(
    () => telemetryToLines("s", { ["x".repeat(100)]: 1, y: 2 }, ts, { limit: 80 }),
    (error: Error) => error instanceof SmartRestError && /template "201"/.test(error.message),
  );
});

Deno.test("events are 400 lines; events with a severity are alarms", () => {
  equal(
    eventToLine("door.open", "Front door opened", ts),
    `400,door.open,Front door opened,${iso}`,
  );
  const record = (data?: Record<string, unknown>) => ({
    type: "overheat",
    text: "Too hot",
    ts,
    data,
  });
  equal(eventRecordToLine(record()), `400,overheat,Too hot,${iso}`);
  equal(eventRecordToLine(record({ severity: "critical" })), `301,overheat,Too hot,${iso}`);
  equal(
    eventRecordToLine(record({ severity: "MAJOR", text: "90 °C" })),
    `302,overheat,90 °C,${iso}`,
  );
  equal(eventRecordToLine(record({ severity: "minor" })), `303,overheat,Too hot,${iso}`);
  equal(eventRecordToLine(record({ severity: "warning" })), `304,overheat,Too hot,${iso}`);
  equal(eventRecordToLine(record({ severity: "cleared" })), "306,overheat");
  equal(eventRecordToLine(record({ severity: "clear" })), "306,overheat");
  equal(eventRecordToLine(record({ severity: "apocalyptic" })), `400,overheat,Too hot,${iso}`);
  equal(eventRecordToLine(record({ severity: 3 })), `400,overheat,Too hot,${iso}`);
});

// Template ids Outpost knows, often, so the fields behind them get exercised.
const templateId = fc.oneof(
  fc.constantFrom(...Object.keys(OPERATION_TEMPLATES), "70", "71", "106", "__proto__"),
  fc.string({ maxLength: 4 }),
);
const field = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer({ min: -10, max: 70000 }).map(String),
  fc.constantFrom("", " ", "2013-06-22T17:03:14Z", "22"),
);

Deno.test("parseDownstream throws nothing but C8yMessageError or SmartRestError", () => {
  const onlyExpectedErrors = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (!(error instanceof C8yMessageError || error instanceof SmartRestError)) throw error;
    }
  };
  fc.assert(
    fc.property(templateId, fc.array(field, { maxLength: 8 }), (id, rest) => {
      onlyExpectedErrors(() => {
        const parsed = parseDownstream([id, ...rest]);
        // Whatever parses as an operation names the fragment of its template.
        if (parsed.kind === "other") equal(parsed.fragment, fragmentOf(id));
        else if (parsed.kind !== "unknown") ok(fragmentOf(id) !== undefined, id);
      });
      onlyExpectedErrors(() => parseBootstrapCredentials([id, ...rest]));
      onlyExpectedErrors(() => parseToken([id, ...rest]));
    }),
    { numRuns: 3000 },
  );
  fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => {
    onlyExpectedErrors(() => decodeMessage(`530,${text}`).map(parseDownstream));
    onlyExpectedErrors(() => decodeMessage(`528,${text}`).map(parseDownstream));
    onlyExpectedErrors(() => decodeMessage(text).map(parseDownstream));
  }));
});

Deno.test("any valid 530 survives encoding, decoding and parsing", () => {
  const text = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== "");
  fc.assert(
    fc.property(text, text, fc.integer({ min: 1, max: 65535 }), text, (serial, host, port, key) => {
      const line = encodeLine(["530", serial, host, port, key]);
      deepEqual(parseDownstream(decodeLine(line)), {
        kind: "remoteAccess",
        serial,
        host,
        port,
        connectionKey: key,
      });
    }),
  );
});
