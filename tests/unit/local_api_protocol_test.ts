/**
 * The local API's pure codecs (PROTOCOLS.md §4): topics and reply routes,
 * error codes, and request bodies refused with the SDK's codes. Fuzzed:
 * whatever arrives, the decoders either return a typed request or throw a
 * LocalApiError carrying one of the documented codes.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  decodeErrorBody,
  errorName,
  LocalApiError,
  LocalApiErrorCode,
} from "../../protocols/local_api_errors.ts";
import {
  checkValue,
  decodeMetricDefinitions,
  decodeMetricIds,
  decodeMetricUpdates,
  decodePushValues,
  decodeSensorName,
  parseObject,
  VALUE_UNITS,
} from "../../protocols/local_api_payloads.ts";
import {
  apiTopic,
  certBackErrorTopic,
  certBackTopic,
  filterWithinClient,
  isCertBackTopic,
  parseApiTopic,
  publishVerdict,
  routeOf,
  topicShape,
} from "../../protocols/local_api_topics.ts";

const CID = "0123456789abcdef0123456789abcdef";
const SID = "fedcba9876543210fedcba9876543210";
const MID = "00112233445566778899aabbccddeeff";

function throwsCode(fn: () => unknown, name: keyof typeof LocalApiErrorCode): void {
  throws(fn, (error: unknown) => {
    ok(error instanceof LocalApiError, `expected a LocalApiError, got ${error}`);
    equal(errorName(error.code), name, error.message);
    return true;
  });
}

Deno.test("the error codes are numbered and spelled as the SDK knows them", () => {
  deepEqual(Object.entries(LocalApiErrorCode).map(([n, c]) => `${c} ${n}`), [
    "0 UnknownError",
    "1 NoBackendConnection",
    "2 NoLicence",
    "3 InternalError",
    "4 InvalidJson",
    "5 JsonIsNotAObject",
    "6 MissingParameter",
    "7 ParameterIsNotAString",
    "8 ParameterIsNotANumber",
    "9 ParameterisNotABool",
    "10 ParameterIsNotAnArray",
    "11 ParameterIsNotAnInteger",
    "12 UnknownValueUnit",
    "13 UnknownMetricType",
    "14 ValueUnitOrValueTypeHasToBeProvided",
    "15 UnknownSensorId",
    "16 UnknownMetricId",
    "17 NoMetricsUpdated",
    "18 ForbiddendAccess",
    "19 OutOfRange",
  ]);
  deepEqual(new LocalApiError("UnknownSensorId", "nope").toBody(), {
    errorcode: 15,
    errorMessage: "nope",
  });
  deepEqual(decodeErrorBody({ errorcode: 4, errorMessage: "x" }), {
    errorcode: 4,
    errorMessage: "x",
  });
  equal(decodeErrorBody([{ sensorId: "x" }]), undefined);
});

Deno.test("every call of PROTOCOLS.md §4 routes to its success and error reply topics", () => {
  const s = `/sensor/${SID}`;
  const table: [string, string, string, string][] = [
    ["/ping", "ping", "/ping/info/inbox", "/ping/error/inbox"],
    ["/delete", "deprovision", "/delete/info/inbox", "/delete/error/inbox"],
    ["/inventory", "listSensors", "/inventory/inbox", "/inventory/error/inbox"],
    ["/sensor/create", "createSensor", "/sensor/inbox", "/sensor/error/inbox"],
    [`${s}/update`, "updateSensor", `${s}/update/info/inbox`, `${s}/update/error/inbox`],
    [`${s}/delete`, "deleteSensor", `${s}/delete/info/inbox`, `${s}/delete/error/inbox`],
    [`${s}/metric`, "createMetrics", `${s}/metric/inbox`, `${s}/metric/error/inbox`],
    [
      `${s}/metric/${MID}/inventory`,
      "describeMetric",
      `${s}/metric/${MID}/inventory/inbox`,
      `${s}/inventory/error/inbox`,
    ],
    [
      `${s}/metric/update`,
      "updateMetrics",
      `${s}/metric/update/info/inbox`,
      `${s}/metric/update/error/inbox`,
    ],
    [`${s}/metric/delete`, "deleteMetrics", `${s}/delete/info/inbox`, `${s}/delete/error/inbox`],
    [`${s}/metric/pushValues`, "pushValues", `${s}/info/inbox`, `${s}/error/inbox`],
  ];
  for (const [path, call, okPath, errorPath] of table) {
    const route = routeOf(path);
    deepEqual([route?.call, route?.ok, route?.error], [call, okPath, errorPath], path);
  }
  equal(routeOf(`${s}/metric/${MID}/inventory`)?.metricId, MID);
  for (const path of ["/sensor/inbox", `${s}/livedata`, "/pong", "", "/", "//ping", "/sensor"]) {
    equal(routeOf(path), undefined, path);
  }
});

Deno.test("topics are built and parsed under /v1.0/<clientId>, and wildcards cannot escape a client's prefix", () => {
  equal(apiTopic(CID, "/ping"), `/v1.0/${CID}/ping`);
  deepEqual(parseApiTopic(`/v1.0/${CID}/sensor/create`), { clientId: CID, path: "/sensor/create" });
  equal(parseApiTopic(`/v1.0/${CID}`), undefined);
  equal(parseApiTopic("/v1.0/ABC/ping"), undefined);
  throws(() => apiTopic("me", "/ping"), /32 hex/);
  ok(filterWithinClient(`/v1.0/${CID}/#`, CID));
  ok(filterWithinClient(`/v1.0/${CID}/sensor/+/livedata`, CID));
  for (
    const filter of [
      "#",
      "/v1.0/#",
      "/v1.0/+/ping",
      `/v1.0/${CID}x/#`,
      `/v1.0/${CID.slice(0, 31)}+/#`,
    ]
  ) {
    ok(!filterWithinClient(filter, CID), filter);
  }
  const hash = "ab".repeat(32);
  equal(certBackTopic(hash), `/certBack/${hash}`);
  equal(certBackErrorTopic(hash), `/certBack/${hash}/error`);
  ok(isCertBackTopic(`/certBack/${hash}`) && isCertBackTopic(`/certBack/${hash}/error`));
  ok(!isCertBackTopic("/certBack/+") && !isCertBackTopic("/certBack/#"));
});

Deno.test("any path either routes to a call with reply topics under the same sensor, or to nothing", () => {
  const level = fc.oneof(
    fc.constantFrom(
      "sensor",
      "metric",
      "create",
      "update",
      "delete",
      "inventory",
      "pushValues",
      SID,
      MID,
      "",
    ),
    fc.string({ maxLength: 8 }),
  );
  fc.assert(fc.property(fc.array(level, { maxLength: 6 }), (levels) => {
    const path = "/" + levels.join("/");
    const route = routeOf(path);
    if (!route) return;
    ok(route.ok.endsWith("/inbox") && route.error.endsWith("/inbox"));
    if (route.sensorId !== undefined) {
      ok(route.ok.startsWith(`/sensor/${route.sensorId}/`));
      ok(route.error.startsWith(`/sensor/${route.sensorId}/`));
    }
  }));
});

Deno.test("request bodies are refused with the documented codes", () => {
  throwsCode(() => parseObject("{"), "InvalidJson");
  throwsCode(() => parseObject(new Uint8Array([0xff, 0xfe])), "InvalidJson");
  throwsCode(() => parseObject("[1]"), "JsonIsNotAObject");
  throwsCode(() => decodeSensorName("{}"), "MissingParameter");
  throwsCode(() => decodeSensorName('{"name":1}'), "ParameterIsNotAString");
  throwsCode(() => decodeSensorName('{"name":""}'), "OutOfRange");
  equal(decodeSensorName('{"name":"pump"}'), "pump");
  throwsCode(() => decodeMetricDefinitions("{}"), "MissingParameter");
  throwsCode(() => decodeMetricDefinitions('{"metrics":1}'), "ParameterIsNotAnArray");
  throwsCode(() => decodeMetricDefinitions('{"metrics":[]}'), "OutOfRange");
  throwsCode(() => decodeMetricDefinitions('{"metrics":[1]}'), "JsonIsNotAObject");
  throwsCode(() => decodeMetricDefinitions('{"metrics":["{x"]}'), "InvalidJson");
  throwsCode(
    () => decodeMetricDefinitions('{"metrics":[{"name":"a","valueType":"bool"}]}'),
    "MissingParameter",
  );
  throwsCode(
    () =>
      decodeMetricDefinitions('{"metrics":[{"matchingId":true,"name":"a","valueType":"bool"}]}'),
    "ParameterIsNotAString",
  );
  throwsCode(
    () => decodeMetricDefinitions('{"metrics":[{"matchingId":"1","name":"a"}]}'),
    "ValueUnitOrValueTypeHasToBeProvided",
  );
  throwsCode(
    () => decodeMetricDefinitions('{"metrics":[{"matchingId":"1","name":"a","valueUnit":"x"}]}'),
    "UnknownValueUnit",
  );
  throwsCode(
    () => decodeMetricDefinitions('{"metrics":[{"matchingId":"1","name":"a","valueType":"x"}]}'),
    "UnknownMetricType",
  );
  deepEqual(
    decodeMetricDefinitions(JSON.stringify({
      metrics: [
        { matchingId: "1", name: "a", valueUnit: VALUE_UNITS[0] },
        JSON.stringify({ matchingId: 2, name: "b", valueType: "integer", valueAnnotation: "pcs" }),
      ],
    })),
    [
      { matchingId: "1", name: "a", valueUnit: VALUE_UNITS[0] },
      { matchingId: 2, name: "b", valueType: "integer", valueAnnotation: "pcs" },
    ],
  );
  throwsCode(() => decodeMetricUpdates('{"metrics":[{}]}'), "MissingParameter");
  throwsCode(() => decodeMetricIds('{"metrics":[{"metricId":5}]}'), "ParameterIsNotAString");
  throwsCode(() => decodePushValues(`{"metrics":[{"metricId":"${MID}"}]}`), "MissingParameter");
  throwsCode(
    () => decodePushValues(`{"metrics":[{"metricId":"${MID}","value":1}],"timestamp":"now"}`),
    "ParameterIsNotANumber",
  );
  throwsCode(
    () => decodePushValues(`{"metrics":[{"metricId":"${MID}","value":1}],"timestamp":1.5}`),
    "ParameterIsNotAnInteger",
  );
  throwsCode(
    () => decodePushValues(`{"metrics":[{"metricId":"${MID}","value":1}],"timestamp":-1}`),
    "OutOfRange",
  );
  deepEqual(decodePushValues(`{"metrics":[{"metricId":"${MID}","value":1}],"timestamp":5}`), {
    values: [{ metricId: MID, value: 1 }],
    timestamp: 5,
  });
  throwsCode(() => checkValue({ valueUnit: "SI.Mass.GRAM" }, "1", "m"), "ParameterIsNotANumber");
  throwsCode(() => checkValue({ valueType: "double" }, Infinity, "m"), "ParameterIsNotANumber");
  throwsCode(() => checkValue({ valueType: "integer" }, 1.5, "m"), "ParameterIsNotAnInteger");
  throwsCode(() => checkValue({ valueType: "integer" }, 2 ** 60, "m"), "OutOfRange");
  throwsCode(() => checkValue({ valueType: "bool" }, "true", "m"), "ParameterisNotABool");
  throwsCode(() => checkValue({ valueType: "string" }, 1, "m"), "ParameterIsNotAString");
  checkValue({ valueType: "bool" }, false, "m");
  checkValue({ valueType: "string" }, "on", "m");
});

Deno.test("whatever the payload, every decoder returns a request or throws a LocalApiError with a documented code", () => {
  const json = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.record({
      metrics: fc.array(
        fc.oneof(
          fc.record(
            {
              metricId: fc.oneof(fc.constant(MID), fc.jsonValue()),
              matchingId: fc.jsonValue(),
              name: fc.oneof(fc.string(), fc.jsonValue()),
              value: fc.jsonValue(),
              valueUnit: fc.oneof(fc.constantFrom(...VALUE_UNITS), fc.string()),
              valueType: fc.oneof(
                fc.constantFrom("bool", "string", "double", "integer"),
                fc.string(),
              ),
              valueAnnotation: fc.jsonValue(),
            },
            { requiredKeys: [] },
          ),
          fc.jsonValue(),
        ),
        { maxLength: 4 },
      ),
      timestamp: fc.jsonValue(),
      name: fc.jsonValue(),
    }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    fc.string(),
  );
  const payload = fc.oneof(json, fc.uint8Array({ maxLength: 64 }));
  const decoders = [
    parseObject,
    decodeSensorName,
    decodeMetricDefinitions,
    decodeMetricUpdates,
    decodeMetricIds,
    decodePushValues,
  ];
  fc.assert(fc.property(payload, (input) => {
    for (const decode of decoders) {
      try {
        decode(input);
      } catch (error) {
        ok(error instanceof LocalApiError, `${decode.name} threw ${error}`);
        ok(errorName(error.code) !== undefined);
        ok(error.message.length < 400, "messages never carry a whole payload");
      }
    }
  }));
});

Deno.test("a publish is served in its own namespace, refused in another client's or the broker's, and dropped in nobody's", () => {
  const other = "f".repeat(32);
  const sid = "a".repeat(32);
  const table: [string, string][] = [
    [`/v1.0/${CID}/sensor/create`, "serve"],
    [`/v1.0/${CID}`, "serve"],
    [`/v1.0/${other}/sensor/create`, "refuse"],
    [`/v1.0/${other}`, "refuse"],
    // The broker's own: aedes closes the client named in a $SYS/<broker>/new/clients payload.
    ["$SYS/other-broker/new/clients", "refuse"],
    // The SDK's own sensor_error()/metric_error() topic: no slash after the client id.
    [`/v1.0/${CID}sensor${sid}/error`, "drop"],
    [`/v1.0/${other}sensor${sid}/error`, "drop"],
    [`/v1.0/${CID.toUpperCase()}/ping`, "drop"],
    ["/createConnector", "drop"],
    ["telemetry", "drop"],
  ];
  for (const [topic, verdict] of table) equal(publishVerdict(topic, CID), verdict, topic);
  equal(topicShape(`/v1.0/${CID}sensor${sid}/error`), "/v1.0/<id>sensor<id>/error");
  equal(topicShape(`/${"x".repeat(300)}`).length, 120);
});
