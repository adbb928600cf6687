/**
 * Topic names and filters against MQTT 3.1.1 §4.7: the spec's own examples
 * as tables, and properties that hold for any topic.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { filterProblem, topicMatches, topicNameProblem } from "../../protocols/mqtt_topic.ts";

Deno.test("topicMatches follows the examples of MQTT 3.1.1 §4.7", () => {
  const table: [filter: string, topic: string, matches: boolean][] = [
    // §4.7.1.2 multi-level wildcard
    ["sport/tennis/player1/#", "sport/tennis/player1", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
    ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
    ["sport/tennis/player1/#", "sport/tennis/player2", false],
    ["sport/#", "sport", true],
    ["#", "sport/tennis/player1", true],
    ["#", "/", true],
    // §4.7.1.3 single-level wildcard
    ["sport/tennis/+", "sport/tennis/player1", true],
    ["sport/tennis/+", "sport/tennis/player2", true],
    ["sport/tennis/+", "sport/tennis/player1/ranking", false],
    ["sport/+", "sport", false],
    ["sport/+", "sport/", true],
    ["+/+", "/finance", true],
    ["/+", "/finance", true],
    ["+", "/finance", false],
    ["+/tennis/#", "sport/tennis/player1", true],
    ["sport/+/player1", "sport/tennis/player1", true],
    // §4.7.2 topics beginning with $
    ["#", "$SYS/monitor/Clients", false],
    ["+/monitor/Clients", "$SYS/monitor/Clients", false],
    ["$SYS/#", "$SYS/monitor/Clients", true],
    ["$SYS/monitor/+", "$SYS/monitor/Clients", true],
    // §4.7.3 case-sensitive, no normalisation
    ["ACCOUNTS", "Accounts", false],
    ["Accounts payable", "Accounts payable", true],
    ["/finance", "finance", false],
    ["finance/", "finance", false],
  ];
  deepEqual(
    table.map(([filter, topic]) => [filter, topic, topicMatches(filter, topic)]),
    table,
  );
});

Deno.test("filterProblem accepts valid filters and says what is wrong with the others", () => {
  for (
    const filter of ["sport/tennis/#", "#", "+", "+/tennis/#", "sport/+/player1", "/", "sport/"]
  ) {
    equal(filterProblem(filter), undefined, filter);
  }
  const problems: [string, RegExp][] = [
    ["", /cannot be empty/],
    ["sport/tennis#", /"#" must be a whole level and the last one, in "sport\/tennis#"/],
    ["sport/tennis/#/ranking", /"#" must be a whole level and the last one/],
    ["sport+", /"\+" must be a whole level, in "sport\+"/],
    ["sport/+tennis", /"\+" must be a whole level/],
    ["a\0b", /U\+0000/],
  ];
  for (const [filter, expected] of problems) {
    const problem = filterProblem(filter);
    ok(problem !== undefined && expected.test(problem), `${JSON.stringify(filter)}: ${problem}`);
  }
});

Deno.test("topicNameProblem refuses empty names, wildcards and U+0000", () => {
  for (const topic of ["a/b", "/", "sport/", "$SYS/broker/uptime", "with space"]) {
    equal(topicNameProblem(topic), undefined, topic);
  }
  for (const topic of ["", "a/+", "a/#", "+", "#", "a\0"]) {
    ok(topicNameProblem(topic) !== undefined, JSON.stringify(topic));
  }
  ok(topicNameProblem("a/+/b")!.includes('"a/+/b"'), "the message quotes the topic");
});

/** One level of a topic name: anything but "/", "+", "#" and U+0000 (may be empty). */
const level = fc.string({ maxLength: 6 }).filter((s) => !/[/+#\0]/.test(s));
/** A valid topic name as its levels; often a "$" topic, which wildcards treat specially. */
const topicLevels = fc
  .tuple(fc.oneof(level, level.map((l) => `$${l}`)), fc.array(level, { maxLength: 5 }))
  .map(([first, rest]) => [first, ...rest])
  .filter((levels) => levels.join("/").length > 0);

Deno.test("property: every generated topic is a valid name and a valid filter", () => {
  fc.assert(fc.property(topicLevels, (levels) => {
    const topic = levels.join("/");
    return topicNameProblem(topic) === undefined && filterProblem(topic) === undefined;
  }));
});

Deno.test("property: a filter without wildcards matches exactly its own topic", () => {
  fc.assert(fc.property(topicLevels, topicLevels, (a, b) => {
    const [x, y] = [a.join("/"), b.join("/")];
    return topicMatches(x, x) && topicMatches(x, y) === (x === y);
  }));
});

Deno.test("property: replacing levels with + still matches, except a first level starting with $", () => {
  fc.assert(fc.property(
    topicLevels,
    fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    (levels, replace) => {
      const topic = levels.join("/");
      const filter = levels.map((l, i) => (replace[i] ? "+" : l)).join("/");
      const hidesDollar = replace[0] && topic.startsWith("$");
      return filterProblem(filter) === undefined && topicMatches(filter, topic) === !hidesDollar;
    },
  ));
});

Deno.test('property: "#" matches every topic not starting with "$", and a prefix/# its whole subtree', () => {
  fc.assert(fc.property(topicLevels, fc.nat(6), (levels, cut) => {
    const topic = levels.join("/");
    if (topicMatches("#", topic) === topic.startsWith("$")) return false;
    const prefix = levels.slice(0, Math.min(cut, levels.length - 1) + 1);
    const filter = [...prefix, "#"].join("/");
    return filterProblem(filter) === undefined && topicMatches(filter, topic);
  }));
});

Deno.test("property: a filter one level longer than the topic never matches unless it ends in #", () => {
  fc.assert(fc.property(topicLevels, level, (levels, extra) => {
    const topic = levels.join("/");
    return !topicMatches([...levels, extra].join("/"), topic) &&
      !topicMatches([...levels, "+"].join("/"), topic) &&
      topicMatches([...levels, "#"].join("/"), topic);
  }));
});
