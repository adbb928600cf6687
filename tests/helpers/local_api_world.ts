/**
 * The `local-api` subtree alone, on free loopback ports, with its state in
 * a temporary directory and pushed values recorded instead of stored.
 */
import { DatabaseSync } from "node:sqlite";
import { LocalApi, type LocalApiModule } from "../../actors/local_api/mod.ts";
import { createSystem } from "../../actors/runtime/system.ts";
import type { ActorTreeNode } from "../../actors/runtime/node.ts";
import { openDatabase } from "../../actors/store/database.ts";

/** A pushed record as the TelemetryRouter would have received it. */
export interface PublishedRecord {
  stream: string;
  values: Record<string, unknown>;
  ts: Date;
}

/** A running local API for tests. */
export interface LocalApiWorld {
  api: LocalApi;
  caPem: string;
  provisioningPort: number;
  apiPort: number;
  stateDir: string;
  published: PublishedRecord[];
  /** Restarts so far anywhere in the subtree (0 while nothing crashed). */
  restarts(): number;
  /** Makes the next publishes throw (an outbox that cannot store). */
  failPublish: boolean;
  /** Makes the next publishes never settle (a push that is never answered). */
  holdPublish: boolean;
  stop(): Promise<void>;
}

/** Options of {@link startLocalApiWorld}. */
export interface WorldOptions {
  approval?: "auto" | "operator";
  stateDir?: string;
  modules?: LocalApiModule[];
}

/** Starts the subtree; `stop()` closes everything and removes the state unless it was given. */
export async function startLocalApiWorld(options: WorldOptions = {}): Promise<LocalApiWorld> {
  const stateDir = options.stateDir ?? await Deno.makeTempDir({ prefix: "outpost-local-api-" });
  const db: DatabaseSync = openDatabase(stateDir);
  const published: PublishedRecord[] = [];
  const world = { failPublish: false, holdPublish: false } as LocalApiWorld;
  const api = new LocalApi({
    settings: {
      host: "127.0.0.1",
      provisioningPort: 0,
      apiPort: 0,
      caCertPath: `${stateDir}/apps/TeamViewerAuthority.crt`,
      approval: options.approval ?? "auto",
    },
    stateDir,
    db,
    modules: options.modules,
    publish: (stream, values, ts) => {
      if (world.failPublish) return Promise.reject(new Error("the outbox is closed"));
      if (world.holdPublish) return new Promise(() => {});
      published.push({ stream, values, ts });
      return Promise.resolve(published.length);
    },
  });
  const system = createSystem(api.spec());
  await system.start();
  await api.ready();
  const ports = api.ports();
  return Object.assign(world, {
    api,
    caPem: await Deno.readTextFile(`${stateDir}/apps/TeamViewerAuthority.crt`),
    provisioningPort: ports.provisioning!,
    apiPort: ports.api!,
    stateDir,
    published,
    restarts: () => countRestarts(system.tree()),
    async stop() {
      await system.stop();
      db.close();
      if (!options.stateDir) await Deno.remove(stateDir, { recursive: true });
    },
  });
}

function countRestarts(node: ActorTreeNode): number {
  return node.restarts + (node.children ?? []).reduce((sum, c) => sum + countRestarts(c), 0);
}
