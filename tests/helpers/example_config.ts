/**
 * The commented-out cloud blocks of outpost.example.toml: each must stay
 * valid, put a comment above every key, set every key its cloud type has,
 * and name each key in docs/configuration.md.
 */
import { match, ok } from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { configFileSchema, parseConfig } from "../../actors/agent/config.ts";
import { schemaCore } from "../../actors/agent/config_env.ts";
import type { Config } from "../../actors/agent/config_types.ts";

/** Checks the block `# [clouds.<name>]` (of cloud type `type`); returns the config it makes. */
export function checkExampleBlock(name: string, type: string): Config {
  const text = Deno.readTextFileSync(new URL("../../outpost.example.toml", import.meta.url));
  const lines = text.split("\n");
  const start = lines.indexOf(`# [clouds.${name}]`);
  ok(start > 0, `no commented [clouds.${name}] block`);
  // The block runs to the first line that is not a comment.
  const end = lines.findIndex((line, i) => i > start && !line.startsWith("#"));
  const block = lines.slice(start, end === -1 ? undefined : end).map((line) =>
    line.replace(/^# ?/, "")
  );
  for (const [i, line] of block.entries()) {
    if (/^\w+ = /.test(line)) match(block[i - 1], /^#/, `no comment above "${line}"`);
  }
  const raw = parseToml(block.join("\n")) as { clouds: Record<string, Record<string, unknown>> };
  const config = parseConfig(`[agent]\ndeviceId = "outpost-1"\n` + block.join("\n"), {
    env: {},
    hostname: "h",
  });
  const cloudSchema = (schemaCore(configFileSchema().shape.clouds) as z.ZodRecord)
    .valueType as z.ZodType;
  const option = schemaCore(cloudSchema, { type }) as z.ZodObject;
  const docs = Deno.readTextFileSync(new URL("../../docs/configuration.md", import.meta.url));
  for (const [key, value] of Object.entries(option.shape)) {
    const inner = schemaCore(value as z.ZodType);
    // A key the type refuses with a reason (Azure's url and urls) is not one to set.
    if (inner instanceof z.ZodNever) continue;
    // A table gives url or urls, not both: the block sets url and shows urls in a comment.
    if (key === "urls") {
      ok(block.some((line) => line.startsWith("# urls = [")), "example lacks a commented urls");
      continue;
    }
    const keys = inner instanceof z.ZodObject
      ? Object.keys(inner.shape).map((k) => `${key}.${k}`)
      : [key];
    for (const path of keys) {
      const [a, b] = path.split(".");
      const table = raw.clouds[name][a] as Record<string, unknown>;
      ok((b === undefined ? table : table?.[b]) !== undefined, `example lacks ${path}`);
      if (
        [
          "url",
          "caFile",
          "certFile",
          "keyFile",
          "insecure",
          "cleanSession",
          "keepaliveSec",
          "backoff",
        ]
          .includes(a) && b === undefined
      ) continue;
      ok(docs.includes(`\`clouds.<name>.${path}\``), `docs lack clouds.<name>.${path}`);
    }
  }
  return config;
}
