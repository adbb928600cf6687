import assert from "node:assert/strict";
import {
  expandStrings,
  expandTemplate,
  placeholdersIn,
  stringsIn,
  templateProblem,
} from "../../actors/fleet/template.ts";

Deno.test("{n} is the device's number, {n:width} zero-padded, {id} its device id", () => {
  assert.equal(expandTemplate("sim-{n}", { n: 7 }), "sim-7");
  assert.equal(expandTemplate("sim-{n:4}", { n: 7 }), "sim-0007");
  assert.equal(expandTemplate("sim-{n:2}", { n: 1234 }), "sim-1234", "a width never cuts digits");
  assert.equal(expandTemplate("fleet-{id}/{n}", { n: 3, id: "sim-3" }), "fleet-sim-3/3");
  assert.equal(expandTemplate("plain", { n: 3 }), "plain");
});

Deno.test("{{ and }} write a brace; anything that is not a placeholder stays as written", () => {
  assert.equal(expandTemplate("{{n}} is {n}", { n: 5 }), "{n} is 5");
  assert.equal(expandTemplate("a{b c}d {1}", { n: 5 }), "a{b c}d {1}");
  assert.equal(templateProblem("{{x}}"), undefined);
});

Deno.test("an unknown placeholder, or a width on {id}, is a problem that names it", () => {
  assert.match(templateProblem("sim-{x}")!, /unknown placeholder "\{x\}" \(known: \{n\}, \{id\}/);
  assert.match(templateProblem("sim-{id}", ["n"])!, /unknown placeholder "\{id\}" \(known: \{n\};/);
  assert.match(templateProblem("{id:3}")!, /only \{n\} takes/);
  assert.equal(templateProblem("dev-{n:5}-{id}"), undefined);
});

Deno.test("{id} is left alone while the id itself is being made", () => {
  assert.equal(expandTemplate("x-{id}", { n: 1 }), "x-{id}");
});

Deno.test("placeholdersIn lists the placeholders used", () => {
  assert.deepEqual([...placeholdersIn("{n:3}-{id}-{{n}}")], ["n", "id"]);
});

Deno.test("expandStrings expands every string of a table, lists included, and copies it", () => {
  const table = {
    type: "mqtt",
    clientId: "c-{n}",
    urls: ["mqtt://a-{n}:1883", "mqtt://b:1883"],
    backoff: { minMs: 20, note: "{id}" },
    insecure: false,
  };
  const expanded = expandStrings(table, { n: 9, id: "sim-9" });
  assert.deepEqual(expanded, {
    type: "mqtt",
    clientId: "c-9",
    urls: ["mqtt://a-9:1883", "mqtt://b:1883"],
    backoff: { minMs: 20, note: "sim-9" },
    insecure: false,
  });
  assert.equal(table.clientId, "c-{n}", "the template is not changed");
});

Deno.test("stringsIn gives each string with its path", () => {
  assert.deepEqual(stringsIn({ hub: { url: "u", list: ["a"] }, n: 1 }, ["clouds"]), [
    [["clouds", "hub", "url"], "u"],
    [["clouds", "hub", "list", 0], "a"],
  ]);
});
