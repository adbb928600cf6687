/**
 * AWS IoT fleet provisioning by CSR (PROTOCOLS.md §2): the device's RSA key
 * and certificate signing request, made locally so the private key never
 * leaves the device, and the JSON payloads and topics of `create-from-csr`
 * and `RegisterThing`. Pure apart from key generation; whatever the cloud
 * answers is untrusted, so a bad reply throws only a `ProvisioningError`.
 */
import forge from "node-forge";

// node-forge ships no types (its import is `any`): these name the part used.
interface RsaKeyPair {
  publicKey: { n: { bitLength(): number } };
  privateKey: unknown;
}
interface CertificationRequest {
  publicKey: RsaKeyPair["publicKey"];
  subject: { getField(name: string): { value?: unknown } | null };
  siginfo: { algorithmOid: string };
  verify(): boolean;
}

/** A reply that could not be decoded, or a rejection by AWS (then with its code). */
export class ProvisioningError extends Error {
  /** AWS's HTTP-like status, when AWS rejected the request. */
  readonly statusCode?: number;
  /** AWS's error code, when AWS rejected the request. */
  readonly errorCode?: string;

  /** `message` says what failed; AWS's status and code when AWS rejected the request. */
  constructor(message: string, options?: { statusCode?: number; errorCode?: string }) {
    super(message);
    this.name = "ProvisioningError";
    this.statusCode = options?.statusCode;
    this.errorCode = options?.errorCode;
  }
}

/** A fresh device key pair and the CSR signed with it. */
export interface KeyAndCsr {
  privateKeyPem: string;
  publicKeyPem: string;
  csrPem: string;
}

/** Options of {@link generateKeyAndCsr}. */
export interface GenerateKeyAndCsrOptions {
  /** Subject CN; AWS takes the thing name from the template, so it is optional. */
  commonName?: string;
  /** RSA modulus size. Default 2048, what AWS expects for device certificates. */
  bits?: number;
}

/** What {@link verifyCsr} found in a CSR. */
export interface CsrInfo {
  commonName?: string;
  bits: number;
  /** The self-signature verifies and is SHA-256 with RSA. */
  valid: boolean;
}

/**
 * Makes an RSA key pair and a CSR for it, signed with SHA-256.
 *
 * @example
 * ```ts
 * const { privateKeyPem, csrPem } = await generateKeyAndCsr({ commonName: "pump-7" });
 * ```
 */
export async function generateKeyAndCsr(
  options: GenerateKeyAndCsrOptions = {},
): Promise<KeyAndCsr> {
  const { commonName, bits = 2048 } = options;
  if (!Number.isInteger(bits) || bits < 1024 || bits > 8192) {
    throw new RangeError(`Cannot generate a key of ${bits} bits: use 1024 to 8192`);
  }
  if (commonName !== undefined && (commonName.length === 0 || commonName.length > 64)) {
    throw new RangeError(
      `Cannot put common name ${
        JSON.stringify(commonName)
      } in a CSR: it must be 1 to 64 characters`,
    );
  }
  // workers: -1 lets forge use the runtime's native generator when it has
  // one (Deno's node:crypto does), which is ~100x faster than pure JS.
  const keys = await new Promise<RsaKeyPair>((resolve, reject) => {
    forge.pki.rsa.generateKeyPair(
      { bits, workers: -1 },
      (error: Error | null, pair: RsaKeyPair) => error ? reject(error) : resolve(pair),
    );
  });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = keys.publicKey;
  csr.setSubject(commonName === undefined ? [] : [{ name: "commonName", value: commonName }]);
  csr.sign(keys.privateKey, forge.md.sha256.create());
  return {
    privateKeyPem: forge.pki.privateKeyToPem(keys.privateKey),
    publicKeyPem: forge.pki.publicKeyToPem(keys.publicKey),
    csrPem: forge.pki.certificationRequestToPem(csr),
  };
}

/**
 * Parses a PEM CSR and checks its self-signature.
 *
 * @throws {ProvisioningError} when the text is not a PEM RSA CSR.
 * @example
 * ```ts
 * const { commonName, valid } = verifyCsr(csrPem);
 * ```
 */
export function verifyCsr(pem: string): CsrInfo {
  let csr: CertificationRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(pem);
  } catch (error) {
    throw new ProvisioningError(`Cannot parse CSR: ${messageOf(error)}`);
  }
  const field = csr.subject.getField("CN");
  let verified = false;
  try {
    verified = csr.verify();
  } catch {
    verified = false;
  }
  const sha256 = csr.siginfo.algorithmOid === forge.pki.oids.sha256WithRSAEncryption;
  return {
    commonName: typeof field?.value === "string" ? field.value : undefined,
    bits: csr.publicKey.n.bitLength(),
    valid: verified && sha256,
  };
}

/** The topics of both provisioning steps. */
export interface ProvisioningTopics {
  createFromCsr: { request: string; accepted: string; rejected: string };
  registerThing: { request: string; accepted: string; rejected: string };
}

// AWS's rule for provisioning template names; it also keeps `/`, `+` and
// `#` out of the topic.
const TEMPLATE_NAME = /^[0-9A-Za-z_-]{1,36}$/;

/**
 * The request and reply topics of `create-from-csr` and of `RegisterThing`
 * with `template`.
 *
 * @example
 * ```ts
 * const topics = provisioningTopics("FleetTemplate");
 * // topics.registerThing.request === "$aws/provisioning-templates/FleetTemplate/provision/json"
 * ```
 */
export function provisioningTopics(template: string): ProvisioningTopics {
  if (typeof template !== "string" || !TEMPLATE_NAME.test(template)) {
    throw new TypeError(
      `Cannot use provisioning template ${
        JSON.stringify(template)
      }: a name is 1 to 36 of A-Z a-z 0-9 _ -`,
    );
  }
  const csr = "$aws/certificates/create-from-csr/json";
  const provision = `$aws/provisioning-templates/${template}/provision/json`;
  return {
    createFromCsr: { request: csr, accepted: `${csr}/accepted`, rejected: `${csr}/rejected` },
    registerThing: {
      request: provision,
      accepted: `${provision}/accepted`,
      rejected: `${provision}/rejected`,
    },
  };
}

/** `{"certificateSigningRequest":"<PEM>"}` for `create-from-csr`. */
export function encodeCreateFromCsr(csrPem: string): string {
  if (typeof csrPem !== "string" || !csrPem.includes("-----BEGIN CERTIFICATE REQUEST-----")) {
    throw new TypeError("Cannot send a CSR: the text is not a PEM certificate request");
  }
  return JSON.stringify({ certificateSigningRequest: csrPem });
}

/** `create-from-csr/json/accepted`. */
export interface CreateFromCsrAccepted {
  certificateOwnershipToken: string;
  certificateId: string;
  certificatePem: string;
}

/** Decodes `create-from-csr/json/accepted`. */
export function decodeCreateFromCsrAccepted(payload: string | Uint8Array): CreateFromCsrAccepted {
  const what = "create-from-csr accepted reply";
  const body = parseObject(payload, what);
  const certificatePem = requireString(body, "certificatePem", what);
  if (!certificatePem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ProvisioningError(`Cannot decode ${what}: "certificatePem" is not a PEM certificate`);
  }
  return {
    certificateOwnershipToken: requireString(body, "certificateOwnershipToken", what),
    certificateId: requireString(body, "certificateId", what),
    certificatePem,
  };
}

/** `{"certificateOwnershipToken":…,"parameters":{…}}` for `RegisterThing`. */
export function encodeRegisterThing(
  token: string,
  parameters: Record<string, string> = {},
): string {
  if (typeof token !== "string" || token.length === 0) {
    throw new TypeError("Cannot register a thing: the certificate ownership token is empty");
  }
  if (!isPlainObject(parameters)) {
    throw new TypeError("Cannot register a thing: parameters must be an object of strings");
  }
  for (const [key, value] of Object.entries(parameters)) {
    if (typeof value !== "string") {
      throw new TypeError(
        `Cannot register a thing: parameter ${JSON.stringify(key)} is not a string`,
      );
    }
  }
  return JSON.stringify({ certificateOwnershipToken: token, parameters });
}

/** `provision/json/accepted`. */
export interface RegisterThingAccepted {
  thingName: string;
  deviceConfiguration: Record<string, unknown>;
}

/** Decodes `provision/json/accepted`; a missing `deviceConfiguration` is `{}`. */
export function decodeRegisterThingAccepted(payload: string | Uint8Array): RegisterThingAccepted {
  const what = "RegisterThing accepted reply";
  const body = parseObject(payload, what);
  const thingName = requireString(body, "thingName", what);
  const deviceConfiguration = body.deviceConfiguration ?? {};
  if (!isPlainObject(deviceConfiguration)) {
    throw new ProvisioningError(`Cannot decode ${what}: "deviceConfiguration" is not an object`);
  }
  return { thingName, deviceConfiguration };
}

/** The body of either step's `/rejected` reply. */
export interface ProvisioningRejected {
  statusCode: number;
  errorCode: string;
  errorMessage: string;
}

/** Decodes a `/rejected` reply; a missing `errorMessage` is `""`. */
export function decodeProvisioningRejected(payload: string | Uint8Array): ProvisioningRejected {
  const what = "provisioning rejected reply";
  const body = parseObject(payload, what);
  const { statusCode, errorMessage = "" } = body;
  if (typeof statusCode !== "number" || !Number.isInteger(statusCode)) {
    throw new ProvisioningError(`Cannot decode ${what}: "statusCode" is not an integer`);
  }
  if (typeof errorMessage !== "string") {
    throw new ProvisioningError(`Cannot decode ${what}: "errorMessage" is not a string`);
  }
  return { statusCode, errorCode: requireString(body, "errorCode", what), errorMessage };
}

function parseObject(payload: string | Uint8Array, what: string): Record<string, unknown> {
  let text: string;
  if (typeof payload === "string") {
    text = payload;
  } else if (payload instanceof Uint8Array) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
    } catch {
      throw new ProvisioningError(`Cannot decode ${what}: the payload is not valid UTF-8`);
    }
  } else {
    throw new ProvisioningError(`Cannot decode ${what}: the payload is not text or bytes`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ProvisioningError(
      `Cannot decode ${what}: invalid JSON: ${messageOf(error).slice(0, 200)}`,
    );
  }
  if (!isPlainObject(body)) {
    throw new ProvisioningError(`Cannot decode ${what}: the payload is not a JSON object`);
  }
  return body;
}

function requireString(body: Record<string, unknown>, key: string, what: string): string {
  const value = body[key];
  if (typeof value !== "string" || value.length === 0) {
    throw new ProvisioningError(`Cannot decode ${what}: "${key}" is missing or not a string`);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
