// The console page: one event stream from the agent (server-sent events)
// feeds the store; the views render it. No polling: the only timer here
// advances the uptimes on screen between two events.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { act, count, duration, html, store } from "./ui.js";
import { CloudsView } from "./clouds.js";
import {
  AccessView,
  ClientsView,
  LogsView,
  PendingBanner,
  TreeView,
  TunnelsView,
} from "./views.js";

const MAX_EVENTS = 40;
const MAX_LOG_LINES = 2000;
const MAX_SAMPLES = 720;

const VIEWS = {
  tree: { title: "Tree", view: TreeView },
  clouds: { title: "Clouds", view: CloudsView },
  tunnels: { title: "Tunnels", view: TunnelsView },
  access: { title: "Access", view: AccessView },
  clients: { title: "Clients", view: ClientsView },
  logs: { title: "Logs", view: LogsView },
};

let eventKey = 0;
let flashCount = 0;

function walk(node, visit) {
  visit(node);
  for (const child of node.children) walk(child, visit);
}

/** Rows whose restart count went up flash; rows that failed flash red. */
function flashesFor(previous, next, flashes) {
  if (!previous) return flashes;
  const before = new Map();
  walk(previous, (n) => before.set(n.path, n));
  const result = { ...flashes };
  walk(next, (n) => {
    const old = before.get(n.path);
    if (!old) return;
    if (n.restarts > old.restarts) result[n.path] = { kind: "flash", n: ++flashCount };
    else if (n.status === "failed" && old.status !== "failed") {
      result[n.path] = { kind: "crash", n: ++flashCount };
    }
  });
  return result;
}

function connect() {
  const source = new EventSource("/api/events");
  const on = (name, handle) =>
    source.addEventListener(name, (e) => handle(JSON.parse(e.data), store.state));
  source.onopen = () => store.set({ live: true });
  source.onerror = async () => {
    store.set({ live: false });
    // A lost session cannot come back by itself: go and sign in again.
    const response = await fetch("/api/session", { credentials: "same-origin" }).catch(() => null);
    if (response?.status === 401) location.replace("/login");
  };
  on("hello", (hello) => store.set({ hello }));
  on("status", (status) => store.set({ status, statusAt: Date.now() }));
  on(
    "tree",
    (tree, s) =>
      store.set({ tree, treeAt: Date.now(), flashes: flashesFor(s.tree, tree, s.flashes) }),
  );
  on("lifecycle", (event, s) => {
    const entry = { ...event, key: ++eventKey };
    const patch = { events: [entry, ...s.events].slice(0, MAX_EVENTS) };
    if ((event.type === "exited" && event.reason === "error") || event.type === "gave_up") {
      patch.flashes = { ...s.flashes, [event.path]: { kind: "crash", n: ++flashCount } };
    }
    store.set(patch);
  });
  on("clouds", (clouds) => store.set({ clouds }));
  on("history", (history) => store.set({ history }));
  on("sample", ({ cloud, sample }, s) => {
    const samples = [...(s.history[cloud] ?? []), sample].slice(-MAX_SAMPLES);
    store.set({ history: { ...s.history, [cloud]: samples } });
  });
  on("tunnels", (tunnels) => store.set({ tunnels, tunnelsAt: Date.now() }));
  on("access", (access) => store.set({ access }));
  on("clients", (clients) => store.set({ clients }));
  on("logs", (logs) => store.set({ logs }));
  on("log", (lines, s) => store.set({ logs: [...s.logs, ...lines].slice(-MAX_LOG_LINES) }));
}

function currentView() {
  const name = location.hash.slice(1);
  return Object.hasOwn(VIEWS, name) ? name : "tree";
}

function App() {
  const [state, setState] = useState(store.state);
  const [now, setNow] = useState(Date.now());
  const [view, setView] = useState(currentView());
  useEffect(() => {
    // Events that arrive back to back (a restart's exit, restart and start)
    // make one render, not one each.
    let queued = false;
    const render = () => {
      if (queued) return;
      queued = true;
      setTimeout(() => {
        queued = false;
        setState(store.state);
      }, 0);
    };
    store.listeners.add(render);
    const timer = setInterval(() => setNow(Date.now()), 1000);
    const onHash = () => setView(currentView());
    addEventListener("hashchange", onHash);
    return () => {
      store.listeners.delete(render);
      clearInterval(timer);
      removeEventListener("hashchange", onHash);
    };
  }, []);
  useEffect(() => {
    document.title = `${VIEWS[view].title} · ${
      state.hello?.deviceId ?? "Outpost"
    } · Outpost console`;
  }, [view, state.hello]);

  const pendingAccess = state.access?.pending.length ?? 0;
  const pendingClients = state.clients?.clients?.filter((c) => c.state === "pending").length ?? 0;
  const counts = {
    clouds: state.clouds.length,
    tunnels: state.tunnels.length,
    access: pendingAccess,
    clients: pendingClients,
  };
  const alerts = { access: pendingAccess > 0, clients: pendingClients > 0 };
  const uptime = state.status ? state.status.uptimeMs + (now - state.statusAt) : null;
  const View = VIEWS[view].view;
  return html`
    <header class="top">
      <div class="top-row">
        <h1 class="brand"><span class="brand-mark" aria-hidden="true">◆</span> Outpost</h1>
        <div class="device">
          <span>Device <strong>${state.hello?.deviceId ?? "…"}</strong></span>
          <span>Version <strong>${state.hello?.version ?? "…"}</strong></span>
          <span>Up <strong>${duration(uptime)}</strong></span>
        </div>
        <span class="spacer"></span>
        <span class=${`live ${state.live ? "on" : ""}`} role="status">
          ${state.live ? "Live" : "Reconnecting…"}
        </span>
        <button class="quiet" onClick=${signOut}>Sign out</button>
      </div>
      <nav class="tabs" aria-label="Views">
        ${Object.entries(VIEWS).map(([name, { title }]) =>
          html`
            <a href=${`#${name}`} aria-current=${view === name ? "page" : undefined}>
              ${title}
              ${counts[name] > 0 && html`
                <span class=${`count ${alerts[name] ? "alert" : ""}`}>${count(counts[name])}</span>
              `}
            </a>
          `
        )}
      </nav>
    </header>
    <main class="view" id="main">
      <${PendingBanner} access=${state.access} />
      <${View} state=${state} now=${now} receivedAt=${state.tunnelsAt ?? now} />
    </main>
    <div class="toasts" role="status" aria-live="polite">
      ${state.toasts.map((t) => html`<div key=${t.id} class=${`toast ${t.kind}`}>${t.text}</div>`)}
    </div>
  `;
}

async function signOut() {
  await act("/api/logout", {}, "Sign out");
  location.replace("/login");
}

async function start() {
  const response = await fetch("/api/session", { credentials: "same-origin" });
  if (response.status === 401) {
    location.replace("/login");
    return;
  }
  store.set({ session: await response.json() });
  connect();
  const root = document.getElementById("app");
  root.textContent = "";
  render(html`<${App} />`, root);
}

start();
