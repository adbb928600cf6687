/**
 * A device app as the TeamViewer IoT SDK makes one, built from a plain
 * npm:mqtt client and node-forge (not LocalApiClient), so tests check the
 * agent against the protocol (PROTOCOLS.md §4) rather than against itself.
 */
import { Buffer } from "node:buffer";
import forge from "node-forge";
import mqtt, { type MqttClient } from "mqtt";

/** A key, its CSR and (once provisioned) the certificate. */
export interface AppIdentity {
  keyPem: string;
  csrPem: string;
  certPem: string;
  clientId: string;
}

/**
 * An RSA 2048 key and a SHA-256 CSR with CN `name` and basicConstraints
 * CA:false, as the SDK makes them; node-forge directly, not the agent's
 * own CSR code, so the test does not share the agent's assumptions.
 */
export function makeKeyAndCsr(name: string): { privateKeyPem: string; csrPem: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, workers: -1 });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = keys.publicKey;
  csr.setSubject([{ name: "commonName", value: name }]);
  csr.setAttributes([{
    name: "extensionRequest",
    extensions: [{ name: "basicConstraints", cA: false }],
  }]);
  csr.sign(keys.privateKey, forge.md.sha256.create());
  return {
    privateKeyPem: forge.pki.privateKeyToPem(keys.privateKey),
    csrPem: forge.pki.certificationRequestToPem(csr),
  };
}

/** sha256 hex of the CSR PEM bytes: the `/certBack/<hash>` level. */
export async function csrHash(csrPem: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(csrPem));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Connects with TLS to the provisioning port, trusting `caPem`. */
export function connectProvisioning(port: number, caPem: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    ca: caPem,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
}

/**
 * Sends `csrPem` on `/createConnector` and resolves with the first reply
 * on `/certBack/<hash>` (`ok`) or its `/error` topic.
 */
export async function requestCertificate(
  port: number,
  caPem: string,
  csrPem: string | Uint8Array,
  timeoutMs = 5000,
): Promise<{ ok: boolean; text: string }> {
  const client = await connectProvisioning(port, caPem);
  try {
    const text = typeof csrPem === "string" ? csrPem : new TextDecoder().decode(csrPem);
    const hash = await csrHash(text);
    const reply = new Promise<{ ok: boolean; text: string }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`No /certBack reply in ${timeoutMs} ms`)),
        timeoutMs,
      );
      client.on("message", (topic, payload) => {
        clearTimeout(timer);
        resolve({ ok: !topic.endsWith("/error"), text: new TextDecoder().decode(payload) });
      });
    });
    await client.subscribeAsync([`/certBack/${hash}`, `/certBack/${hash}/error`], { qos: 1 });
    await client.publishAsync(
      "/createConnector",
      typeof csrPem === "string" ? csrPem : Buffer.from(csrPem),
      { qos: 1 },
    );
    return await reply;
  } finally {
    await client.endAsync(true);
  }
}

/** Makes a key and CSR (RSA 2048, SHA-256, CN `name`) and provisions it. */
export async function provisionApp(
  port: number,
  caPem: string,
  name = "test-app",
): Promise<AppIdentity> {
  const { privateKeyPem, csrPem } = makeKeyAndCsr(name);
  const reply = await requestCertificate(port, caPem, csrPem);
  if (!reply.ok) throw new Error(`Provisioning failed: ${reply.text}`);
  return { keyPem: privateKeyPem, csrPem, certPem: reply.text, clientId: commonNameOf(reply.text) };
}

/** The subject CN of a PEM certificate. */
export function commonNameOf(certPem: string): string {
  return forge.pki.certificateFromPem(certPem).subject.getField("CN").value;
}

/** A received message. */
export interface AppMessage {
  topic: string;
  text: string;
}

/** An app connected to the mutual-TLS port. */
export interface ApiApp {
  client: MqttClient;
  clientId: string;
  messages: AppMessage[];
  /** Subscribes to `/v1.0/<id>/#` already; publishes `payload` on `/v1.0/<id><path>` and waits for a message on one of `replies` (paths). */
  call(
    path: string,
    payload: string | object,
    replies: string[],
  ): Promise<AppMessage & { body: unknown }>;
  waitFor(match: (m: AppMessage) => boolean, timeoutMs?: number): Promise<AppMessage>;
  /** Resolves once the agent (or the app) closed the connection. */
  closed: Promise<void>;
  /** `closed`, or a rejection after `timeoutMs`. */
  waitClosed(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Connects with the app's certificate and subscribes to everything under its own prefix. */
export async function connectApi(
  port: number,
  caPem: string,
  identity: { keyPem: string; certPem: string; clientId: string },
): Promise<ApiApp> {
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    ca: caPem,
    key: identity.keyPem,
    cert: identity.certPem,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const prefix = `/v1.0/${identity.clientId}`;
  const messages: AppMessage[] = [];
  const waiters = new Set<() => void>();
  client.on("message", (topic, payload) => {
    messages.push({ topic, text: new TextDecoder().decode(payload) });
    for (const wake of waiters) wake();
  });
  const closed = Promise.withResolvers<void>();
  client.once("close", () => closed.resolve());
  await client.subscribeAsync(`${prefix}/#`, { qos: 1 });

  function waitFor(match: (m: AppMessage) => boolean, timeoutMs = 5000): Promise<AppMessage> {
    const start = messages.length;
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = messages.slice(start).find(match);
        if (!found) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `No matching message within ${timeoutMs} ms; last: ${
              JSON.stringify(messages.slice(-3))
            }`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
    });
  }

  return {
    client,
    clientId: identity.clientId,
    messages,
    async call(path, payload, replies) {
      const topics = replies.map((r) => `${prefix}${r}`);
      const reply = waitFor((m) => topics.includes(m.topic));
      await client.publishAsync(
        `${prefix}${path}`,
        typeof payload === "string" ? payload : JSON.stringify(payload),
        { qos: 1 },
      );
      const message = await reply;
      let body: unknown;
      try {
        body = JSON.parse(message.text);
      } catch {
        body = message.text;
      }
      return { ...message, body };
    },
    waitFor,
    closed: closed.promise,
    async waitClosed(timeoutMs = 5000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`The connection is still open after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        await Promise.race([closed.promise, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => client.endAsync(true).then(() => undefined),
  };
}

/** How a connection attempt ended. */
export type Attempt = { connected: true; client: MqttClient } | {
  connected: false;
  reason: string;
};

/**
 * Tries an MQTT connection over TLS and reports whether the broker
 * accepted it (CONNACK 0) or refused it (handshake failure, refused
 * CONNACK, closed socket). Never throws; a connected client is the
 * caller's to close.
 */
export function attemptConnect(
  port: number,
  options: { ca: string; key?: string; cert?: string },
  timeoutMs = 5000,
): Promise<Attempt> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
      ...options,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
    });
    let done = false;
    const finish = (attempt: Attempt) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!attempt.connected) client.end(true);
      resolve(attempt);
    };
    const timer = setTimeout(() => finish({ connected: false, reason: "timeout" }), timeoutMs);
    client.on("connect", () => finish({ connected: true, client }));
    client.on("error", (error) => finish({ connected: false, reason: error.message }));
    client.on("close", () => finish({ connected: false, reason: "closed" }));
  });
}
