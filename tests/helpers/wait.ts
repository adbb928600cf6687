/**
 * The tests' one way to wait: for a condition, with a deadline, never for a
 * fixed time. `until` re-checks on a short poll (an interval between checks,
 * not a settle delay: it returns as soon as the condition holds);
 * `untilChanged` re-checks only when the code under test reports a change.
 */

/** Resolves once `check()` holds, polling every `pollMs`; rejects naming `what` at the deadline. */
export async function until(
  what: string,
  check: () => boolean,
  timeoutMs = 5000,
  pollMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Resolves once `check()` holds, re-checking whenever `onChange` calls its
 * `wake` (it returns an unsubscribe); rejects naming `what` at the deadline.
 */
export function untilChanged(
  what: string,
  check: () => boolean,
  onChange: (wake: () => void) => () => void,
  timeoutMs = 5000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopListening = () => {};
    const timer = setTimeout(() => {
      stopListening();
      reject(new Error(`Waited ${timeoutMs} ms for ${what}`));
    }, timeoutMs);
    const wake = () => {
      if (!check()) return;
      clearTimeout(timer);
      stopListening();
      resolve();
    };
    stopListening = onChange(wake);
    wake();
  });
}
