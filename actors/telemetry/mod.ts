/**
 * Telemetry that is never lost: producers append to the durable
 * {@link Outbox}; one drain actor (drain.ts) per cloud publishes it through
 * that cloud's MqttLink and deletes what the broker acknowledged.
 *
 * ```
 * producers ──append──▶ Outbox (SQLite) ──peek──▶ drain:<cloud> ──publish──▶ MqttLink
 *                            ▲                          │
 *                            └──────────ack─────────────┘
 * ```
 *
 * @module
 */
export {
  Outbox,
  type OutboxDrop,
  type OutboxOptions,
  type OutboxRecord,
  type StoredRecord,
} from "./outbox.ts";
export type { SeqRecovery } from "./seq_allocator.ts";
