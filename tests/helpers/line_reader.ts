/** Reads a child process's output one line at a time. */
export class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next complete line, or undefined at the end of the stream. */
  async read(): Promise<string | undefined> {
    while (!this.#buffered.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) return undefined;
      this.#buffered += value;
    }
    const end = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, end);
    this.#buffered = this.#buffered.slice(end + 1);
    return line;
  }

  /** Stops reading; the stream is released. */
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}
