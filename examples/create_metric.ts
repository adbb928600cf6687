/**
 * The TeamViewer IoT SDK's create_metric example, against Outpost's local
 * API: provision (or reuse the certificate in the cert folder), connect,
 * create a sensor with two custom metrics (a string and an integer), push
 * values, list the sensor, and clean up. The values reach every cloud the
 * agent is connected to, on stream `local.<sensorId>`.
 *
 * Run an agent with `[localApi] enabled = true`, then:
 *   deno run -A examples/create_metric.ts
 * Connection parameters, as the SDK names them (environment variables):
 *   MqttHost (127.0.0.1), MqttProvisionPort (18883), MqttPort (18884),
 *   CaFile (.outpost/local-api/ca.crt), CertFolder (./certs)
 */
import { LocalApiClient } from "../actors/facades/local_api.ts";

const env = (name: string, fallback: string) => Deno.env.get(name) || fallback;

const client = new LocalApiClient({
  host: env("MqttHost", "127.0.0.1"),
  provisionPort: Number(env("MqttProvisionPort", "18883")),
  port: Number(env("MqttPort", "18884")),
  caFile: env("CaFile", ".outpost/local-api/ca.crt"),
  certFolder: env("CertFolder", "./certs"),
});

const { clientId, alreadyProvisioned } = await client.provision("create_metric example");
console.log(
  alreadyProvisioned ? "Client is already provisioned." : "Client is successfully provisioned.",
  clientId,
);

await client.connect();
console.log("Secure connection is established.");

try {
  const sensorId = await client.createSensor("sensor_name");
  console.log("Sensor is created:", sensorId);

  const [metric1, metric2] = await client.createMetrics(sensorId, [
    {
      matchingId: 1,
      name: "metric1_name",
      valueAnnotation: "your_value_unit_for_metric1",
      valueType: "string",
    },
    {
      matchingId: 2,
      name: "metric2_name",
      valueAnnotation: "your_value_unit_for_metric2",
      valueType: "integer",
    },
  ]);
  console.log("Metrics are created:", metric1.metricId, metric2.metricId);

  for (let i = 0; i < 3; i++) {
    await client.pushValues(sensorId, [
      { metricId: metric1.metricId, value: `reading ${i}` },
      { metricId: metric2.metricId, value: i },
    ]);
  }
  console.log("Values are pushed.");

  for (const sensor of await client.listSensors()) {
    console.log(`Sensor ${sensor.name} (${sensor.sensorId}): ${sensor.metrics.length} metric(s)`);
  }
  await client.deleteSensor(sensorId);
  console.log("Sensor was deleted.");
} finally {
  await client.close();
}
