/**
 * Client-side masking (RFC 6455 §5.3): where keys come from, and the XOR
 * that every byte a client sends goes through.
 */

// Masking keys come from the system's CSPRNG, as RFC 6455 §5.3 asks, drawn
// 1 KiB at a time: one call per frame was a measurable share of the cost of
// sending (BENCHMARKS.md, tunnels).
const keyPool = new Uint8Array(1024);
let keyOffset = keyPool.length;

export function nextMaskKey(): Uint8Array {
  if (keyOffset === keyPool.length) {
    crypto.getRandomValues(keyPool);
    keyOffset = 0;
  }
  keyOffset += 4;
  return keyPool.slice(keyOffset - 4, keyOffset);
}

/**
 * XORs `payload` with the 4-byte `mask` into `out` at `offset`. Masking is
 * the per-byte cost of every frame a client sends, so the bulk goes four
 * bytes at a time through 32-bit words (the mask repeats every 4 bytes, so
 * a word of it masks any aligned word of payload, whatever the byte order).
 */
export function applyMask(
  payload: Uint8Array,
  mask: Uint8Array,
  out: Uint8Array,
  offset: number,
): void {
  const length = payload.length;
  out.set(payload, offset);
  // Word access needs 4-byte alignment; masking restarts at the payload's start.
  let i = 0;
  const aligned = (out.byteOffset + offset) % 4 === 0;
  if (aligned && length >= 16) {
    const words = length >>> 2;
    const view = new Uint32Array(out.buffer, out.byteOffset + offset, words);
    const key = new Uint32Array(mask.slice().buffer)[0];
    for (let w = 0; w < words; w++) view[w] ^= key;
    i = words << 2;
  }
  for (; i < length; i++) out[offset + i] ^= mask[i & 3];
}
