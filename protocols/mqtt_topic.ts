/**
 * MQTT topic names and filters (MQTT 3.1.1 §4.7): pure checks and matching.
 */

/** True when `topic` (a name, no wildcards) matches `filter` (may hold `+` and `#`). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  // Wildcards at the first level do not match topics starting with "$" (§4.7.2).
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Why `filter` is not a valid subscription filter, or undefined when it is. */
export function filterProblem(filter: string): string | undefined {
  if (filter.length === 0) return "a topic filter cannot be empty";
  if (filter.includes("\0")) return "a topic filter cannot contain U+0000";
  const levels = filter.split("/");
  for (const [i, level] of levels.entries()) {
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      return `"#" must be a whole level and the last one, in "${filter}"`;
    }
    if (level.includes("+") && level !== "+") {
      return `"+" must be a whole level, in "${filter}"`;
    }
  }
  return undefined;
}

/** Why `topic` cannot be published to, or undefined when it can. */
export function topicNameProblem(topic: string): string | undefined {
  if (topic.length === 0) return "a topic name cannot be empty";
  if (/[+#\0]/.test(topic)) return `a topic name cannot contain "+", "#" or U+0000: "${topic}"`;
  return undefined;
}
