/**
 * The console in a real Chromium against a running agent: sign in with the
 * one-time link, watch the tree, crash an actor, close a tunnel, answer
 * access requests, approve a local API client with the keyboard, and check
 * that every control has a name. Each view's screenshot is saved under
 * docs/console/ (laptop and phone widths) for the README.
 */
import { equal, match, ok } from "node:assert/strict";
import type { Page } from "playwright-core";
import { CRASHY, DEVICE, startBrowser, startConsoleWorld } from "./console_world.ts";
import { makeKeyAndCsr, requestCertificate } from "../helpers/local_api_app.ts";

const SHOTS = new URL("../../docs/console/", import.meta.url).pathname;

async function shot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SHOTS, { recursive: true });
  // Notices of the steps before are not part of the view. (Playwright's `style`
  // option injects a <style> element, which the console's CSP refuses.)
  const hide = (display: string) =>
    page.evaluate(`document.querySelector(".toasts")?.style.setProperty("display", "${display}")`);
  await hide("none");
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
  await hide("");
}

/** Presses Tab until the focused element matches `accepts`; fails after `max` presses. */
async function tabTo(page: Page, what: string, accepts: string, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate<string>(
      `(document.activeElement?.getAttribute("aria-label") ??
        document.activeElement?.textContent ?? "").trim()`,
    );
    if (focused.startsWith(accepts)) return;
  }
  throw new Error(`Tab never reached ${what} ("${accepts}")`);
}

function restartsCell(page: Page, path: string) {
  return page.locator(`tr[data-path="${path}"] td[data-col="restarts"]`);
}

Deno.test("the console in Chromium shows the live agent and acts through the control plane", async (t) => {
  const world = await startConsoleWorld({ systemIntervalSec: 1 });
  const browser = await startBrowser();
  const { page } = browser;
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  try {
    await t.step("a wrong token or an old link shows the login page with the reason", async () => {
      await page.goto(world.url);
      await page.waitForURL(/\/login$/);
      await page.fill("#token", "not-the-token");
      await page.click("button[type=submit]");
      await page.locator("#message", { hasText: "That token is not valid" }).waitFor();
      const link = await world.loginLink();
      const used = await page.context().newPage();
      await used.goto(link);
      await used.waitForURL(`${world.url}/`);
      await used.close();
      await page.goto(link);
      await page.locator("#message", { hasText: "used already or has expired" }).waitFor();
      equal(new URL(page.url()).hash, "", "the code is taken out of the address bar");
      await shot(page, "login");
    });

    await t.step("the login link signs in and the page shows the live tree", async () => {
      await page.goto(await world.loginLink());
      await page.waitForURL(`${world.url}/`);
      await page.locator(".live.on").waitFor();
      for (const path of ["agent", "agent/console/http", "agent/cloud:main/connection", CRASHY]) {
        await page.locator(`tr[data-path="${path}"]`).waitFor();
      }
      match(await page.locator(".device").innerText(), new RegExp(DEVICE));
      const cookies = await page.context().cookies();
      const session = cookies.find((c) => c.name === "outpost-console")!;
      equal(session.httpOnly, true);
      equal(session.sameSite, "Strict");
    });

    await t.step("a crashed actor's restart count changes on the page as it happens", async () => {
      equal(await restartsCell(page, CRASHY).innerText(), "0");
      world.crash();
      await page.locator(`tr[data-path="${CRASHY}"] td[data-col="restarts"]`, { hasText: "1" })
        .waitFor();
      world.crash();
      await page.locator(`tr[data-path="${CRASHY}"] td[data-col="restarts"]`, { hasText: "2" })
        .waitFor();
      await page.locator(".events li", { hasText: CRASHY }).first().waitFor();
      match(await page.locator(".events").innerText(), /crashed on purpose by the test/);
      await shot(page, "tree");
    });

    await t.step(
      "an open tunnel is listed; closing it on the page closes the far end",
      async () => {
        const { response, session } = await world.openTunnel();
        equal(response.status, 200);
        const id = response.body.tunnel!;
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: session.port });
        const hello = new TextEncoder().encode("hello through the tunnel");
        await conn.write(hello);
        const back = new Uint8Array(hello.length);
        for (let got = 0; got < back.length;) got += (await conn.read(back.subarray(got))) ?? NaN;
        await page.click('a[href="#tunnels"]');
        const row = page.locator(`tr[data-tunnel="${id}"]`);
        await row.waitFor();
        await row.locator("td", { hasText: `127.0.0.1:${world.echo.port}` }).waitFor();
        await row.locator('td[data-label="Up"]', { hasText: "24 B" }).waitFor();
        await shot(page, "tunnels");
        await page.click(`button[aria-label="Close tunnel ${id} of main"]`);
        const closed = await session.deviceClosed;
        equal(closed.code, 1001, "the relay saw the device's WebSocket close");
        equal(await conn.read(new Uint8Array(8)), null, "the user's side of the relay ended");
        conn.close();
        await row.waitFor({ state: "detached" });
        await page.locator(".empty", { hasText: "No tunnel is open" }).waitFor();
      },
    );

    await t.step(
      "a pending access request is accepted, then one rejected, from the page",
      async () => {
        await page.click('a[href="#access"]');
        await page.selectOption("#access-RemoteControl", "AfterConfirmation");
        await page.locator(".toast", { hasText: "RemoteControl: AfterConfirmation" }).waitFor();

        const accepted = world.openTunnel();
        const banner = page.locator('li[data-pending="RemoteControl"]');
        await banner.waitFor();
        await shot(page, "access");
        await page.click('button[aria-label="Accept the RemoteControl request"]');
        const first = await accepted;
        equal(first.response.status, 200, JSON.stringify(first.response));
        await banner.waitFor({ state: "detached" });

        const upgrades = world.relay.upgrades;
        const rejected = world.openTunnel();
        await banner.waitFor();
        await page.click('button[aria-label="Reject the RemoteControl request"]');
        const second = await rejected;
        equal(second.response.status, 403);
        match(second.response.body.error!, /rejected by the device user/);
        equal(world.relay.upgrades, upgrades, "the rejected tunnel never dialed the relay");
        await page.click('a[href="#tunnels"]');
        await page.click(`button[aria-label="Close tunnel ${first.response.body.tunnel} of main"]`);
        await first.session.deviceClosed;
      },
    );

    await t.step("a pending local API client is approved with the keyboard alone", async () => {
      const { port, caPem } = await world.provisioning();
      const wanted = requestCertificate(port, caPem, makeKeyAndCsr("thermometer").csrPem, 20_000);
      wanted.catch(() => {}); // awaited below; a failed step before that must not leave it unhandled
      await page.click('a[href="#tree"]');
      await page.locator("body").focus();
      await page.keyboard.press("Escape");
      await page.evaluate("document.activeElement?.blur()");
      await tabTo(page, "the Clients tab", "Clients");
      await page.keyboard.press("Enter");
      await page.waitForURL(/#clients$/);
      await page.locator("tr[data-client]", { hasText: "thermometer" }).waitFor();
      await shot(page, "clients");
      await tabTo(page, "the Approve button", "Approve thermometer");
      await page.keyboard.press("Enter");
      const reply = await wanted;
      ok(reply.ok, reply.text);
      match(reply.text, /BEGIN CERTIFICATE/);
      await page.locator("tr[data-client] .badge", { hasText: "active" }).waitFor();
      await page.click('button[aria-label="Revoke thermometer"]');
      await page.locator("tr[data-client] .badge", { hasText: "revoked" }).waitFor();
      equal(world.agent.localApi().clients()[0].state, "revoked");
    });

    await t.step("every button, link and field has a name", async () => {
      for (const view of ["tree", "clouds", "tunnels", "access", "clients", "logs"]) {
        await page.click(`a[href="#${view}"]`);
        await page.locator("main.view h2").first().waitFor();
        const unnamed = await page.evaluate<string[]>(
          `[...document.querySelectorAll("button, a[href], select, input")]
            .filter((el) => (el.labels?.length ?? 0) === 0 &&
              (el.getAttribute("aria-label") ?? el.innerText ?? "").trim() === "")
            .map((el) => el.outerHTML.slice(0, 80))`,
        );
        equal(unnamed.length, 0, `unnamed controls on #${view}: ${unnamed.join(", ")}`);
      }
    });

    await t.step(
      "logs and clouds: redacted lines with a level filter, a plot per cloud",
      async () => {
        await page.click('a[href="#logs"]');
        await page.locator(".log li", { hasText: "Console session started" }).first().waitFor();
        await page.selectOption("#log-level", "warning");
        await page.locator(".log li", { hasText: "crashed on purpose" }).first().waitFor();
        equal(await page.locator(".log li.lvl-info").count(), 0);
        await shot(page, "logs");
        await page.click('a[href="#clouds"]');
        const card = page.locator('section[data-cloud="main"]');
        await card.locator(".badge", { hasText: "connected" }).waitFor();
        await card.locator(".chart canvas").waitFor();
        await shot(page, "clouds");
      },
    );

    await t.step("at a phone's width the views still fit the screen", async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      for (const view of ["tree", "clouds", "clients"]) {
        await page.click(`a[href="#${view}"]`);
        await page.locator("main.view h2").first().waitFor();
        const overflow = await page.evaluate<number>(
          "document.documentElement.scrollWidth - document.documentElement.clientWidth",
        );
        equal(overflow, 0, `#${view} is wider than the phone`);
        await shot(page, `phone-${view}`);
      }
    });
    equal(pageErrors.length, 0, `errors on the page: ${pageErrors.join("; ")}`);
  } finally {
    await browser.close();
    await world.close();
  }
});
