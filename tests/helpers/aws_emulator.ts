/**
 * An AWS IoT Core emulator for tests (PROTOCOLS.md §2): a real mosquitto
 * with mutual TLS (the test CA signs the server, the claim certificate and
 * every certificate it issues) plus one npm:mqtt client that plays the
 * cloud's services:
 *
 * - the Device Shadow service: classic and named shadows with versions,
 *   desired/reported merge (`null` deletes), delta, metadata, `documents`,
 *   404 for a missing shadow, 409 for a stale `version`, 400 for a bad
 *   document, 413 past 8 KB of state;
 * - Basic Ingest: every publish on `$aws/rules/#` is recorded;
 * - fleet provisioning: `create-from-csr` signs the CSR with the test CA
 *   (openssl), `RegisterThing` names the thing after its `SerialNumber`
 *   parameter; both can be told to reject, and create-from-csr to wait.
 *
 * - an application in the account: any MQTT client may use topics of its
 *   own (AWS IoT Core routes them like any broker); `listen`, `publish` and
 *   `command` play one on Outpost's command and support topics
 *   (PROTOCOLS.md §0, docs/support.md), and record what it hears.
 *
 * It follows AWS's documented behaviour, not Outpost's code. The broker has
 * no ACL: every topic is allowed, as with an IoT policy of `iot:*` on `*`.
 */
import mqtt, { type MqttClient } from "mqtt";
import { type MosquittoBroker, startMosquitto } from "./brokers.ts";
import { type TestPki, testPki } from "./tls.ts";
import { Condition } from "./condition.ts";

type State = Record<string, unknown>;

/** One stored shadow. */
export interface EmulatedShadow {
  desired: State;
  reported: State;
  version: number;
}

/** A message published to Basic Ingest. */
export interface IngestMessage {
  topic: string;
  body: Record<string, unknown>;
}

/** A message an application in the cloud heard on a topic it listens to. */
export interface AppMessage {
  topic: string;
  text: string;
}

/** A command's answer: `{status, body}` (PROTOCOLS.md §0). */
export interface CommandResponse {
  status: number;
  body: unknown;
}

/** A rejection the provisioning responder sends instead of accepting. */
export interface ProvisioningRejection {
  statusCode: number;
  errorCode: string;
  errorMessage: string;
}

/** The running emulator. */
export interface AwsEmulator {
  /** `mqtts://127.0.0.1:<port>`. */
  url: string;
  pki: TestPki;
  /** Shadow requests and ingest messages seen, in order. */
  /** `at` is `performance.now()` when the request arrived. */
  readonly requests: { topic: string; body: unknown; at: number }[];
  readonly ingest: IngestMessage[];
  /** Things registered by fleet provisioning. */
  readonly registered: string[];
  /** Wall-clock milliseconds (`Date.now()`) when each thing was registered. */
  readonly registeredAt: Map<string, number>;
  shadow(thing: string, name?: string): EmulatedShadow | undefined;
  /** Updates desired state as an app in the cloud would (publishes the delta). */
  setDesired(thing: string, desired: State, name?: string): Promise<void>;
  /** Next device update is rejected as stale: another writer got in first. */
  conflictNextUpdate(): void;
  /** Makes create-from-csr (or RegisterThing) reject until cleared with `undefined`. */
  rejectProvisioning(step: "csr" | "register", rejection?: ProvisioningRejection): void;
  /** Leaves create-from-csr requests unanswered until the returned `release()`, which answers them. */
  holdProvisioning(): () => void;
  /** Resolves once `check()` holds, polling on every message; rejects at the deadline. */
  until(what: string, check: () => boolean, timeoutMs?: number): Promise<void>;
  /** What the application heard on the filters it listens to, in order. */
  readonly messages: AppMessage[];
  /** Makes the application listen to `filter` (QoS 1) from now on. */
  listen(filter: string): Promise<void>;
  /** Publishes as the application (QoS 1, not retained). */
  publish(topic: string, payload: string): Promise<void>;
  /**
   * Sends command `name` to `thing` on `<prefix>/<thing>/commands/<name>/<requestId>`
   * and resolves with the answer on `…/responses/<name>/<requestId>`.
   */
  command(
    thing: string,
    name: string,
    payload: string,
    options?: { requestId?: string; prefix?: string },
  ): Promise<CommandResponse>;
  /** Stops mosquitto and starts it again on the same port. */
  restartBroker(): Promise<void>;
  stop(): Promise<void>;
}

const STATE_LIMIT = 8192;

/** Starts mosquitto with mTLS and the cloud's services. */
export async function startAwsEmulator(): Promise<AwsEmulator> {
  const pki = await testPki();
  const tls = {
    caFile: pki.ca.certFile,
    certFile: pki.server.certFile,
    keyFile: pki.server.keyFile,
    requireCertificate: true,
  };
  const broker: MosquittoBroker = await startMosquitto({ tls, persistence: true });
  const shadows = new Map<string, EmulatedShadow>();
  const requests: { topic: string; body: unknown; at: number }[] = [];
  const ingest: IngestMessage[] = [];
  const registered: string[] = [];
  const registeredAt = new Map<string, number>();
  let held: string[] | undefined;
  const tokens = new Set<string>();
  const rejections: Partial<Record<"csr" | "register", ProvisioningRejection>> = {};
  const condition = new Condition();
  let conflict = false;
  const messages: AppMessage[] = [];
  const appFilters: string[] = [];

  const client: MqttClient = await mqtt.connectAsync(broker.url, {
    clientId: "aws-emulator",
    ca: pki.ca.cert,
    cert: pki.client.cert,
    key: pki.client.key,
    reconnectPeriod: 50,
    // Like the cloud's services, the emulator misses nothing across a broker restart.
    clean: false,
  });
  // Without it the emulator's small replies wait for delayed ACKs (40 ms each).
  const noDelay = () =>
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  noDelay();
  client.on("connect", noDelay);
  const filters = [
    "$aws/things/+/shadow/+",
    "$aws/things/+/shadow/name/+/+",
    "$aws/rules/#",
    "$aws/certificates/create-from-csr/json",
    "$aws/provisioning-templates/+/provision/json",
  ];
  await client.subscribeAsync(filters, { qos: 1 });
  client.on(
    "connect",
    () => void client.subscribeAsync([...filters, ...appFilters], { qos: 1 }).catch(() => {}),
  );
  client.on("message", (topic, payload) => {
    void handle(topic, new TextDecoder().decode(payload)).finally(() => {
      condition.changed();
    });
  });

  const publish = (topic: string, body: unknown) =>
    client.publishAsync(topic, JSON.stringify(body), { qos: 1 }).then(() => {});
  const now = () => Math.floor(Date.now() / 1000);

  async function handle(topic: string, text: string): Promise<void> {
    if (!topic.startsWith("$aws/")) {
      messages.push({ topic, text });
      return;
    }
    if (topic.startsWith("$aws/rules/")) {
      ingest.push({ topic, body: JSON.parse(text) });
      return;
    }
    if (topic === "$aws/certificates/create-from-csr/json") {
      if (held) return void held.push(text);
      return await createFromCsr(text);
    }
    const template = topic.match(/^\$aws\/provisioning-templates\/([^/]+)\/provision\/json$/);
    if (template) return await registerThing(template[1], text);
    const match = topic.match(
      /^\$aws\/things\/([^/]+)\/shadow\/(?:name\/([^/]+)\/)?(get|update|delete)$/,
    );
    if (!match) return;
    const [, thing, name, op] = match;
    const base = topic.slice(0, -op.length - 1);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text === "" ? "{}" : text);
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error();
    } catch {
      requests.push({ topic, body: text, at: performance.now() });
      return publish(`${base}/${op}/rejected`, {
        code: 400,
        message: "Invalid JSON",
        timestamp: now(),
      });
    }
    requests.push({ topic, body, at: performance.now() });
    const key = `${thing}/${name ?? ""}`;
    const clientToken = body.clientToken;
    const reject = (code: number, message: string) =>
      publish(`${base}/${op}/rejected`, { code, message, timestamp: now(), clientToken });
    const shadow = shadows.get(key);
    if (op === "get") {
      if (!shadow) return reject(404, `No shadow exists with name: '${name ?? thing}'`);
      const delta = deltaOf(shadow.desired, shadow.reported);
      return publish(`${base}/get/accepted`, {
        state: {
          desired: shadow.desired,
          reported: shadow.reported,
          ...(Object.keys(delta).length > 0 && { delta }),
        },
        metadata: {},
        version: shadow.version,
        timestamp: now(),
        clientToken,
      });
    }
    if (op === "delete") {
      if (!shadow) return reject(404, `No shadow exists with name: '${name ?? thing}'`);
      shadows.delete(key);
      return publish(`${base}/delete/accepted`, {
        version: shadow.version,
        timestamp: now(),
        clientToken,
      });
    }
    const state = body.state as { desired?: State | null; reported?: State | null } | undefined;
    if (typeof state !== "object" || state === null) {
      return reject(400, "Missing required node: state");
    }
    if (conflict && shadow) {
      conflict = false;
      shadow.version++;
    }
    if (body.version !== undefined && body.version !== (shadow?.version ?? 0)) {
      return reject(409, "Version conflict");
    }
    await update(base, key, state, clientToken);
  }

  async function update(
    base: string,
    key: string,
    state: { desired?: State | null; reported?: State | null },
    clientToken?: unknown,
  ): Promise<void> {
    const before = shadows.get(key);
    const next: EmulatedShadow = {
      desired: state.desired === null ? {} : merge(before?.desired ?? {}, state.desired ?? {}),
      reported: state.reported === null ? {} : merge(before?.reported ?? {}, state.reported ?? {}),
      version: (before?.version ?? 0) + 1,
    };
    const size =
      new TextEncoder().encode(JSON.stringify({ desired: next.desired, reported: next.reported }))
        .length;
    if (size > STATE_LIMIT) {
      return publish(`${base}/update/rejected`, {
        code: 413,
        message: "The payload exceeds the maximum size allowed",
        timestamp: now(),
        clientToken,
      });
    }
    shadows.set(key, next);
    await publish(`${base}/update/accepted`, {
      state,
      metadata: {},
      version: next.version,
      timestamp: now(),
      ...(clientToken !== undefined && { clientToken }),
    });
    await publish(`${base}/update/documents`, {
      ...(before &&
        {
          previous: {
            state: { desired: before.desired, reported: before.reported },
            version: before.version,
          },
        }),
      current: { state: { desired: next.desired, reported: next.reported }, version: next.version },
      timestamp: now(),
    });
    const delta = deltaOf(next.desired, next.reported);
    if (state.desired !== undefined && Object.keys(delta).length > 0) {
      await publish(`${base}/update/delta`, {
        state: delta,
        metadata: {},
        version: next.version,
        timestamp: now(),
      });
    }
  }

  async function createFromCsr(text: string): Promise<void> {
    const topic = "$aws/certificates/create-from-csr/json";
    if (rejections.csr) return publish(`${topic}/rejected`, rejections.csr);
    let csr: string;
    try {
      csr = JSON.parse(text).certificateSigningRequest;
      if (typeof csr !== "string") throw new Error();
    } catch {
      return publish(`${topic}/rejected`, {
        statusCode: 400,
        errorCode: "InvalidPayload",
        errorMessage: "certificateSigningRequest is missing",
      });
    }
    const certificatePem = await signCsr(pki, csr);
    const token = crypto.randomUUID();
    tokens.add(token);
    const id = Array.from(
      new Uint8Array(
        await crypto.subtle.digest("SHA-256", new TextEncoder().encode(certificatePem)),
      ),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    await publish(`${topic}/accepted`, {
      certificateOwnershipToken: token,
      certificateId: id,
      certificatePem,
    });
  }

  async function registerThing(name: string, text: string): Promise<void> {
    const template = `$aws/provisioning-templates/${name}/provision/json`;
    if (rejections.register) return publish(`${template}/rejected`, rejections.register);
    const body = JSON.parse(text);
    if (!tokens.delete(body.certificateOwnershipToken)) {
      return publish(`${template}/rejected`, {
        statusCode: 400,
        errorCode: "InvalidCertificateOwnershipToken",
        errorMessage: "Certificate ownership token cannot be found",
      });
    }
    const thingName = `thing-${body.parameters?.SerialNumber ?? crypto.randomUUID()}`;
    registered.push(thingName);
    registeredAt.set(thingName, Date.now());
    await publish(`${template}/accepted`, { thingName, deviceConfiguration: {} });
  }

  return {
    url: broker.url,
    pki,
    requests,
    ingest,
    registered,
    registeredAt,
    shadow: (thing, name) => shadows.get(`${thing}/${name ?? ""}`),
    async setDesired(thing, desired, name) {
      const base = name === undefined
        ? `$aws/things/${thing}/shadow`
        : `$aws/things/${thing}/shadow/name/${name}`;
      await update(base, `${thing}/${name ?? ""}`, { desired });
    },
    conflictNextUpdate: () => void (conflict = true),
    rejectProvisioning(step, rejection) {
      rejections[step] = rejection;
    },
    holdProvisioning() {
      held = [];
      return () => {
        const requests = held ?? [];
        held = undefined;
        for (const text of requests) {
          void createFromCsr(text).finally(() => condition.changed());
        }
      };
    },
    async until(what, check, timeoutMs = 10_000) {
      // State also changes without a message (the agent's side): look now and then too.
      await condition.until(what, () => check() || undefined, { timeoutMs, pollMs: 20 });
    },
    messages,
    async listen(filter) {
      appFilters.push(filter);
      await client.subscribeAsync(filter, { qos: 1 });
    },
    async publish(topic, payload) {
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    async command(thing, name, payload, options = {}) {
      const prefix = options.prefix ?? "outpost";
      const requestId = options.requestId ?? crypto.randomUUID();
      const response = `${prefix}/${thing}/responses/${name}/${requestId}`;
      await client.subscribeAsync(response, { qos: 1 });
      try {
        await client.publishAsync(`${prefix}/${thing}/commands/${name}/${requestId}`, payload, {
          qos: 1,
        });
        const answer = await condition.until(
          `the answer on ${response}`,
          () => messages.find((m) => m.topic === response),
          {
            timeoutMs: 10_000,
            context: () => `heard: ${messages.map((m) => m.topic).join(", ") || "nothing"}`,
          },
        );
        return JSON.parse(answer.text);
      } finally {
        await client.unsubscribeAsync(response);
      }
    },
    restartBroker: () => broker.restart(),
    async stop() {
      await client.endAsync(true);
      await broker.stop();
    },
  };
}

async function signCsr(pki: TestPki, csrPem: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "outpost-aws-csr-" });
  try {
    await Deno.writeTextFile(`${dir}/device.csr`, csrPem);
    await Deno.writeTextFile(
      `${dir}/device.ext`,
      "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    );
    const { code, stderr } = await new Deno.Command("openssl", {
      args: [
        "x509",
        "-req",
        "-in",
        "device.csr",
        "-CA",
        pki.ca.certFile,
        "-CAkey",
        pki.ca.keyFile,
        "-set_serial",
        String(Math.floor(Math.random() * 2 ** 48)),
        "-days",
        "2",
        "-extfile",
        "device.ext",
        "-out",
        "device.pem",
      ],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(`openssl could not sign the CSR: ${new TextDecoder().decode(stderr)}`);
    }
    return await Deno.readTextFile(`${dir}/device.pem`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function isObject(value: unknown): value is State {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function merge(current: State, patch: State): State {
  const out: State = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isObject(value)) out[key] = merge(isObject(out[key]) ? out[key] as State : {}, value);
    else out[key] = value;
  }
  return out;
}

function deltaOf(desired: State, reported: State): State {
  const delta: State = {};
  for (const [key, want] of Object.entries(desired)) {
    const have = reported[key];
    if (isObject(want) && isObject(have)) {
      const inner = deltaOf(want, have);
      if (Object.keys(inner).length > 0) delta[key] = inner;
    } else if (JSON.stringify(want) !== JSON.stringify(have)) delta[key] = want;
  }
  return delta;
}
