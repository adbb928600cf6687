import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { AwsLink } from "../../actors/aws/telemetry.ts";
import {
  encodeEnvelope,
  encodeUnsentEnvelope,
  ingestTopic,
  parseTelemetrySettings,
  stampEnvelope,
  type TelemetryEnvelope,
  telemetryFilter,
  TelemetrySettingsError,
} from "../../protocols/aws_ingest.ts";

Deno.test("Basic Ingest topics are $aws/rules/<rule> with optional further levels", () => {
  equal(
    ingestTopic("iot_data_platform_telemetry_stg"),
    "$aws/rules/iot_data_platform_telemetry_stg",
  );
  equal(ingestTopic("telemetry", "pump-7/system"), "$aws/rules/telemetry/pump-7/system");
});

Deno.test("rule names other than letters, digits and _ and bad suffixes are refused by name", () => {
  throws(() => ingestTopic("my-rule"), /Invalid AWS rule name "my-rule": must be 1 to 128/);
  throws(() => ingestTopic(""), /Invalid AWS rule name ""/);
  throws(() => ingestTopic("a/b"), /Invalid AWS rule name/);
  throws(() => ingestTopic("r".repeat(129)), /Invalid AWS rule name/);
  throws(() => ingestTopic("rule", ""), /suffix "": cannot be empty/);
  throws(() => ingestTopic("rule", "a/+"), /suffix "a\/\+": cannot contain "\+", "#"/);
  throws(() => ingestTopic("rule", "/a"), /cannot have an empty level/);
  throws(() => ingestTopic("rule", "a//b"), /cannot have an empty level/);
});

const seedLike: TelemetryEnvelope = {
  payloadVersion: "1",
  assetType: "ID_Cutter",
  senderEventUuid: "ed7335bc-9cf8-49b0-8673-60497f1e54a6",
  senderType: "prinect",
  eventType: "ODA",
  eventSubtype: "InkConsumptionSummary",
  assetTimestamp: new Date("2019-09-10T17:08:39+02:00"),
  assetId: "AUTOTEST_CUT",
  senderId: "PTS-000047-130129-0751",
  senderTimestamp: new Date("2019-09-10T17:08:39.557+02:00"),
  connectionDeviceId: "LiveTestSimulator01",
  payload: { productiondataacquisition: { message: [{ deviceid: "6000" }] } },
};

Deno.test("the envelope has exactly the seed's fields in its order, the body under payload", () => {
  const text = encodeEnvelope(seedLike);
  equal(
    text,
    '{"payloadVersion":"1","assetType":"ID_Cutter",' +
      '"senderEventUuid":"ed7335bc-9cf8-49b0-8673-60497f1e54a6","senderType":"prinect",' +
      '"eventType":"ODA","eventSubtype":"InkConsumptionSummary",' +
      '"assetTimestamp":"2019-09-10T15:08:39.000+00:00","assetId":"AUTOTEST_CUT",' +
      '"senderId":"PTS-000047-130129-0751",' +
      '"senderTimestamp":"2019-09-10T15:08:39.557+00:00",' +
      '"connectionDeviceId":"LiveTestSimulator01",' +
      '"payload":{"productiondataacquisition":{"message":[{"deviceid":"6000"}]}}}',
  );
  deepEqual(Object.keys(JSON.parse(text)), [
    "payloadVersion",
    "assetType",
    "senderEventUuid",
    "senderType",
    "eventType",
    "eventSubtype",
    "assetTimestamp",
    "assetId",
    "senderId",
    "senderTimestamp",
    "connectionDeviceId",
    "payload",
  ]);
  // The seed's timestamps (with an offset) name the same instants.
  const doc = JSON.parse(text);
  equal(Date.parse(doc.assetTimestamp), Date.parse("2019-09-10T17:08:39+02:00"));
  equal(Date.parse(doc.senderTimestamp), Date.parse("2019-09-10T17:08:39.557+02:00"));
});

Deno.test("a missing senderEventUuid is a fresh UUID and a missing senderTimestamp is now", () => {
  const { senderEventUuid: _, senderTimestamp: __, ...rest } = seedLike;
  const now = new Date("2026-01-02T03:04:05.678Z");
  const first = JSON.parse(encodeEnvelope(rest, () => now));
  const second = JSON.parse(encodeEnvelope(rest, () => now));
  ok(
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(
      first.senderEventUuid,
    ),
  );
  ok(first.senderEventUuid !== second.senderEventUuid);
  equal(first.senderTimestamp, "2026-01-02T03:04:05.678+00:00");
  equal(Object.keys(first).length, 12);
  const before = Date.now();
  const live = JSON.parse(encodeEnvelope(rest));
  ok(
    Date.parse(live.senderTimestamp) >= before - 1 &&
      Date.parse(live.senderTimestamp) <= Date.now(),
  );
});

Deno.test("an envelope with a missing header, a bad date or a non-object payload is refused by field", () => {
  throws(
    () => encodeEnvelope({ ...seedLike, eventType: "" }),
    /envelope's eventType must be a non-empty string, got ""/,
  );
  throws(
    () => encodeEnvelope({ ...seedLike, assetTimestamp: new Date("nope") }),
    /envelope's assetTimestamp must be a valid Date/,
  );
  throws(
    () => encodeEnvelope({ ...seedLike, payload: [1] as unknown as Record<string, unknown> }),
    /envelope's payload must be an object, got an array/,
  );
});

Deno.test("an unsent envelope has no sender; stamping adds it in the seed's order and keeps the rest", () => {
  const { senderId: _, senderTimestamp: __, connectionDeviceId: ___, ...unsent } = seedLike;
  const stored = encodeUnsentEnvelope(unsent);
  deepEqual(Object.keys(JSON.parse(stored)), [
    "payloadVersion",
    "assetType",
    "senderEventUuid",
    "senderType",
    "eventType",
    "eventSubtype",
    "assetTimestamp",
    "assetId",
    "payload",
  ]);
  const sent = stampEnvelope(new TextEncoder().encode(stored), {
    senderId: seedLike.senderId,
    connectionDeviceId: seedLike.connectionDeviceId,
    senderTimestamp: seedLike.senderTimestamp!,
  });
  equal(sent, encodeEnvelope(seedLike), "the same bytes as encoding it whole");
});

Deno.test("stamping defaults assetId to the sender, restamps a complete envelope and refuses what is not one", () => {
  const { senderId: _, senderTimestamp: __, connectionDeviceId: ___, assetId: ____, ...unsent } =
    seedLike;
  const sender = {
    senderId: "thing-1",
    connectionDeviceId: "thing-1",
    senderTimestamp: new Date("2026-01-02T03:04:05.678Z"),
  };
  const sent = JSON.parse(stampEnvelope(encodeUnsentEnvelope(unsent), sender));
  equal(sent.assetId, "thing-1");
  equal(sent.senderTimestamp, "2026-01-02T03:04:05.678+00:00");
  equal(sent.assetTimestamp, "2019-09-10T15:08:39.000+00:00", "the record's own time stays");
  // Stored by an earlier version, with the sender it had then.
  const restamped = JSON.parse(stampEnvelope(encodeEnvelope(seedLike), sender));
  deepEqual([restamped.assetId, restamped.senderId, restamped.connectionDeviceId], [
    "AUTOTEST_CUT",
    "thing-1",
    "thing-1",
  ]);
  throws(() => stampEnvelope("{not json", sender), /Cannot read a stored telemetry envelope/);
  throws(() => stampEnvelope("[1]", sender), /must be an object, got an array/);
  throws(
    () =>
      stampEnvelope(
        JSON.stringify({ ...JSON.parse(encodeUnsentEnvelope(unsent)), eventType: 1 }),
        sender,
      ),
    /eventType must be a non-empty string, got 1/,
  );
});

Deno.test("the AWS link stamps Basic Ingest publishes with the thing name of the moment, and nothing else", async () => {
  const published: { topic: string; payload: string }[] = [];
  let thing = "dev-1";
  const link = new AwsLink("aws", {
    rule: "telemetry",
    thingName: () => thing,
    now: () => new Date("2026-01-02T03:04:05.678Z"),
  });
  ok(link instanceof MqttLink);
  await link.attach({
    publish: (topic, payload) => {
      published.push({ topic, payload: String(payload) });
      return Promise.resolve();
    },
    subscribe: () => Promise.resolve(),
    unsubscribe: () => Promise.resolve(),
  });
  const { senderId: _, senderTimestamp: __, connectionDeviceId: ___, assetId: ____, ...unsent } =
    seedLike;
  const stored = encodeUnsentEnvelope(unsent);
  thing = "thing-dev-1";
  await link.publish("$aws/rules/telemetry", new TextEncoder().encode(stored));
  await link.publish("$aws/things/thing-dev-1/shadow/get", "{}");
  await link.publish("$aws/rules/telemetry", "{not json");
  const sent = JSON.parse(published[0].payload);
  deepEqual([sent.assetId, sent.senderId, sent.connectionDeviceId, sent.senderTimestamp], [
    "thing-dev-1",
    "thing-dev-1",
    "thing-dev-1",
    "2026-01-02T03:04:05.678+00:00",
  ]);
  equal(published[1].payload, "{}");
  equal(published[2].payload, "{not json", "an unreadable record goes out as stored");
});

Deno.test("the telemetry filter publishes, drops when disabled, and drops blacklisted types", () => {
  const table: [boolean, string[], string, string][] = [
    [true, [], "ODA", "publish"],
    [true, ["debug"], "ODA", "publish"],
    [true, ["debug", "ODA"], "ODA", "blacklisted"],
    [false, [], "ODA", "disabled"],
    [false, ["ODA"], "ODA", "disabled"],
    [true, ["oda"], "ODA", "publish"],
  ];
  for (const [enabled, blacklist, eventType, verdict] of table) {
    const filter = telemetryFilter({
      event_publishing_enabled: enabled,
      event_type_blacklist: blacklist,
    });
    equal(filter(eventType), verdict, JSON.stringify([enabled, blacklist, eventType]));
  }
});

Deno.test("telemetry settings are read from a delta; other keys are returned as unknown", () => {
  deepEqual(
    parseTelemetrySettings({ event_publishing_enabled: true, event_type_blacklist: ["a", "b"] }),
    {
      settings: { event_publishing_enabled: true, event_type_blacklist: ["a", "b"] },
      unknownKeys: [],
    },
  );
  deepEqual(parseTelemetrySettings({ event_publishing_enabled: false, fan: 3, mode: "x" }), {
    settings: { event_publishing_enabled: false },
    unknownKeys: ["fan", "mode"],
  });
  deepEqual(parseTelemetrySettings({}), { settings: {}, unknownKeys: [] });
});

Deno.test("telemetry settings of the wrong types fail listing every problem", () => {
  throws(
    () => parseTelemetrySettings({ event_publishing_enabled: "yes", event_type_blacklist: "ODA" }),
    (error: unknown) => {
      ok(error instanceof TelemetrySettingsError);
      deepEqual(error.problems, [
        'event_publishing_enabled must be true or false, found "yes"',
        'event_type_blacklist must be an array of strings, found "ODA"',
      ]);
      ok(error.message.startsWith("Invalid telemetry settings in the shadow delta: "));
      return true;
    },
  );
  throws(
    () => parseTelemetrySettings({ event_type_blacklist: ["ok", 7] }),
    /event_type_blacklist\[1\] must be a string, found 7/,
  );
  throws(() => parseTelemetrySettings({ event_publishing_enabled: null }), /found null/);
  throws(() => parseTelemetrySettings("{}"), /the delta state must be an object, found "\{\}"/);
});
