// The console's views but the clouds (clouds.js): the tree, tunnels,
// access control, local API clients and logs.
import { useEffect, useRef, useState } from "preact/hooks";
import { act, Badge, bytes, clock, count, dateTime, duration, html } from "./ui.js";

/** The tree as rows, depth first, with the glyphs that draw it. */
function rowsOf(node, depth = 0, prefix = "", last = true, rows = []) {
  const glyph = depth === 0 ? "" : `${prefix}${last ? "└─" : "├─"}`;
  rows.push({ node, depth, glyph });
  const next = depth === 0 ? "" : `${prefix}${last ? "  " : "│ "}`;
  node.children.forEach((c, i) => rowsOf(c, depth + 1, next, i === node.children.length - 1, rows));
  return rows;
}

function stateText(node) {
  if (node.kind === "supervisor") return node.strategy ?? "";
  return typeof node.state === "string" ? node.state : JSON.stringify(node.state);
}

/** The supervision tree, live; restarts and crashes flash. */
export function TreeView({ state, now }) {
  const { tree, treeAt, flashes, events } = state;
  if (!tree) return html`<p class="hint">Waiting for the tree…</p>`;
  const rows = rowsOf(tree);
  return html`
    <section class="panel" aria-labelledby="tree-title">
      <h2 id="tree-title">Supervision tree</h2>
      <div class="table-wrap">
        <table class="tree">
          <thead>
            <tr>
              <th scope="col">Actor</th>
              <th scope="col" class="wide">Kind</th>
              <th scope="col" class="wide">Status</th>
              <th scope="col" class="wide">State</th>
              <th scope="col" class="num">Restarts</th>
              <th scope="col" class="num">Uptime</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map(({ node, glyph }) => {
              const flash = flashes[node.path];
              const uptime = node.uptimeMs === null ? null : node.uptimeMs + (now - treeAt);
              return html`
                <tr
                  key=${node.path}
                  data-path=${node.path}
                  class=${flash ? `${flash.kind}-${flash.n % 2}` : ""}
                >
                  <td class="actor">
                    <span class="node">
                      <span class="glyph" aria-hidden="true">${glyph}</span>
                      <span class="name" title=${node.path}>${node.id}</span>
                    </span>
                    <${Badge} text=${node.status} extra="narrow" />
                    <span class="sub">${node.kind} · ${stateText(node)}</span>
                  </td>
                  <td class="wide">${node.kind}</td>
                  <td class="wide">
                    <${Badge} text=${node.status} />
                  </td>
                  <td class="wide state">${stateText(node)}</td>
                  <td class="num" data-col="restarts">${node.restarts}</td>
                  <td class="num">${duration(uptime)}</td>
                </tr>
              `;
            })}
          </tbody>
        </table>
      </div>
    </section>
    <section class="panel" aria-labelledby="events-title">
      <h2 id="events-title">Recent lifecycle events</h2>
      ${events.length === 0
        ? html`<p class="empty">No starts, exits or restarts since this page opened.</p>`
        : html`
          <ul class="events">
            ${events.map((e) =>
              html`
                <li key=${e.key}>
                  <time>${clock(e.at)}</time>
                  <${Badge} text=${e.type} />
                  <span class="mono">${e.path}</span>
                  ${e.reason ? html`<span>${e.reason}</span>` : ""}
                  ${e.error ? html`<span class="error-text">${e.error}</span>` : ""}
                </li>
              `
            )}
          </ul>
        `}
    </section>
  `;
}

/** Open tunnels with a button to close each. */
export function TunnelsView({ state, now, receivedAt }) {
  const { tunnels } = state;
  return html`
    <section class="panel" aria-labelledby="tunnels-title">
      <h2 id="tunnels-title">Tunnels and sessions</h2>
      ${tunnels.length === 0 ? html`<p class="empty">No tunnel is open.</p>` : html`
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Tunnel</th>
                <th scope="col">Cloud</th>
                <th scope="col">Target</th>
                <th scope="col">State</th>
                <th scope="col" class="num">Up</th>
                <th scope="col" class="num">Down</th>
                <th scope="col" class="num">Age</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              ${tunnels.map((t) =>
                html`
                  <tr key=${`${t.cloud}/${t.id}`} data-tunnel=${t.id}>
                    <td data-label="Tunnel" class="mono">${t.id}</td>
                    <td data-label="Cloud">${t.cloud}</td>
                    <td data-label="Target" class="mono">${t.target ?? "–"}</td>
                    <td data-label="State">
                      <${Badge} text=${t.state} />
                    </td>
                    <td data-label="Up" class="num">${bytes(t.bytesUp)}</td>
                    <td data-label="Down" class="num">${bytes(t.bytesDown)}</td>
                    <td data-label="Age" class="num">
                      ${duration(t.ageMs === null ? null : t.ageMs + (now - receivedAt))}
                    </td>
                    <td class="full">
                      <button
                        class="danger"
                        aria-label=${`Close tunnel ${t.id} of ${t.cloud}`}
                        onClick=${() =>
                          act(
                            "/api/tunnels/close",
                            { cloud: t.cloud, id: t.id },
                            `Close ${t.id}`,
                            `Tunnel ${t.id} closed`,
                          )}
                      >
                        Close
                      </button>
                    </td>
                  </tr>
                `
              )}
            </tbody>
          </table>
        </div>
      `}
    </section>
  `;
}

/** The two answers to a pending confirmation, as buttons. */
const DECISIONS = [
  { action: "accept", label: "Accept", done: "accepted", style: "ok" },
  { action: "reject", label: "Reject", done: "rejected", style: "danger" },
];

/** Access requests that wait for a person: shown on every view. */
export function PendingBanner({ access }) {
  const pending = access?.pending ?? [];
  if (pending.length === 0) return null;
  return html`
    <section class="pending" role="alert" aria-labelledby="pending-title">
      <h2 id="pending-title">Waiting for your confirmation</h2>
      <ul>
        ${pending.map((feature) =>
          html`
            <li key=${feature} data-pending=${feature}>
              <span class="what">A remote session asks for <strong>${feature}</strong>.</span>
              <span class="actions">
                ${DECISIONS.map(({ action, label, done, style }) =>
                  html`
                    <button
                      key=${action}
                      class=${style}
                      aria-label=${`${label} the ${feature} request`}
                      onClick=${() =>
                        act(
                          `/api/access/requests/${feature}/${action}`,
                          {},
                          `${label} ${feature}`,
                          `${feature} ${done}`,
                        )}
                    >
                      ${label}
                    </button>
                  `
                )}
              </span>
            </li>
          `
        )}
      </ul>
    </section>
  `;
}

const LEVELS = ["Allowed", "AfterConfirmation", "Denied"];

/** Access per feature, editable. */
export function AccessView({ state }) {
  const { access } = state;
  if (!access) return html`<p class="hint">Waiting for access control…</p>`;
  return html`
    ${access.pending.length === 0 &&
      html`<p class="hint" data-pending-none>No access request is waiting for an answer.</p>`}
    <section class="panel" aria-labelledby="access-title">
      <h2 id="access-title">Access control</h2>
      <p class="hint">
        Applies to remote sessions that start from now on. <em>AfterConfirmation</em> asks here and in
        the local apps; no answer in time means no.
      </p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col">Access</th>
            </tr>
          </thead>
          <tbody>
            ${Object.entries(access.access).map(([feature, level]) =>
              html`
                <tr key=${feature}>
                  <td><label for=${`access-${feature}`}>${feature}</label></td>
                  <td>
                    <select
                      id=${`access-${feature}`}
                      value=${level}
                      onChange=${(e) =>
                        act(
                          "/api/access",
                          { feature, access: e.currentTarget.value },
                          feature,
                          `${feature}: ${e.currentTarget.value}`,
                        )}
                    >
                      ${LEVELS.map((l) => html`<option value=${l}>${l}</option>`)}
                    </select>
                  </td>
                </tr>
              `
            )}
          </tbody>
        </table>
      </div>
    </section>
  `;
}

/** The local API's clients with Approve / Reject / Revoke. */
export function ClientsView({ state }) {
  const { clients } = state;
  if (!clients) return html`<p class="hint">Waiting for the clients…</p>`;
  if (clients.unavailable) {
    return html`
      <section class="panel">
        <h2>Local API clients</h2>
        <p class="hint">${clients.unavailable}</p>
      </section>
    `;
  }
  const past = { approve: "approved", reject: "rejected", revoke: "revoked" };
  const decide = (c, what) =>
    act(`/api/clients/${c.clientId}/${what}`, {}, `${what} ${c.name}`, `${c.name} ${past[what]}`);
  return html`
    <section class="panel" aria-labelledby="clients-title">
      <h2 id="clients-title">Local API clients</h2>
      ${clients.clients.length === 0
        ? html`<p class="empty">No app has asked for a certificate yet.</p>`
        : html`
          <div class="table-wrap">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">App</th>
                  <th scope="col">State</th>
                  <th scope="col">Client id</th>
                  <th scope="col">First seen</th>
                  <th scope="col"><span class="visually-hidden">Actions</span></th>
                </tr>
              </thead>
              <tbody>
                ${clients.clients.map((c) =>
                  html`
                    <tr key=${c.clientId} data-client=${c.clientId}>
                      <td data-label="App"><strong>${c.name}</strong></td>
                      <td data-label="State">
                        <${Badge} text=${c.state} />
                      </td>
                      <td data-label="Client id" class="mono full">${c.clientId}</td>
                      <td data-label="First seen">${dateTime(c.createdAt)}</td>
                      <td class="full">
                        <span class="actions">
                          ${c.state === "pending" && html`
                            <button class="ok" aria-label=${`Approve ${c.name}`} onClick=${() =>
                              decide(c, "approve")}>Approve</button>
                            <button class="danger" aria-label=${`Reject ${c.name}`} onClick=${() =>
                              decide(c, "reject")}>Reject</button>
                          `} ${c.state === "active" && html`
                            <button class="danger" aria-label=${`Revoke ${c.name}`} onClick=${() =>
                              decide(c, "revoke")}>Revoke</button>
                          `}
                        </span>
                      </td>
                    </tr>
                  `
                )}
              </tbody>
            </table>
          </div>
        `}
    </section>
  `;
}

const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"];

/** The last log lines, filtered by level, following new ones. */
export function LogsView({ state }) {
  const [level, setLevel] = useState("info");
  const list = useRef(null);
  const follow = useRef(true);
  const lines = state.logs.filter((l) => LOG_LEVELS.indexOf(l.level) >= LOG_LEVELS.indexOf(level));
  useEffect(() => {
    const el = list.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  });
  const onScroll = (e) => {
    const el = e.currentTarget;
    follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  };
  return html`
    <section class="panel" aria-labelledby="logs-title">
      <h2 id="logs-title">Logs</h2>
      <div class="log-controls">
        <label for="log-level">Lowest level</label>
        <select id="log-level" value=${level} onChange=${(e) => setLevel(e.currentTarget.value)}>
          ${LOG_LEVELS.map((l) => html`<option value=${l}>${l}</option>`)}
        </select>
        <span class="hint">${count(lines.length)} of the last ${count(
          state.logs.length,
        )} lines</span>
      </div>
      ${lines.length === 0 ? html`<p class="empty">No log lines at this level yet.</p>` : html`
        <ol class="log" ref=${list} onScroll=${onScroll} tabindex="0" aria-label="Log lines">
          ${lines.map((l, i) =>
            html`
              <li key=${`${l.ts}-${i}`} class=${`lvl-${l.level}`}>
                <time>${clock(l.ts)}</time>
                <span class=${`lvl lvl-${l.level}`}>${l.level.toUpperCase()}</span>
                <span class="cat">${l.category}</span>
                <span class="msg">${l.message}</span>
              </li>
            `
          )}
        </ol>
      `}
    </section>
  `;
}
