/**
 * The apps known to the local API, in SQLite: each provisioned client's id
 * (the CN of its certificate), the name its CSR asked for, its certificate
 * serial, and its state. `pending` waits for the operator (approval mode),
 * `active` may connect on the mutual-TLS port, `revoked` (deprovisioned or
 * refused) never again: a certificate whose client is not `active` with
 * that serial is refused even though the CA signed it.
 *
 * A revocation is announced to `onRevoked` listeners, whoever revoked (the
 * app's `/delete`, the operator's `reject`): the API port listens and cuts
 * the client's open connections off.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { getLogger } from "../runtime/logging.ts";
import { migrate, statementCache } from "../store/database.ts";

/** A client's state. */
export type ClientState = "pending" | "active" | "revoked";

/** One known client. */
export interface LocalApiClientRecord {
  /** 32 hex characters, the CN of its certificate. */
  clientId: string;
  /** The CN the app put in its CSR (its own name for itself). */
  name: string;
  /** sha256 hex of the CSR PEM: the `/certBack/<hash>` it waits on. */
  csrHash: string;
  /** pending, active or revoked. */
  state: ClientState;
  /** The certificate serial (hex) once signed. */
  serial?: string;
  /** When it first asked, ms since 1970. */
  createdAt: number;
}

const STEPS = [
  `CREATE TABLE local_api_clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    csr_hash TEXT NOT NULL,
    csr_pem TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'revoked')),
    serial TEXT,
    cert_pem TEXT,
    created_at INTEGER NOT NULL
  )`,
];

interface Row {
  client_id: string;
  name: string;
  csr_hash: string;
  state: ClientState;
  serial: string | null;
  created_at: number;
}

/** Told the id of a client just revoked; called synchronously inside `revoke`. */
export type RevocationListener = (clientId: string) => void;

const log = getLogger("local-api", "clients");

/** The known-clients table. */
export class ClientRegistry {
  // Statements are compiled once: preparing one per call cost more than running it.
  readonly #statement: (sql: string) => StatementSync;
  readonly #revocationListeners = new Set<RevocationListener>();

  constructor(private readonly db: DatabaseSync) {
    migrate(db, "local_api_clients", STEPS);
    this.#statement = statementCache(db);
  }

  /** Records a new client asking for a certificate. */
  add(
    record: { clientId: string; name: string; csrHash: string; csrPem: string; state: ClientState },
  ): void {
    this.#statement(
      "INSERT INTO local_api_clients (client_id, name, csr_hash, csr_pem, state, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(record.clientId, record.name, record.csrHash, record.csrPem, record.state, Date.now());
  }

  /** Marks a client active with the certificate it was given. */
  activate(clientId: string, serial: string, certPem: string): void {
    this.#statement(
      "UPDATE local_api_clients SET state = 'active', serial = ?, cert_pem = ? WHERE client_id = ?",
    ).run(serial, certPem, clientId);
  }

  /** The certificate an active client was given. */
  certificateOf(clientId: string): string | undefined {
    const row = this.#statement(
      "SELECT cert_pem FROM local_api_clients WHERE client_id = ? AND state = 'active'",
    ).get(clientId) as { cert_pem: string | null } | undefined;
    return row?.cert_pem ?? undefined;
  }

  /**
   * Marks a client revoked and tells the `onRevoked` listeners; true when it
   * existed and was not revoked yet (only then are the listeners told).
   */
  revoke(clientId: string): boolean {
    const { changes } = this.#statement(
      "UPDATE local_api_clients SET state = 'revoked' WHERE client_id = ? AND state != 'revoked'",
    ).run(clientId);
    if (Number(changes) === 0) return false;
    for (const listener of [...this.#revocationListeners]) {
      // The revocation is stored: a failing listener must not make it look undone to the caller.
      try {
        listener(clientId);
      } catch (error) {
        log.error("A listener failed on the revocation of {clientId}: {error}", {
          clientId,
          error,
        });
      }
    }
    return true;
  }

  /** Calls `listener` on every revocation from now on; the returned function stops that. */
  onRevoked(listener: RevocationListener): () => void {
    this.#revocationListeners.add(listener);
    return () => this.#revocationListeners.delete(listener);
  }

  /** One client, or undefined. */
  get(clientId: string): LocalApiClientRecord | undefined {
    const row = this.#statement("SELECT * FROM local_api_clients WHERE client_id = ?").get(
      clientId,
    ) as
      | Row
      | undefined;
    return row && toRecord(row);
  }

  /** The CSR PEM a pending client sent. */
  csrOf(clientId: string): string | undefined {
    const row = this.#statement("SELECT csr_pem FROM local_api_clients WHERE client_id = ?").get(
      clientId,
    ) as { csr_pem: string } | undefined;
    return row?.csr_pem;
  }

  /** The client waiting on `csrHash` (not revoked), if any: a repeated request is not a new client. */
  byCsrHash(csrHash: string): LocalApiClientRecord | undefined {
    const row = this.#statement(
      "SELECT * FROM local_api_clients WHERE csr_hash = ? AND state != 'revoked' ORDER BY created_at DESC LIMIT 1",
    ).get(csrHash) as Row | undefined;
    return row && toRecord(row);
  }

  /** True when `clientId` is active and its certificate has `serial`. */
  accepts(clientId: string, serial: string): boolean {
    const record = this.get(clientId);
    return record?.state === "active" && record.serial !== undefined &&
      sameSerial(record.serial, serial);
  }

  /** Every client in `state`, oldest first. */
  list(state?: ClientState): LocalApiClientRecord[] {
    const rows =
      (state === undefined
        ? this.#statement("SELECT * FROM local_api_clients ORDER BY created_at").all()
        : this.#statement("SELECT * FROM local_api_clients WHERE state = ? ORDER BY created_at")
          .all(
            state,
          )) as unknown as Row[];
    return rows.map(toRecord);
  }
}

// TLS stacks print serials in upper or lower case, with or without leading zeros.
function sameSerial(a: string, b: string): boolean {
  const clean = (s: string) => s.toLowerCase().replace(/[^0-9a-f]/g, "").replace(/^0+/, "");
  return clean(a) === clean(b) && clean(a) !== "";
}

function toRecord(row: Row): LocalApiClientRecord {
  return {
    clientId: row.client_id,
    name: row.name,
    csrHash: row.csr_hash,
    state: row.state,
    ...(row.serial === null ? {} : { serial: row.serial }),
    createdAt: row.created_at,
  };
}
