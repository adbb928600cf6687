import assert from "node:assert/strict";
import { REPLY_FILTERS } from "../../actors/local_api/client.ts";
import { topicMatches } from "../../protocols/mqtt_topic.ts";
import { apiTopic, liveDataPath, routeOf } from "../../protocols/local_api_topics.ts";

const CLIENT = "0123456789abcdef0123456789abcdef";
const SID = "a".repeat(32);
const MID = "b".repeat(32);

/** A request path for every call of PROTOCOLS.md §4. */
const CALLS = [
  "/ping",
  "/delete",
  "/inventory",
  "/sensor/create",
  `/sensor/${SID}/update`,
  `/sensor/${SID}/delete`,
  `/sensor/${SID}/metric`,
  `/sensor/${SID}/metric/${MID}/inventory`,
  `/sensor/${SID}/metric/update`,
  `/sensor/${SID}/metric/delete`,
  `/sensor/${SID}/metric/pushValues`,
];

const subscribed = (path: string) =>
  REPLY_FILTERS.some((filter) => topicMatches(apiTopic(CLIENT, filter), apiTopic(CLIENT, path)));

Deno.test("the client's reply subscriptions cover every reply, and none of its requests or live data", () => {
  for (const path of CALLS) {
    const route = routeOf(path);
    assert.ok(route, `${path} is a call`);
    assert.ok(subscribed(route.ok), `the reply topic ${route.ok} of ${path}`);
    assert.ok(subscribed(route.error), `the error topic ${route.error} of ${path}`);
    assert.ok(!subscribed(path), `the request ${path} itself`);
  }
  assert.ok(!subscribed(liveDataPath(SID)), "live data only once onLiveData asks for it");
});
