/**
 * Azure shared access signatures (PROTOCOLS.md §3), with WebCrypto's
 * HMAC-SHA256: the SAS tokens that IoT Hub and DPS take as the MQTT
 * password, and the device key that a group (enrollment) key derives for
 * one device. Pure apart from the clock the caller passes in.
 *
 * @module
 */

/** What a SAS token signs. */
export interface SasTokenOptions {
  /** The resource URI exactly as it goes into `sr=` (already URL-encoded where the service wants it). */
  resourceUri: string;
  /** The base64 key. */
  key: string;
  /** Expiry in seconds since the epoch. */
  expirySec: number;
  /** Key (policy) name: `registration` for DPS; none for a device on IoT Hub. */
  policy?: string;
}

/** The fields of a parsed SAS token, as written in it. */
export interface SasFields {
  sr: string;
  sig: string;
  se: string;
  skn?: string;
}

const PREFIX = "SharedAccessSignature ";

/** `encodeURIComponent` that also escapes `!'()*`, as the Azure services do. */
export function encodeUriStrict(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Decodes standard base64; throws with a clear message on anything else. */
export function base64Decode(text: string, what = "key"): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0 || text.length === 0) {
    throw new TypeError(`The ${what} is not base64 (got ${text.length} characters)`);
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Encodes bytes as standard base64. */
export function base64Encode(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** base64(HMAC-SHA256(base64decode(key), utf8(message))). */
export async function hmacSha256Base64(key: string, message: string): Promise<string> {
  const raw = base64Decode(key);
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    raw as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", cryptoKey, new TextEncoder().encode(message));
  return base64Encode(new Uint8Array(signature));
}

/**
 * A SAS token: `SharedAccessSignature sr=<uri>&sig=<sig>&se=<expiry>[&skn=<policy>]`.
 *
 * @example
 * ```ts
 * await sasToken({ resourceUri: "hub%2Fdevices%2Fd1", key: "AAAA", expirySec: 1700000000 });
 * ```
 */
export async function sasToken(options: SasTokenOptions): Promise<string> {
  const { resourceUri, key, expirySec, policy } = options;
  if (!Number.isSafeInteger(expirySec) || expirySec <= 0) {
    throw new RangeError(`A SAS expiry must be a positive integer of seconds, got ${expirySec}`);
  }
  if (resourceUri === "") throw new TypeError("A SAS token needs a resource URI");
  const sig = encodeUriStrict(await hmacSha256Base64(key, `${resourceUri}\n${expirySec}`));
  const skn = policy === undefined ? "" : `&skn=${encodeUriStrict(policy)}`;
  return `${PREFIX}sr=${resourceUri}&sig=${sig}&se=${expirySec}${skn}`;
}

/**
 * Reads the fields of a SAS token; throws when it is not one.
 *
 * @example
 * ```ts
 * parseSasToken("SharedAccessSignature sr=a&sig=b&se=1").se; // "1"
 * ```
 */
export function parseSasToken(token: string): SasFields {
  if (!token.startsWith(PREFIX)) {
    throw new TypeError('A SAS token starts with "SharedAccessSignature "');
  }
  const fields: Record<string, string> = {};
  for (const part of token.slice(PREFIX.length).split("&")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new TypeError(`A SAS token field has no name or no "=": "${part}"`);
    fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  for (const name of ["sr", "sig", "se"]) {
    if (!fields[name]) throw new TypeError(`A SAS token lacks its "${name}" field`);
  }
  return { sr: fields.sr, sig: fields.sig, se: fields.se, skn: fields.skn };
}

/**
 * The device key an enrollment group key gives one device:
 * `base64(HMAC-SHA256(base64decode(groupKey), utf8(deviceId)))`.
 *
 * @example
 * ```ts
 * const deviceKey = await deriveDeviceKey("c2VjcmV0LWdyb3VwLWtleQ==", "dev-1");
 * ```
 */
export function deriveDeviceKey(groupKey: string, deviceId: string): Promise<string> {
  return hmacSha256Base64(groupKey, deviceId);
}

/** The `sr` of a device on IoT Hub: `urlencode(<hub>/devices/<deviceId>)`. */
export function hubResourceUri(hub: string, deviceId: string): string {
  return encodeUriStrict(`${hub}/devices/${deviceId}`);
}

/** The `sr` of a DPS registration: `<idScope>/registrations/<registrationId>`. */
export function dpsResourceUri(idScope: string, registrationId: string): string {
  return `${idScope}/registrations/${registrationId}`;
}
