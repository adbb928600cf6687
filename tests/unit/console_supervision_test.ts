/**
 * The console is its own supervised subtree: when it cannot serve (its port
 * is taken) it restarts by itself with a backoff, and neither the clouds
 * nor the root's restart intensity notice.
 */
import { equal } from "node:assert/strict";
import { Condition } from "../helpers/condition.ts";
import { startAedes } from "../helpers/brokers.ts";
import { testAgent } from "../helpers/agent.ts";
import type { ActorTreeNode } from "../../actors/runtime/node.ts";

function find(node: ActorTreeNode, path: string): ActorTreeNode | undefined {
  if (node.path === path) return node;
  for (const child of node.children) {
    const found = find(child, path);
    if (found) return found;
  }
  return undefined;
}

Deno.test("a console that cannot bind its port restarts alone; the cloud and the root never notice", async () => {
  const broker = await startAedes();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { agent, stateDir } = await testAgent({
    url: broker.url,
    extra: `\n[console]\nenabled = true\nport = ${taken.addr.port}\n`,
  });
  try {
    await agent.start();
    await agent.connected();
    // The first restart waits about a second (the console's backoff), the second two.
    await new Condition().until(
      "console/http restarted twice",
      () => (find(agent.tree(), "agent/console/http")?.restarts ?? 0) >= 2,
      { timeoutMs: 10_000, pollMs: 50, context: () => JSON.stringify(agent.tree()) },
    );
    const tree = agent.tree();
    equal(tree.status, "running");
    equal(tree.restarts, 0);
    equal(find(tree, "agent/console")?.restarts, 0, "its own supervisor handled it");
    equal(find(tree, "agent/console/recorder")?.restarts, 0, "one_for_one: the recorder ran on");
    const connection = find(tree, "agent/cloud:test/connection")!;
    equal(connection.restarts, 0);
    equal(connection.state, "connected");
    equal(agent.status().clouds[0].connected, true);
  } finally {
    taken.close();
    await agent.stop();
    await broker.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
