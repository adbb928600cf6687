/**
 * What an embedding app plugs into the agent: handlers for desired state
 * and for commands. One registry per agent, shared by every cloud session,
 * so a command answers the same whichever cloud sent it.
 */

/**
 * Applies a desired-state document. Returns the keys it applied (with the
 * values to report); `undefined` means "applied all of them as given".
 * Throwing rejects the document: nothing is reported.
 */
export type DesiredHandler = (
  desired: Record<string, unknown>,
  version: number,
) => Record<string, unknown> | void | Promise<Record<string, unknown> | void>;

/** Where a command came from. */
export interface CommandContext {
  /** The command's name, from its topic. */
  name: string;
  /** The cloud's request id, echoed in the response topic. */
  requestId: string;
  /** The configured name of the cloud that sent it. */
  cloud: string;
}

/** Answers a command; the return value is the response body (status 200). */
export type CommandHandler = (payload: unknown, context: CommandContext) => unknown;

/** The handlers of one agent. */
export class HandlerRegistry {
  /** The desired-state handlers, in the order they were added. */
  readonly desired = new Set<DesiredHandler>();
  /** The command handlers by command name. */
  readonly commands = new Map<string, CommandHandler>();

  /** Adds a desired-state handler; returns a function that removes it. */
  onDesired(handler: DesiredHandler): () => void {
    this.desired.add(handler);
    return () => void this.desired.delete(handler);
  }

  /** Sets the handler of command `name` (replacing a built-in); returns a function that removes it. */
  onCommand(name: string, handler: CommandHandler): () => void {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
      throw new TypeError(
        `Command name must match [A-Za-z0-9._-]{1,64}, got ${JSON.stringify(name)}`,
      );
    }
    this.commands.set(name, handler);
    return () => {
      if (this.commands.get(name) === handler) this.commands.delete(name);
    };
  }

  /**
   * Runs every desired handler on `desired` and merges what they applied.
   * With no handler registered nothing is applied.
   */
  async applyDesired(
    desired: Record<string, unknown>,
    version: number,
  ): Promise<Record<string, unknown>> {
    const applied: Record<string, unknown> = {};
    for (const handler of this.desired) {
      const result = await handler(structuredClone(desired), version);
      Object.assign(applied, result === undefined ? desired : result);
    }
    return applied;
  }
}
