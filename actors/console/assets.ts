/**
 * The page's files, compiled into the agent: the console's own HTML, CSS
 * and plain ES modules beside this file, and preact, htm and uPlot read
 * from their npm packages. Static text imports, so `deno bundle` and
 * `deno compile` carry them; nothing is built and nothing is read from disk
 * at run time.
 */
import indexHtml from "./page/index.html" with { type: "text" };
import loginHtml from "./page/login.html" with { type: "text" };
import appCss from "./page/app.css" with { type: "text" };
import appJs from "./page/app.js" with { type: "text" };
import uiJs from "./page/ui.js" with { type: "text" };
import viewsJs from "./page/views.js" with { type: "text" };
import cloudsJs from "./page/clouds.js" with { type: "text" };
import loginJs from "./page/login.js" with { type: "text" };
import preactJs from "preact" with { type: "text" };
import hooksJs from "preact/hooks" with { type: "text" };
import htmJs from "htm" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.esm.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** One file the console serves. */
export interface Asset {
  body: string;
  type: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";
const HTML = "text/html; charset=utf-8";

/** The signed-in page and the login page. */
export const PAGES: { index: Asset; login: Asset } = {
  index: { body: indexHtml, type: HTML },
  login: { body: loginHtml, type: HTML },
};

/** Everything under `/assets/`, by file name. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["app.css", { body: appCss, type: CSS }],
  ["app.js", { body: appJs, type: JS }],
  ["ui.js", { body: uiJs, type: JS }],
  ["views.js", { body: viewsJs, type: JS }],
  ["clouds.js", { body: cloudsJs, type: JS }],
  ["login.js", { body: loginJs, type: JS }],
  ["preact.js", { body: preactJs, type: JS }],
  ["hooks.js", { body: hooksJs, type: JS }],
  ["htm.js", { body: htmJs, type: JS }],
  ["uplot.js", { body: uplotJs, type: JS }],
  ["uplot.css", { body: uplotCss, type: CSS }],
]);

/**
 * The Content-Security-Policy of every response: scripts and styles from
 * this origin only, plus the one inline import map, allowed by its hash.
 */
export async function contentSecurityPolicy(): Promise<string> {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)?.[1] ?? "";
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(importMap));
  const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
  return [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}
