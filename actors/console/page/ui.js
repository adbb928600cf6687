// What every view shares: the template tag, the page's store, formatting,
// and the one way to ask the agent to do something (a POST with the
// session's CSRF token).
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);

/** The page's state; `set` merges a patch and tells every listener. */
export const store = {
  state: {
    session: null,
    hello: null,
    status: null,
    tree: null,
    treeAt: 0,
    clouds: [],
    history: {},
    tunnels: [],
    access: null,
    clients: null,
    logs: [],
    events: [],
    flashes: {},
    toasts: [],
    live: false,
  },
  listeners: new Set(),
  set(patch) {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener(this.state);
  },
};

let toastId = 0;

/** Shows a short notice; `kind` "bad" for failures. */
export function toast(text, kind = "ok") {
  const id = ++toastId;
  // The newest three: a burst of clicks must not bury the page.
  store.set({ toasts: [...store.state.toasts, { id, text, kind }].slice(-3) });
  setTimeout(() => store.set({ toasts: store.state.toasts.filter((t) => t.id !== id) }), 4000);
}

/**
 * POSTs `body` to `path` with the CSRF token; a notice says how it went:
 * `done` on success, `<what>: <the agent's reason>` on failure.
 */
export async function act(path, body, what, done = `${what}: done`) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": store.state.session?.csrf ?? "",
      },
      body: JSON.stringify(body ?? {}),
      credentials: "same-origin",
    });
  } catch {
    toast(`${what}: the agent cannot be reached`, "bad");
    return undefined;
  }
  if (response.status === 401) {
    location.replace("/login");
    return undefined;
  }
  const result = await response.json().catch(() => ({}));
  if (!response.ok) {
    toast(`${what}: ${result.error ?? `failed (${response.status})`}`, "bad");
    return undefined;
  }
  toast(done);
  return result;
}

/** "3 d 4 h", "5 min 2 s", "12 s". */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const hours = Math.floor(m / 60);
  if (hours < 24) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** "812 B", "4.2 KB", "1.3 MB". */
export function bytes(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Local wall-clock time of an ISO string or ms. */
export function clock(at) {
  if (at === null || at === undefined) return "–";
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

/** Local date and time of an ISO string or ms. */
export function dateTime(at) {
  if (at === null || at === undefined) return "–";
  return new Date(at).toLocaleString([], { hour12: false });
}

/** A whole number with thousands separators. */
export function count(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString();
}

const STATUS_TONE = {
  running: "ok",
  connected: "ok",
  active: "ok",
  open: "ok",
  Allowed: "ok",
  restarting: "warn",
  stopping: "warn",
  pending: "warn",
  dialing: "warn",
  AfterConfirmation: "warn",
  failed: "bad",
  revoked: "bad",
  disconnected: "bad",
  Denied: "bad",
};

/** A coloured pill for a status word. */
export function Badge({ text, extra = "" }) {
  return html`<span class="badge ${STATUS_TONE[text] ?? ""} ${extra}">${text}</span>`;
}
