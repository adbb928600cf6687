/**
 * Which broker of a fail-over list is in use, as an operator sees it: the
 * link's `broker` and the console's cloud view (`/api/clouds`).
 */
import { equal } from "node:assert/strict";
import { controlPlane, type ControlPlaneParts } from "../../actors/agent/control_plane.ts";
import type { CloudParts } from "../../actors/agent/clouds.ts";
import { MqttLink } from "../../actors/mqtt/link.ts";
import { RecordingSession } from "../helpers/fake_session.ts";

Deno.test("the link names the broker it is attached to, and none while it is down", async () => {
  const link = new MqttLink("main");
  equal(link.broker, undefined);
  await link.attach(new RecordingSession(), "mqtt://b.example:1883");
  equal(link.broker, "mqtt://b.example:1883");
  link.detach();
  equal(link.broker, undefined);
});

Deno.test("the console's cloud view says which broker the cloud is on", async () => {
  const link = new MqttLink("main");
  const cloud = { name: "main", type: "mqtt", link } as unknown as CloudParts;
  const parts = {
    system: () => ({ get: () => undefined }),
    status: () => ({ version: "0", deviceId: "d", uptimeMs: 0 }),
    clouds: [cloud],
    config: {},
    outbox: { size: () => 0, sent: () => 0, dropped: () => 0 },
    support: {},
  } as unknown as ControlPlaneParts;
  const plane = controlPlane(parts);
  try {
    equal(plane.clouds()[0].broker, null);
    await link.attach(new RecordingSession(), "mqtt://a.example:1883");
    equal(plane.clouds()[0].broker, "mqtt://a.example:1883");
    link.detach();
    await link.attach(new RecordingSession(), "mqtt://b.example:1883");
    equal(plane.clouds()[0].broker, "mqtt://b.example:1883");
    equal(plane.clouds()[0].reconnects, 1);
  } finally {
    plane.close();
  }
});
