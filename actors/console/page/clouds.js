// The clouds view: one card per cloud with its link, its outbox counters
// and a uPlot chart of the last hour (queue depth, records sent per second).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { Badge, clock, count, duration, html } from "./ui.js";

const HOUR_S = 3600;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function seriesOf(samples) {
  return [
    samples.map((s) => s.t / 1000),
    samples.map((s) => s.queued),
    samples.map((s) => s.rate),
  ];
}

/** The outbox of one cloud over the last hour. */
function OutboxChart({ name, samples }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const el = box.current;
    const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--line"), width: 1 } };
    plot.current = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height: 190,
        scales: {
          // The last hour, ending a little after the newest sample so it is not on the edge.
          x: { time: true, range: (_u, _min, max) => [max - HOUR_S, max + HOUR_S / 60] },
          queued: { range: (_u, _min, max) => [0, Math.max(10, max)] },
          rate: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
        series: [
          {},
          {
            label: "Queued",
            scale: "queued",
            stroke: "#1f6feb",
            width: 2,
            fill: "rgba(31,111,235,0.12)",
            points: { size: 5 },
          },
          { label: "Records/s", scale: "rate", stroke: "#d97706", width: 2, points: { size: 5 } },
        ],
        axes: [
          {
            ...axis,
            values: (_u, splits) =>
              splits.map((s) =>
                new Date(s * 1000).toLocaleTimeString([], {
                  hour: "2-digit",
                  minute: "2-digit",
                  hour12: false,
                })
              ),
          },
          { ...axis, scale: "queued", size: 48 },
          { ...axis, scale: "rate", side: 1, size: 44, grid: { show: false } },
        ],
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
      },
      seriesOf(samples),
      el,
    );
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(240, el.clientWidth), height: 190 });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => plot.current?.setData(seriesOf(samples)), [samples]);
  const last = samples.at(-1);
  const label = `Outbox of ${name} over the last hour: ` +
    (last ? `${last.queued} queued, ${last.rate} records per second now` : "no samples yet");
  return html`<div class="chart" ref=${box} role="img" aria-label=${label}></div>`;
}

/** One card per cloud. */
export function CloudsView({ state, now }) {
  const { clouds, history } = state;
  if (clouds.length === 0) return html`<p class="empty">No cloud is configured.</p>`;
  return html`
    <h2>Clouds</h2>
    <div class="cards">
      ${clouds.map((c) =>
        html`
          <section class="panel" key=${c.name} data-cloud=${c
            .name} aria-labelledby=${`cloud-${c.name}`}>
            <div class="card-head">
              <h3 id=${`cloud-${c.name}`}>${c.name}</h3>
              <span class="badge">${c.type}</span>
              <${Badge} text=${c.connected ? "connected" : "disconnected"} />
            </div>
            <dl class="facts">
              <dt>Broker</dt>
              <dd>${c.broker ?? "–"}</dd>
              <dt>${c.connected ? "Connected since" : "Down since"}</dt>
              <dd>
                ${c.since
                  ? html`${clock(c.since)} <span class="hint">(${
                    duration(now - Date.parse(c.since))
                  })</span>`
                  : "–"}
              </dd>
              <dt>Reconnects</dt>
              <dd>${count(c.reconnects)}</dd>
              <dt>Last error</dt>
              <dd class=${c.lastError ? "error-text" : ""}>
                ${c.lastError
                  ? html`${c.lastError.message} <span class="hint">at ${
                    clock(c.lastError.at)
                  }</span>`
                  : "none"}
              </dd>
            </dl>
            <div class="counters">
              <div
                class="counter"><span class="value">${count(
                  c.queued,
                )}</span><span class="label">queued</span></div>
              <div class="counter"><span class="value">${count(
                c.sent,
              )}</span><span class="label">sent</span></div>
              <div
                class="counter"><span class="value">${count(
                  c.dropped,
                )}</span><span class="label">dropped</span></div>
            </div>
            <${OutboxChart} name=${c.name} samples=${history[c.name] ?? []} />
          </section>
        `
      )}
    </div>
  `;
}
