/**
 * Device-to-cloud messages of an Azure cloud, as records for the outbox:
 * JSON telemetry on `devices/<id>/messages/events/<bag>` with `$.mid`,
 * `$.ct`, `$.ce`, the message's own properties and `$.sub` for a component
 * (PROTOCOLS.md §3). The outbox's drain publishes them at QoS 1.
 */
import { getLogger } from "../runtime/logging.ts";
import type { CloudEncoder, EncodedRecord } from "../cloud/encoder.ts";
import { SYSTEM_PROPERTIES, telemetryTopic } from "../../protocols/azure_topics.ts";

/** IoT Hub's largest device-to-cloud message. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/** How one message is sent. */
export interface AzureMessageOptions {
  /** Custom properties; `$.sub` (or {@link component}) names a component. */
  properties?: Record<string, string>;
  /** The Plug and Play component the telemetry belongs to (`$.sub`). */
  component?: string;
  /** `$.mid`; default a random UUID. */
  messageId?: string;
  /** `$.ct`; default `application/json`. */
  contentType?: string;
  /** `$.ce`; default `utf-8`. */
  contentEncoding?: string;
}

const log = getLogger("azure");

/**
 * One telemetry message as an outbox record.
 *
 * @throws {RangeError} when the payload is over 256 KB.
 */
export function azureMessage(
  deviceId: string,
  data: unknown,
  options: AzureMessageOptions = {},
): EncodedRecord {
  const payload = typeof data === "string" ? data : JSON.stringify(data);
  const size = new TextEncoder().encode(payload).length;
  if (size > MAX_MESSAGE_BYTES) {
    throw new RangeError(`An IoT Hub message holds at most 256 KB; this one has ${size} bytes`);
  }
  const bag: Record<string, string> = {
    [SYSTEM_PROPERTIES.messageId]: options.messageId ?? crypto.randomUUID(),
    [SYSTEM_PROPERTIES.contentType]: options.contentType ?? "application/json",
    [SYSTEM_PROPERTIES.contentEncoding]: options.contentEncoding ?? "utf-8",
  };
  for (const [key, value] of Object.entries(options.properties ?? {})) {
    if (key === SYSTEM_PROPERTIES.component) continue;
    bag[key] = String(value);
  }
  const component = options.component ?? options.properties?.[SYSTEM_PROPERTIES.component];
  if (component) bag[SYSTEM_PROPERTIES.component] = component;
  return { topic: telemetryTopic(deviceId, bag), payload, qos: 1 };
}

/**
 * How the agent's records become IoT Hub telemetry: the values as the JSON
 * body, the stream name as the `stream` property; events carry
 * `{type, text, data}` with an `event` property. A record over 256 KB is
 * replaced by a small notice, so that one bad record cannot stall the outbox.
 *
 * @example
 * ```ts
 * azureEncoder("central", () => "dev-1").telemetry(1, new Date(0), "climate", { celsius: 21 }).topic;
 * // "devices/dev-1/messages/events/%24.mid=…&%24.ct=application%2Fjson&%24.ce=utf-8&stream=climate"
 * ```
 */
export function azureEncoder(name: string, deviceId: () => string): CloudEncoder {
  const encode = (what: string, data: unknown, properties: Record<string, string>) => {
    try {
      return azureMessage(deviceId(), data, { properties });
    } catch (error) {
      log.error("Cloud {cloud}: {what} dropped: {error}", {
        cloud: name,
        what,
        error: (error as Error).message,
      });
      return azureMessage(deviceId(), { outpostDropped: what }, { properties });
    }
  };
  return {
    name,
    telemetry: (_seq, _ts, stream, values) => encode(`telemetry "${stream}"`, values, { stream }),
    event: (_seq, ts, type, text, data) =>
      encode(`event "${type}"`, { type, text, time: ts.toISOString(), ...(data && { data }) }, {
        event: type,
      }),
  };
}
