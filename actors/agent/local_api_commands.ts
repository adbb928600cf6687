/**
 * The control endpoint's commands for the local API's approval mode
 * (`outpost clients|approve|reject`).
 */
import type { LocalApi } from "../local_api/mod.ts";

/** The operator's side of the local API's approval mode: `outpost clients|approve|reject`. */
export function localApiCommands(localApi: LocalApi | undefined) {
  const live = () => {
    if (!localApi) throw new Error("The local API is not enabled: set [localApi] enabled = true");
    return localApi;
  };
  const clientId = (args: string[]) => {
    if (args.length !== 1 || !/^[0-9a-f]{32}$/.test(args[0])) {
      throw new Error(`Expected one client id of 32 hex characters, got ${JSON.stringify(args)}`);
    }
    return args[0];
  };
  return {
    clients: () => live().clients(),
    approve: async (args: string[]) => {
      await live().approve(clientId(args));
      return live().clients().find((c) => c.clientId === args[0]);
    },
    reject: async (args: string[]) => {
      await live().reject(clientId(args));
      return live().clients().find((c) => c.clientId === args[0]);
    },
  };
}
