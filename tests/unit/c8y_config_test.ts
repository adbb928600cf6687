/**
 * The `c8y` cloud type's configuration: the example file's commented
 * block, the documentation, the errors, and how a shell operation's
 * command line is split.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { parseConfig } from "../../actors/agent/config.ts";
import { splitCommandLine } from "../../actors/c8y/commands.ts";
import { checkExampleBlock } from "../helpers/example_config.ts";

// The example file holds the c8y cloud as a commented-out block; it must stay valid and complete.
Deno.test("the example's c8y block is valid, sets every c8y key under a comment, and the docs name them", () => {
  const cloud = checkExampleBlock("c8y", "c8y").clouds.c8y;
  equal(cloud.type, "c8y");
  if (cloud.type === "c8y") equal(cloud.clientId, "d:outpost-1");
});

Deno.test("c8y configuration mistakes name their key", () => {
  const issues = (cloud: string) => {
    try {
      parseConfig(`[clouds.c]\ntype = "c8y"\nurl = "mqtts://c8y.example"\n${cloud}`, { env: {} });
    } catch (error) {
      return (error as { issues: { key: string }[] }).issues.map((i) => i.key);
    }
    return [];
  };
  deepEqual(issues(""), ["clouds.c.password"]);
  deepEqual(issues('password = "p"'), ["clouds.c.tenant"]);
  deepEqual(issues('tenant = "t"\nuser = "u"\npassword = "p"\nserial = "a:b"'), [
    "clouds.c.serial",
  ]);
  deepEqual(issues('tenant = "t"\nuser = "u"\npassword = "p"\nusername = "x"'), [
    "clouds.c.username",
  ]);
  deepEqual(issues("[clouds.c.bootstrap]\nenabled = true"), ["clouds.c.bootstrap.password"]);
  deepEqual(
    issues('tenant = "t"\nuser = "u"\npassword = "p"\n[clouds.c.restart]\nenabled = true'),
    ["clouds.c.restart.command"],
  );
  deepEqual(
    issues(
      'tenant = "t"\nuser = "u"\npassword = "p"\n[clouds.c.bootstrap]\nenabled = true\npassword = "b"',
    ),
    ["clouds.c.bootstrap.enabled"],
  );
  equal(
    issues('tenant = "t"\nuser = "u"\npassword = "p"\nremoteAccessUrl = "ftp://x"')[0],
    "clouds.c.remoteAccessUrl",
  );
  deepEqual(issues('tenant = "t"\nuser = "u"\npassword = "p"'), []);
  const login = 'tenant = "t"\nuser = "u"\npassword = "p"\n[clouds.c.operations]\n';
  deepEqual(issues(login + 'commands = { c8y_MyOp = "my.command", outpost_Other = "x" }'), []);
  deepEqual(issues(login + 'commands = { c8y_Restart = "reboot" }'), [
    "clouds.c.operations.commands.c8y_Restart",
  ]);
  deepEqual(issues(login + 'commands = { outpost_Support = "chat" }'), [
    "clouds.c.operations.commands.outpost_Support",
  ]);
  deepEqual(issues(login + 'commands = { "my op" = "x", status = "y" }'), [
    'clouds.c.operations.commands."my op"',
    "clouds.c.operations.commands.status",
  ]);
  deepEqual(issues(login + 'commands = { c8y_MyOp = "no spaces" }'), [
    "clouds.c.operations.commands.c8y_MyOp",
  ]);
  deepEqual(issues(login + 'commands = ["c8y_MyOp"]'), ["clouds.c.operations.commands"]);
  deepEqual(issues(login + "support = 1"), ["clouds.c.operations.support"]);
});

Deno.test("the operations table defaults to no commands and no support", () => {
  const config = parseConfig(
    '[clouds.c]\ntype = "c8y"\nurl = "mqtts://c8y.example"\ntenant = "t"\nuser = "u"\npassword = "p"',
    { env: {} },
  );
  const cloud = config.clouds.c;
  if (cloud.type !== "c8y") throw new Error("not c8y");
  deepEqual(cloud.operations, { commands: {}, support: false });
});

Deno.test("a command line splits into words as a shell would, with nothing expanded", () => {
  deepEqual(splitCommandLine(`grep -c "a b" 'it''s' x\\ y "\\$HOME" *`), [
    "grep",
    "-c",
    "a b",
    "its",
    "x y",
    "$HOME",
    "*",
  ]);
  deepEqual(splitCommandLine("  uptime  "), ["uptime"]);
  deepEqual(splitCommandLine('echo ""'), ["echo", ""]);
  for (const bad of ["", "   ", "echo 'a", 'echo "a', "echo \\"]) {
    let threw = false;
    try {
      splitCommandLine(bad);
    } catch {
      threw = true;
    }
    ok(threw, JSON.stringify(bad));
  }
});
