/**
 * Instant support end to end: an app on the local-API bridge asks for help,
 * the remote side (a plain MQTT client on the generic cloud's
 * `…/support/instant/<appId>/…` topics) answers with session data, errors
 * and connection requests.
 */
import { deepEqual, equal, match, rejects } from "node:assert/strict";
import { P, supportSetup } from "../helpers/support_agent.ts";
import { until } from "../helpers/wait.ts";
import type { SessionData } from "../../actors/support/agent_modules.ts";
import type { InstantSupportError } from "../../protocols/support_api.ts";

const REQUEST = {
  accessToken: "12345678-LgxKf0bybuAESdNIelrY",
  name: "Help Me Please!",
  group: "Contacts",
  description: "I need your support!",
  email: "supporter@example.com",
  sessionCode: "",
};

function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

Deno.test("a request reaches the remote side, whose session data and close come back to the app", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    const data: SessionData[] = [];
    app.instantSupport.setCallbacks({ sessionDataChanged: (d) => void data.push(d) });
    await app.instantSupport.requestInstantSupport(REQUEST);
    const sent = await t.cloud.waitFor((m) => m.topic === `${P}/support/instant/app-1/request`);
    deepEqual(JSON.parse(sent.text), {
      accessToken: REQUEST.accessToken,
      name: REQUEST.name,
      group: REQUEST.group,
      description: REQUEST.description,
      email: REQUEST.email,
    });
    const open = {
      sessionCode: "s01-234-567",
      name: REQUEST.name,
      description: REQUEST.description,
      state: "Open",
    };
    await t.cloud.publish(`${P}/support/instant/app-1/session`, JSON.stringify(open));
    await until("sessionDataChanged Open", () => data.length === 1);
    deepEqual(data[0], open);
    await rejects(app.instantSupport.requestInstantSupport(REQUEST), /already has/);
    // Rejoining the open case with its session code is allowed (an app that restarted does this).
    await app.instantSupport.requestInstantSupport({ ...REQUEST, sessionCode: "s01-234-567" });
    await t.cloud.waitForCount((m) => m.topic === `${P}/support/instant/app-1/request`, 2);

    await app.instantSupport.closeInstantSupportCase();
    const close = await t.cloud.waitFor((m) => m.topic === `${P}/support/instant/app-1/close`);
    deepEqual(JSON.parse(close.text), { sessionCode: "s01-234-567" });
    await t.cloud.publish(
      `${P}/support/instant/app-1/session`,
      JSON.stringify({ ...open, state: "Closed" }),
    );
    await until("sessionDataChanged Closed", () => data.length === 2);
    equal(data[1].state, "Closed");
    // The case is closed: a new request is allowed again.
    await app.instantSupport.requestInstantSupport({ ...REQUEST, sessionCode: "s01-234-567" });
  } finally {
    await t.teardown();
  }
});

Deno.test("invalid requests answer their requestError codes and send nothing", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    const codes: InstantSupportError[] = [];
    app.instantSupport.setCallbacks({ requestError: (code) => void codes.push(code) });
    const cases: [Record<string, unknown>, string][] = [
      [{ ...REQUEST, accessToken: "bad token!" }, "InvalidToken"],
      [{ ...REQUEST, group: "  " }, "InvalidGroup"],
      [{ ...REQUEST, email: "not-an-address" }, "InvalidEmail"],
      [{ ...REQUEST, sessionCode: "123" }, "InvalidSessionCode"],
      [{ ...REQUEST, name: "x".repeat(101) }, "InvalidParameter"],
      [{ ...REQUEST, description: undefined }, "MissingParameter"],
    ];
    for (const [request, code] of cases) {
      await rejects(
        app.instantSupport.requestInstantSupport(request as typeof REQUEST),
        (error: Error & { code: string }) => error.code === code,
        code,
      );
    }
    deepEqual(codes, ["InvalidToken", "InvalidGroup", "InvalidEmail", "InvalidSessionCode"]);
    await rejects(app.instantSupport.closeInstantSupportCase(), { code: "NotFound" });
    await rejects(app.instantSupport.acceptConnectionRequest(), { code: "NotFound" });
    equal(t.cloud.messages.filter((m) => m.topic.includes("/support/instant/")).length, 0);
  } finally {
    await t.teardown();
  }
});

Deno.test("a remote error ends a pending request and reaches the app as requestError", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    const codes: InstantSupportError[] = [];
    app.instantSupport.setCallbacks({ requestError: (code) => void codes.push(code) });
    await app.instantSupport.requestInstantSupport(REQUEST);
    await t.cloud.publish(
      `${P}/support/instant/app-1/error`,
      JSON.stringify({ code: "InvalidToken" }),
    );
    await until("requestError", () => codes.length === 1);
    deepEqual(codes, ["InvalidToken"]);
    await app.instantSupport.requestInstantSupport(REQUEST);
  } finally {
    await t.teardown();
  }
});

Deno.test("one open request per app; another app may have its own", async () => {
  const t = await supportSetup();
  try {
    const one = await t.app("app-1");
    const two = await t.app("app-2");
    await one.instantSupport.requestInstantSupport(REQUEST);
    await rejects(one.instantSupport.requestInstantSupport(REQUEST), { code: "Busy" });
    await two.instantSupport.requestInstantSupport(REQUEST);
    await t.cloud.waitFor((m) => m.topic === `${P}/support/instant/app-2/request`);
  } finally {
    await t.teardown();
  }
});

Deno.test("a connection request is answered accepted, rejected, or timedOut back to the remote side", async () => {
  const t = await supportSetup({ support: "connectionRequestTimeoutSec = 0.3" });
  try {
    const app = await t.app("app-1");
    const answers: Promise<void>[] = [];
    let decide: "accept" | "reject" | "ignore" = "accept";
    app.instantSupport.setCallbacks({
      connectionRequest: () => {
        if (decide === "accept") {
          answers.push(handled(app.instantSupport.acceptConnectionRequest()));
        }
        if (decide === "reject") {
          answers.push(handled(app.instantSupport.rejectConnectionRequest()));
        }
      },
    });
    await app.instantSupport.requestInstantSupport(REQUEST);
    await t.cloud.publish(
      `${P}/support/instant/app-1/session`,
      JSON.stringify({ sessionCode: "s01-234-567", name: "n", description: "d", state: "Open" }),
    );
    const topic = `${P}/support/instant/app-1/connection/answer`;
    const answered = async (n: number) =>
      JSON.parse((await t.cloud.waitForCount((m) => m.topic === topic, n)).at(-1)!.text);
    for (
      const [choice, expected, n] of [
        ["accept", "accepted", 1],
        ["reject", "rejected", 2],
        ["ignore", "timedOut", 3],
      ] as const
    ) {
      decide = choice;
      await t.cloud.publish(`${P}/support/instant/app-1/connection`, "{}");
      deepEqual(await answered(n), { answer: expected });
    }
    await Promise.all(answers);
  } finally {
    await t.teardown();
  }
});

Deno.test("a connection request for an app without an open case is rejected at once", async () => {
  const t = await supportSetup();
  try {
    await t.cloud.publish(`${P}/support/instant/nobody/connection`, "{}");
    const seen = await t.cloud.waitFor((m) =>
      m.topic === `${P}/support/instant/nobody/connection/answer`
    );
    deepEqual(JSON.parse(seen.text), { answer: "rejected" });
  } finally {
    await t.teardown();
  }
});

Deno.test("without a connected remote side a request fails with InternalError", async () => {
  const t = await supportSetup();
  try {
    const app = await t.app("app-1");
    await t.broker.stop();
    await until("the cloud link is down", () => !t.agent.status().clouds[0].connected);
    const error = await app.instantSupport.requestInstantSupport(REQUEST).catch((e) => e);
    equal(error.code, "InternalError");
    match(error.message, /no cloud that carries support is connected/);
  } finally {
    await t.teardown({ keepBroker: true });
  }
});
