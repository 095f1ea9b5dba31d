#!/usr/bin/env node
// End-to-end check of the stock Admin UI the server serves at /admin/
// (@socket.io/admin-ui 0.5.1, vendored), in a real Chromium driven by
// playwright-core (Debian's /usr/bin/chromium).
//
//     node tests/interop/browser/admin.check.mjs URL SCREENSHOT_PATH USERNAME PASSWORD
//
// The server must run with `--admin-username USERNAME --admin-password
// PASSWORD`. A chat page (its own browser context) joins a room; then the
// Admin UI is opened, signed in with the page's own origin as the server
// URL, and must show the dashboard with the right client count (the chat
// page's connection and its own), this one server, the namespaces with
// their sockets, and, in the socket list of /chat, the chat page's socket
// with its rooms, and its icons in their font (vendored, served under
// /admin/). Then it manages the chat: on the socket's page the button whose
// tooltip is "Disconnect this Socket instance" is clicked; the chat page
// must show it (its status goes to reconnecting, then it connects again with
// a new socket and is back in its room), and the UI must follow (the old
// socket gone from the list, the new one in it, in the room). Last, a
// screenshot of the UI and the chat page side by side is written to
// SCREENSHOT_PATH (PNG).
//
// Every wait is on the page's state with a bound (no fixed sleeps). Prints
// one `ok   <name>` / `FAIL <name>: ...` line per check and, last,
// `interop: admin.check.mjs chromium: <P> checks ok, <F> failed`.
//
// CHROMIUM (environment) overrides the browser path.

import { CheckFailed, expect, main, show } from "../js/lib/checks.mjs";

import { WAIT_MS, runBrowserChecks, saveScreenshots, sel, visible, waitForStatus, waitForText, waitForValue } from "./lib.mjs";

const PROGRAM = "admin.check.mjs";
// Wide enough for the UI's navigation drawer to stay open (Vuetify's lg).
const DESKTOP = { width: 1400, height: 860 };
const CHAT = { width: 520, height: 860 };

const CHECKS = [
  "the chat page connects and joins a room",
  "/admin/ shows the stock UI's connection form",
  "a wrong password is refused on the form",
  "signing in with the page's own origin opens the dashboard",
  "the dashboard counts 2 clients, both on WebSocket",
  "the dashboard shows this server, healthy, and the namespaces' sockets",
  "the socket list of /chat has the chat page's socket",
  "the socket's page lists its rooms",
  "the icons show: their font (vendored) loads from /admin/",
  "the socket's page disconnects the chat socket: the chat page reconnects and rejoins",
  "the socket list follows: the old socket gone, the new one in the room",
  "no script errors on the pages",
  "screenshot of the Admin UI and the chat page saved as PNG",
];

/** In the page: the trimmed texts of the elements `inner` of the card whose title starts with `title`. */
const cardTexts = ([title, inner]) => {
  const found = [...document.querySelectorAll(".v-card")].find((c) => c.querySelector(".v-card__title")?.textContent.trim().startsWith(title));
  return found ? [...found.querySelectorAll(inner)].map((e) => e.textContent.trim()) : `<no card ${title}>`;
};

/** Waits until the texts of `inner` in the card titled `title` are `expected`. */
const waitForCard = (page, title, inner, expected, what) => waitForValue(page, cardTexts, [title, inner], expected, what);

/** The UI's English tooltips (its en.json) of the buttons used here. */
const DISCONNECT_SOCKET = "Disconnect this Socket instance";

/**
 * The button of `page` whose tooltip reads `tooltip`: the UI's action
 * buttons are icon-only (no text nor ARIA label, only an icon glyph,
 * named by a Vuetify tooltip shown on hover), so each button of the page's
 * cards is hovered in turn until that tooltip shows.
 */
async function buttonWithTooltip(page, tooltip) {
  const buttons = page.locator(".v-card button.v-btn:not([disabled])");
  const count = await buttons.count();
  const shown = page.locator(".v-tooltip__content", { hasText: tooltip });
  for (let i = 0; i < count; i++) {
    const button = buttons.nth(i);
    await button.hover({ timeout: WAIT_MS });
    try {
      await shown.first().waitFor({ state: "visible", timeout: 1000 });
      return button;
    } catch {
      // Not this one.
    }
  }
  throw new CheckFailed(`a button with the tooltip ${show(tooltip)}`, `none among ${count} buttons`);
}

/** Fills the UI's connection form and submits it. */
async function signIn(page, base, username, password) {
  await page.getByLabel("Server URL").fill(base);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Connect" }).click();
}

async function session({ base, screenshotPath, browser, check, watch, pageErrors }) {
  const [username, password] = process.argv.slice(4);
  if (!username || !password) throw new Error("usage: admin.check.mjs URL SCREENSHOT_PATH USERNAME PASSWORD");
  const room = `ops-${Date.now().toString(36)}`;

  const chatContext = await browser.newContext({ viewport: CHAT });
  const adminContext = await browser.newContext({ viewport: DESKTOP });
  const chat = await chatContext.newPage();
  const ui = await adminContext.newPage();
  watch("chat", chat);
  watch("admin", ui);
  let chatId;

  await check("the chat page connects and joins a room", async () => {
    await chat.goto(`${base}/chat`);
    await waitForStatus(chat, "connected");
    await chat.fill(sel("name"), "Ada");
    await chat.fill(sel("room"), room);
    await chat.click(sel("join"));
    await visible(chat, "room-view", "the room view");
    await waitForText(chat, sel("room-name"), room, "room name");
    chatId = await chat.evaluate(() => window.chatDemo.socket.id);
    expect(true, typeof chatId === "string" && chatId.length === 20, `a socket id (${show(chatId)})`);
    // Wait for the chat page's upgrade to WebSocket, so that the count below is stable.
    await waitForValue(chat, () => window.chatDemo.socket.io.engine.transport.name, null, "websocket", "the chat page's transport");
  });

  await check("/admin/ shows the stock UI's connection form", async () => {
    const response = await ui.goto(`${base}/admin/`);
    expect(200, response.status(), "status of /admin/");
    expect("Socket.IO Admin UI", await ui.title(), "title");
    await ui.getByLabel("Server URL").waitFor({ state: "visible", timeout: WAIT_MS });
  });

  await check("a wrong password is refused on the form", async () => {
    await signIn(ui, base, username, `${password}-wrong`);
    await waitForText(ui, ".v-dialog .red--text", "Invalid credentials", "the form's error");
  });

  await check("signing in with the page's own origin opens the dashboard", async () => {
    await signIn(ui, base, username, password);
    try {
      await ui.getByLabel("Server URL").waitFor({ state: "hidden", timeout: WAIT_MS });
    } catch {
      const error = await ui.locator(".v-dialog .red--text").textContent().catch(() => "<none>");
      throw new CheckFailed("the connection form closed", `still open, error ${show(error)}`);
    }
    await ui.locator(".v-card__title", { hasText: "Clients" }).first().waitFor({ state: "visible", timeout: WAIT_MS });
  });

  await check("the dashboard counts 2 clients, both on WebSocket", async () => {
    // The clients card: one row per transport (WebSocket, then HTTP
    // long-polling) with its count; the UI's own connection is a client too.
    await waitForCard(ui, "Clients", "h2", ["2", "0"], "clients by transport (websocket, polling)");
  });

  await check("the dashboard shows this server, healthy, and the namespaces' sockets", async () => {
    await waitForCard(ui, "Servers", "h2", ["1", "0"], "servers (healthy, unhealthy)");
    // One row per namespace: its name and its sockets.
    await waitForValue(
      ui,
      (title) => {
        const found = [...document.querySelectorAll(".v-card")].find((c) => c.querySelector(".v-card__title")?.textContent.trim().startsWith(title));
        if (!found) return `<no card ${title}>`;
        const rows = [...found.querySelectorAll("tbody tr")].map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim()));
        return rows.filter(([name]) => name === "/chat" || name === "/admin");
      },
      "Namespaces",
      [["/admin", "1"], ["/chat", "1"]],
      "the namespaces /admin and /chat with their sockets",
    );
  });

  await check("the socket list of /chat has the chat page's socket", async () => {
    await ui.evaluate(() => {
      window.location.hash = "#/sockets/";
    });
    await ui.locator(".selector").first().waitFor({ state: "visible", timeout: WAIT_MS });
    await ui.locator(".selector .v-select__slot").first().click();
    await ui.locator(".v-menu__content .v-list-item", { hasText: "/chat" }).first().click();
    await waitForValue(
      ui,
      (id) => [...document.querySelectorAll(".v-data-table tbody tr td:first-child")].map((td) => td.textContent.trim()).includes(id),
      chatId,
      true,
      `the chat socket ${chatId} in the list`,
    );
    const transport = await ui.locator(".v-data-table tbody tr", { hasText: chatId }).first().textContent();
    expect(true, /websocket/i.test(transport), `the row shows WebSocket: ${show(transport)}`);
  });

  await check("the socket's page lists its rooms", async () => {
    await ui.locator(".v-data-table tbody tr", { hasText: chatId }).first().click();
    await waitForCard(ui, "Rooms", "tbody tr td:first-child", [chatId, room].sort(), "the socket's rooms");
    // The page slides in: the screenshot waits for it to be still.
    const moving = () => document.querySelectorAll('[class*="-transition-enter-active"], [class*="-transition-leave-active"]').length;
    await waitForValue(ui, moving, null, 0, "page transitions running");
  });

  await check("the icons show: their font (vendored) loads from /admin/", async () => {
    await waitForValue(
      ui,
      () => [...document.fonts].filter((f) => f.family.replace(/["']/g, "") === "Material Design Icons").map((f) => f.status),
      null,
      ["loaded"],
      "the icon font's status",
    );
    const urls = await ui.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name).filter((u) => u.includes("materialdesignicons")));
    expect(true, urls.length >= 2 && urls.every((u) => u.startsWith(`${base}/admin/mdi-7.4.47/`)), `the icon font's files from /admin/mdi-7.4.47/: ${show(urls)}`);
  });

  let newId;
  await check("the socket's page disconnects the chat socket: the chat page reconnects and rejoins", async () => {
    // Every status the chat page shows from now on, however briefly.
    await chat.evaluate((s) => {
      const status = document.querySelector(s);
      window.adminStates = [status.dataset.state];
      new MutationObserver(() => window.adminStates.push(status.dataset.state)).observe(status, { attributes: true, attributeFilter: ["data-state"] });
    }, sel("status"));
    const button = await buttonWithTooltip(ui, DISCONNECT_SOCKET);
    await button.click();
    await waitForValue(chat, () => window.adminStates.includes("reconnecting"), null, true, "the chat page's status went to reconnecting");
    await waitForStatus(chat, "connected");
    await waitForValue(chat, (old) => { const id = window.chatDemo.socket.id; return typeof id === "string" && id !== old; }, chatId, true, "a new socket on the chat page");
    newId = await chat.evaluate(() => window.chatDemo.socket.id);
    const states = await chat.evaluate(() => window.adminStates);
    expect(["connected", "reconnecting", "connected"], states.filter((st, i) => st !== states[i - 1]), "the chat page's statuses");
    await visible(chat, "room-view", "the room view");
    await waitForText(chat, sel("room-name"), room, "room name");
  });

  await check("the socket list follows: the old socket gone, the new one in the room", async () => {
    await ui.evaluate(() => {
      window.location.hash = "#/sockets/";
    });
    await waitForValue(
      ui,
      (ids) => {
        const listed = [...document.querySelectorAll(".v-data-table tbody tr td:first-child")].map((td) => td.textContent.trim());
        return ids.map((id) => listed.includes(id));
      },
      [chatId, newId],
      [false, true],
      `the old socket ${chatId} gone and the new ${newId} listed`,
    );
    await ui.locator(".v-data-table tbody tr", { hasText: newId }).first().click();
    await waitForCard(ui, "Rooms", "tbody tr td:first-child", [newId, room].sort(), "the new socket's rooms");
    const moving = () => document.querySelectorAll('[class*="-transition-enter-active"], [class*="-transition-leave-active"]').length;
    await waitForValue(ui, moving, null, 0, "page transitions running");
  });

  await check("no script errors on the pages", async () => {
    expect([], pageErrors, "uncaught page errors");
  });

  await check("screenshot of the Admin UI and the chat page saved as PNG", async () => {
    await saveScreenshots(adminContext, [[ui, DESKTOP], [chat, CHAT]], screenshotPath);
  });
}

main(() => runBrowserChecks(PROGRAM, CHECKS, session));
