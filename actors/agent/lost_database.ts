/**
 * A state database that was missing or empty at start, next to earlier
 * state: the one moment the agent can tell that queued records were lost
 * (docs/agent.md, "The store").
 */
import { getLogger } from "../runtime/logging.ts";
import type { surveyStateDir } from "../store/state_dir.ts";
import type { Outbox } from "../telemetry/outbox.ts";

const log = getLogger("agent");

/**
 * The database was missing or empty where earlier runs left state: SQLite
 * made a fresh one, and whatever the old one queued is gone. Said loudly,
 * in the log and as a `store.recreated` event to every cloud, since the
 * seq gap it leaves is a real loss.
 */
export function reportLostDatabase(
  survey: ReturnType<typeof surveyStateDir>,
  outbox: Outbox,
): { text: string; data: Record<string, unknown> } | undefined {
  if (survey.database === "present" || survey.otherState.length === 0) return undefined;
  const recovery = outbox.seqRecovery;
  const text = `The state database ${survey.databaseFile} was ${survey.database}; ` +
    `a new one was created and any records the old one queued are lost` +
    (recovery ? `; seqs continue from ${recovery.firstSeq} (${recovery.ceilingFile})` : "");
  log.error("{text}. The state directory still holds: {files}", {
    text,
    files: survey.otherState.join(", "),
  });
  return {
    text,
    data: {
      databaseFile: survey.databaseFile,
      database: survey.database,
      ...recovery ? { firstSeq: recovery.firstSeq } : {},
    },
  };
}
