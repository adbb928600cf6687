/**
 * A telemetry producer for crash tests: appends `count` records to the
 * outbox in `<stateDir>` for the cloud "local" and prints one line per
 * committed batch, `committed <first seq> <records>`, then `done`.
 *
 * Each batch is five appends made in the same tick (one group commit) of ten
 * records each, every record stamped with a sequence number from the
 * outbox. A test kills this process at any point and checks the database.
 *
 * Usage: deno run -A tests/helpers/outbox_writer.ts <stateDir> <count>
 */
import { openDatabase } from "../../actors/store/mod.ts";
import { Outbox } from "../../actors/telemetry/mod.ts";

const APPENDS_PER_BATCH = 5;
const RECORDS_PER_APPEND = 10;

const [stateDir, countArg] = Deno.args;
const count = Number(countArg);
if (!stateDir || !Number.isSafeInteger(count) || count < 0) {
  console.error("Usage: outbox_writer.ts <stateDir> <count>");
  Deno.exit(2);
}

const db = openDatabase(stateDir);
const outbox = new Outbox(db);
let written = 0;
while (written < count) {
  const appends: Promise<void>[] = [];
  let first: number | undefined;
  let inBatch = 0;
  for (let a = 0; a < APPENDS_PER_BATCH && written + inBatch < count; a++) {
    const n = Math.min(RECORDS_PER_APPEND, count - written - inBatch);
    const seq = outbox.nextSeq(n);
    first ??= seq;
    inBatch += n;
    appends.push(outbox.append(
      "local",
      Array.from({ length: n }, (_, i) => ({
        topic: "outpost/writer/telemetry/count",
        payload: JSON.stringify({ seq: seq + i }),
        qos: 1 as const,
      })),
    ));
  }
  await Promise.all(appends);
  written += inBatch;
  console.log(`committed ${first} ${inBatch}`);
}
outbox.close();
db.close();
console.log("done");
