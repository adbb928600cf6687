/**
 * An app's identity on the local API, as `LocalApiClient` keeps it: the
 * key (0600), CSR and certificate in the app's cert folder, and the one
 * exchange that obtains the certificate on the provisioning port
 * (`/createConnector` → `/certBack/<sha256 of the CSR>`, PROTOCOLS.md §4).
 */
import mqtt from "mqtt";
import forge from "node-forge";
import { decodeErrorBody, errorName } from "../../protocols/local_api_errors.ts";
import {
  certBackErrorTopic,
  certBackTopic,
  CREATE_CONNECTOR,
  csrHash,
} from "../../protocols/local_api_topics.ts";
import { readSecretFile, writeSecretFile } from "../store/secret_file.ts";

/**
 * A refusal from the agent, with the SDK's error code.
 *
 * @example
 * ```ts
 * try {
 *   await client.deleteSensor("0".repeat(32));
 * } catch (error) {
 *   if (error instanceof LocalApiRequestError && error.code === 15) console.log("no such sensor");
 * }
 * ```
 */
export class LocalApiRequestError extends Error {
  /** The SDK's error code (`errorcode`). */
  readonly code: number;

  /** Builds the error from the agent's `errorcode` and `errorMessage`. */
  constructor(code: number, message: string) {
    super(`${errorName(code) ?? "Error"} (${code}): ${message}`);
    this.name = "LocalApiRequestError";
    this.code = code;
  }
}

/** The files of an app's cert folder, as the SDK names them. */
export const APP_FILES = { key: "client.key", csr: "client.csr", cert: "client.crt" } as const;

/** A provisioned app: its key and certificate, and the client id the certificate carries. */
export interface AppIdentity {
  clientId: string;
  keyPem: string;
  certPem: string;
}

/** The identity kept in `folder`, or undefined when the key or the certificate is missing. */
export async function readAppIdentity(folder: string): Promise<AppIdentity | undefined> {
  const [keyPem, certPem] = await Promise.all([
    readSecretFile(`${folder}/${APP_FILES.key}`),
    readSecretFile(`${folder}/${APP_FILES.cert}`),
  ]);
  if (keyPem === undefined || certPem === undefined) return undefined;
  return { clientId: commonNameOf(certPem), keyPem, certPem };
}

/** Keeps a new identity in `folder` (the key 0600, written atomically). */
export async function saveAppIdentity(
  folder: string,
  files: { keyPem: string; csrPem: string; certPem: string },
): Promise<AppIdentity> {
  await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
  await writeSecretFile(`${folder}/${APP_FILES.key}`, files.keyPem);
  await Deno.writeTextFile(`${folder}/${APP_FILES.csr}`, files.csrPem);
  await Deno.writeTextFile(`${folder}/${APP_FILES.cert}`, files.certPem);
  return { clientId: commonNameOf(files.certPem), keyPem: files.keyPem, certPem: files.certPem };
}

/** Removes the identity's files from `folder`. */
export async function forgetAppIdentity(folder: string): Promise<void> {
  for (const file of Object.values(APP_FILES)) {
    await Deno.remove(`${folder}/${file}`).catch(() => {});
  }
}

/**
 * Sends `csrPem` to `/createConnector` on the provisioning port at `url`
 * and resolves with the signed certificate; rejects with the agent's
 * error, or after `timeoutMs` (in approval mode the operator decides first).
 */
export async function requestCertificate(
  url: string,
  options: { ca: string; csrPem: string; timeoutMs: number },
): Promise<string> {
  const { csrPem, timeoutMs } = options;
  const hash = await csrHash(csrPem);
  const client = await mqtt.connectAsync(url, {
    ca: options.ca,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const reply = new Promise<string>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`No certificate from the agent within ${timeoutMs} ms`)),
        timeoutMs,
      );
      client.on("message", (topic, payload) => {
        const text = new TextDecoder().decode(payload);
        if (topic === certBackTopic(hash)) return resolve(text);
        const error = decodeErrorBody(parseJson(text));
        reject(new LocalApiRequestError(error?.errorcode ?? 0, error?.errorMessage ?? text));
      });
    });
    await client.subscribeAsync([certBackTopic(hash), certBackErrorTopic(hash)], { qos: 1 });
    await client.publishAsync(CREATE_CONNECTOR, csrPem, { qos: 1 });
    return await reply;
  } finally {
    clearTimeout(timer);
    await client.endAsync(true);
  }
}

/** The JSON in `text`, or `text` itself when it is not JSON (the agent's replies are both). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function commonNameOf(certPem: string): string {
  return forge.pki.certificateFromPem(certPem).subject.getField("CN").value;
}
