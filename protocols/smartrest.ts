/**
 * SmartREST 2.0 CSV, the payload of Cumulocity's MQTT interface
 * (PROTOCOLS.md §1): one message per line, fields separated by `,`, several
 * lines per publish separated by `\n`, at most 16184 bytes per publish.
 *
 * ```
 * 100,"This value, needs escaping",plain      a quoted field
 * 511,dev-1,"echo \"hi\""                      a quote inside is written \"
 * 502,c8y_Command,"line one                    a line break inside a quoted field
 * line two"
 * ```
 *
 * Quoting: a field containing `,`, `"`, a line break, or leading/trailing
 * whitespace is wrapped in `"…"`; inside, `"` is written `\"`. The documents
 * say nothing of a literal backslash, and platforms that only know `\"`
 * would read `\\` as two backslashes, so a backslash is left alone except
 * where it would be misread: before `"`, before another backslash, or at the
 * end of a quoted field it is written `\\`. The decoder mirrors this: inside
 * quotes `\"` is `"`, `\\` is `\`, and any other backslash is literal, so a
 * Windows path or a `\n` typed into a shell command arrives as sent.
 *
 * Outside quotes, spaces and tabs around a field are not part of it (the
 * rule that such fields are quoted implies it), and a stray `"` in the
 * middle of an unquoted field is kept as a literal character.
 *
 * Pure: what arrives from the cloud is untrusted, so the decoders throw only
 * {@link SmartRestError}; what the agent builds itself is checked with
 * ordinary `TypeError`/`RangeError`s, since a bad value there is a bug.
 */

/** The largest payload Cumulocity accepts in one MQTT publish, in bytes. */
export const SMARTREST_PAYLOAD_LIMIT = 16184;

/** One field to encode; `undefined` is an empty field ("not given"). */
export type SmartRestField = string | number | undefined;

/**
 * A SmartREST text that cannot be read, or a line that cannot be sent.
 * `line` and `column` (1-based) say where reading failed, when it did.
 */
export class SmartRestError extends Error {
  /** The line (1-based) where reading failed. */
  readonly line?: number;
  /** The column (1-based, in UTF-16 code units) where reading failed. */
  readonly column?: number;
  /** `where` is given when reading a text failed at a known place. */
  constructor(message: string, where?: { line: number; column: number }) {
    super(message);
    this.name = "SmartRestError";
    this.line = where?.line;
    this.column = where?.column;
  }
}

/**
 * One SmartREST line (no line break at the end) from its fields.
 *
 * @example
 * ```ts
 * encodeLine([502, "c8y_Command", "exit code 1, see log"]);
 * // '502,c8y_Command,"exit code 1, see log"'
 * ```
 */
export function encodeLine(fields: readonly SmartRestField[]): string {
  return fields.map(encodeField).join(",");
}

/**
 * The fields of one SmartREST line; a `\r\n` or `\n` at its end is ignored.
 *
 * @throws {SmartRestError} for an unterminated quote, text after a closing
 * quote, or a second line.
 */
export function decodeLine(line: string): string[] {
  if (typeof line !== "string") {
    throw new SmartRestError(`Cannot parse a SmartREST line: expected text, found ${typeof line}`);
  }
  const reader = new LineReader(line);
  const fields = reader.record();
  if (!reader.done()) {
    throw reader.error(
      "a line break outside quotes ends the line here; use decodeMessage for " +
        "several lines",
    );
  }
  return fields;
}

/**
 * Every line of one publish, each as its fields; empty lines are skipped.
 * A line break inside a quoted field belongs to the field.
 *
 * @example
 * ```ts
 * decodeMessage('510,dev-1\n530,dev-1,127.0.0.1,22,k3y\n');
 * // [["510", "dev-1"], ["530", "dev-1", "127.0.0.1", "22", "k3y"]]
 * ```
 * @throws {SmartRestError} for bytes that are not UTF-8 or a malformed line.
 */
export function decodeMessage(payload: string | Uint8Array): string[][] {
  const reader = new LineReader(payloadText(payload));
  const records: string[][] = [];
  while (!reader.done()) {
    const fields = reader.record();
    // A line without even a template id carries nothing (blank lines, "\r\n\r\n").
    if (fields.length > 1 || fields[0] !== "") records.push(fields);
  }
  return records;
}

/**
 * Joins lines with `\n` into as few payloads as possible, each at most
 * `limit` bytes of UTF-8, keeping their order.
 *
 * @example
 * ```ts
 * packLines(["501,c8y_Restart", "503,c8y_Restart"]); // ["501,c8y_Restart\n503,c8y_Restart"]
 * ```
 * @throws {SmartRestError} naming the template id and size of a single
 * line longer than `limit`.
 */
export function packLines(lines: readonly string[], limit = SMARTREST_PAYLOAD_LIMIT): string[] {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`A SmartREST payload limit must be a positive integer, got ${limit}`);
  }
  const payloads: string[] = [];
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    const bytes = utf8Length(line);
    if (bytes > limit) {
      throw new SmartRestError(
        `SmartREST line of template ${
          JSON.stringify(templateIdOf(line))
        } is ${bytes} bytes, more than the payload limit of ${limit} bytes`,
      );
    }
    if (current.length > 0 && size + 1 + bytes > limit) {
      payloads.push(current.join("\n"));
      current = [];
    }
    size = current.length === 0 ? bytes : size + 1 + bytes;
    current.push(line);
  }
  if (current.length > 0) payloads.push(current.join("\n"));
  return payloads;
}

/** The size of `text` in UTF-8, as `TextEncoder` would write it (a lone surrogate is 3 bytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** The first field of an encoded line as written (its template or message id). */
export function templateIdOf(line: string): string {
  const comma = line.indexOf(",");
  const id = comma < 0 ? line : line.slice(0, comma);
  return id.length > 16 ? `${id.slice(0, 16)}…` : id;
}

function encodeField(field: SmartRestField, index: number): string {
  if (field === undefined) return "";
  if (typeof field === "number") {
    if (!Number.isFinite(field)) {
      throw new RangeError(`SmartREST field ${index + 1} must be a finite number, got ${field}`);
    }
    // String() writes plain decimals from 1e-7 to 1e21 and "0" for -0.
    return String(field);
  }
  if (typeof field !== "string") {
    throw new TypeError(
      `SmartREST field ${index + 1} must be a string, a number or undefined, got ${
        field === null ? "null" : typeof field
      }`,
    );
  }
  if (!/[,"\r\n]|^\s|\s$/.test(field)) return field;
  let quoted = '"';
  for (let i = 0; i < field.length; i++) {
    const char = field[i];
    if (char === '"') quoted += '\\"';
    else if (char === "\\") {
      const next = field[i + 1];
      quoted += next === undefined || next === '"' || next === "\\" ? "\\\\" : "\\";
    } else quoted += char;
  }
  return quoted + '"';
}

// Reads records one at a time from a text, tracking line and column for errors.
class LineReader {
  #text: string;
  #pos = 0;
  #line = 1;
  #lineStart = 0;

  constructor(text: string) {
    this.#text = text;
  }

  done(): boolean {
    return this.#pos >= this.#text.length;
  }

  record(): string[] {
    const fields: string[] = [];
    for (;;) {
      fields.push(this.#field());
      if (this.done()) return fields;
      const char = this.#text[this.#pos];
      if (char === ",") {
        this.#pos++;
        continue;
      }
      // #field stops only at ",", the end, or an end of line.
      this.#pos += char === "\r" ? 2 : 1;
      this.#line++;
      this.#lineStart = this.#pos;
      return fields;
    }
  }

  error(problem: string, at = this.#pos): SmartRestError {
    const where = { line: this.#line, column: at - this.#lineStart + 1 };
    return new SmartRestError(
      `Cannot parse SmartREST line ${where.line} (starting ${
        JSON.stringify(excerpt(this.#text.slice(this.#lineStart)))
      }) at column ${where.column}: ${problem}`,
      where,
    );
  }

  #atEndOfLine(): boolean {
    const char = this.#text[this.#pos];
    if (char === "\n") return true;
    if (char !== "\r") return false;
    const next = this.#text[this.#pos + 1];
    return next === "\n" || next === undefined;
  }

  #skipBlanks(): void {
    while (this.#text[this.#pos] === " " || this.#text[this.#pos] === "\t") this.#pos++;
  }

  #field(): string {
    this.#skipBlanks();
    if (this.#text[this.#pos] === '"') return this.#quoted();
    const start = this.#pos;
    while (!this.done() && this.#text[this.#pos] !== "," && !this.#atEndOfLine()) this.#pos++;
    return this.#text.slice(start, this.#pos).replace(/[ \t]+$/, "");
  }

  #quoted(): string {
    const open = { pos: this.#pos, line: this.#line, lineStart: this.#lineStart };
    this.#pos++;
    let value = "";
    for (;;) {
      if (this.done()) {
        this.#pos = open.pos;
        this.#line = open.line;
        this.#lineStart = open.lineStart;
        throw this.error("the quoted field opened here is never closed");
      }
      const char = this.#text[this.#pos];
      if (char === '"') break;
      if (char === "\\") {
        const next = this.#text[this.#pos + 1];
        if (next === '"' || next === "\\") {
          value += next;
          this.#pos += 2;
          continue;
        }
      } else if (char === "\n") {
        this.#line++;
        this.#lineStart = this.#pos + 1;
      }
      value += char;
      this.#pos++;
    }
    this.#pos++;
    this.#skipBlanks();
    if (!this.done() && this.#text[this.#pos] !== "," && !this.#atEndOfLine()) {
      throw this.error(
        `unexpected ${
          JSON.stringify(this.#text[this.#pos])
        } after a closing quote (expected "," or the end of the line)`,
      );
    }
    return value;
  }
}

function payloadText(payload: string | Uint8Array): string {
  if (typeof payload === "string") return payload;
  if (!(payload instanceof Uint8Array)) {
    throw new SmartRestError(
      `Cannot read a SmartREST message: expected bytes or text, found ${
        payload === null ? "null" : typeof payload
      }`,
    );
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(payload);
  } catch {
    throw new SmartRestError("Cannot read a SmartREST message: the payload is not valid UTF-8");
  }
}

// Error messages quote only the start of a line: enough to recognise it, and
// short of the trailing fields where secrets such as connection keys sit.
function excerpt(rest: string): string {
  const line = rest.split("\n", 1)[0];
  return line.length > 24 ? `${line.slice(0, 24)}…` : line;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
