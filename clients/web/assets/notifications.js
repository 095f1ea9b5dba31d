// The notifications demo: one user's inbox on namespace /notifications
// (docs/PROTOCOL.md, docs/notifications.md). Signs in through
// GET /demo/token (development mode) or a pasted JWT, connects with
// auth {token, since}, keeps the newest stored id seen per user in
// localStorage (so a reload replays what arrived meanwhile), and acks every
// notification. All server-supplied text goes into the page with
// textContent only.
(() => {
  "use strict";

  const { $, element, compareIds, requester, errorBox, setStatus, trackConnection } = window.SwitchboardDemo;
  const { ID_PATTERN: TOPIC_PATTERN } = window.SwitchboardDemo;
  /** Everything this page keeps is in localStorage. */
  const storage = window.SwitchboardDemo.storage.local;
  /** How many notifications `list` fetches on connect. */
  const PAGE = 50;
  const KEYS = {
    session: "switchboard.notifications.session", // {user, token, apiKey}
    lastUser: "switchboard.notifications.user",
    since: (user) => `switchboard.notifications.since.${user}`,
    topics: (user) => `switchboard.notifications.topics.${user}`,
  };

  const ui = {
    signinView: $("signin-view"),
    signinForm: $("signin-form"),
    user: $("user"),
    jwtField: $("jwt-field"),
    jwt: $("jwt"),
    signin: $("signin"),
    inboxView: $("inbox-view"),
    signedInUser: $("signed-in-user"),
    signout: $("signout"),
    unread: $("unread-count"),
    markAll: $("mark-all-read"),
    empty: $("empty"),
    list: $("notifications"),
    announcer: $("announcer"),
    sendCard: $("send-card"),
    sendForm: $("send-form"),
    sendKind: $("send-kind"),
    sendText: $("send-text"),
    send: $("send"),
    sendResult: $("send-result"),
    topicForm: $("topic-form"),
    topic: $("topic"),
    topics: $("topics"),
  };

  const state = {
    /** {user, token, apiKey} while signed in, else null. */
    session: null,
    /** Notification id -> {li, notification}: what is shown (de-duplication). */
    shown: new Map(),
    unread: 0,
    /** The subscribed topics (sent again after every reconnect). */
    topics: [],
    /** Latest `list` request; older answers are ignored. */
    listSeq: 0,
    listing: false,
    listAgain: false,
    /** Unread stored notifications that arrived while a `list` was on its way. */
    arrivedDuringList: null,
  };

  /** For the browser test and the developer console. */
  const demo = {
    socket: null,
    /** One record per `notification` event: {id, asked (server asked for an ack), acked}. */
    received: [],
    /** The auth payload of the last connection attempt, without the token. */
    lastAuth: null,
    /** What the connection went through: "connect websocket", "disconnect transport close", ... */
    connections: [],
  };
  window.notificationsDemo = demo;

  // The socket is made once; its auth is a function, so every (re)connection
  // sends the current token and the newest id seen so far.
  const socket = io("/notifications", {
    autoConnect: false,
    auth: (callback) => {
      const auth = {};
      if (state.session) auth.token = state.session.token;
      const since = state.session ? storedSince(state.session.user) : null;
      if (since) auth.since = since;
      demo.lastAuth = { since: auth.since ?? null };
      callback(auth);
    },
  });
  demo.socket = socket;
  socket.on("connect", () => demo.connections.push(`connect ${socket.io.engine.transport.name}`));
  socket.on("disconnect", (reason, details) => {
    const why = details && details.description ? ` (${details.description})` : "";
    demo.connections.push(`disconnect ${reason}${why}`);
  });
  socket.on("connect_error", (error) => demo.connections.push(`connect_error ${error && error.message}`));
  socket.io.on("open", () => {
    socket.io.engine.on("upgrade", (transport) => demo.connections.push(`upgrade ${transport.name}`));
    socket.io.engine.on("upgradeError", (error) => demo.connections.push(`upgradeError ${error && error.message}`));
  });

  // -----------------------------------------------------------------------
  // Ids and the stored cursor

  /** Live-only (topic, broadcast) notifications have `live:` ids: never a cursor. */
  function isStored(id) {
    return typeof id === "string" && id !== "" && !id.startsWith("live:");
  }

  function storedSince(user) {
    const since = storage.get(KEYS.since(user));
    return isStored(since) ? since : null;
  }

  /** Remembers `id` as the user's cursor when it is a stored id newer than the current one. */
  function noteSeen(id) {
    if (!state.session || !isStored(id)) return;
    const key = KEYS.since(state.session.user);
    const current = storedSince(state.session.user);
    if (current === null || compareIds(current, id) < 0) storage.set(key, id);
  }

  // -----------------------------------------------------------------------
  // Requests, errors, status (/assets/common.js)

  const request = requester(socket);

  /**
   * This page's sentences for the contract errors it can meet (the rest:
   * common ones). `push:` and `token:` are the HTTP calls, `connect:` the
   * refusals of the connection.
   */
  const errors = errorBox({
    "connect:unauthorized": "Sign in again: the server refused the token (missing, malformed, wrongly signed or expired).",
    "token:bad_request": "That user id cannot be used: pick another one.",
    "push:unauthorized": "The server did not accept the development API key, so no notification was sent.",
    "push:bad_request": "The server did not accept that notification: check its kind and text.",
    "push:too_large": "That notification is too large to send: shorten its text.",
    "subscribe:bad_request": "That topic cannot be added: a page holds at most 100 topics; unsubscribe from one first.",
  });
  const { show: showError, showFailure, clear: clearError } = errors;

  /** Shows an HTTP error answer (`body` its JSON, if any) of the call `event` as a sentence. */
  function showHttpError(event, response, body, fallback) {
    const error = (body && body.error) || {};
    errors.showContract({ code: error.code || `http_${response.status}`, message: error.message || fallback, event });
  }

  trackConnection(socket, errors, {
    onConnect() {
      refreshList();
      if (state.topics.length > 0) {
        request("subscribe", { topics: state.topics })
          .then((reply) => setTopics(reply.topics))
          .catch(showFailure);
      }
    },
    disconnectedText: () => (state.session ? "Disconnected" : "Signed out"),
    reconnect: () => state.session && !socket.connected,
    onRefused(error) {
      // The message is an error code.
      const code = String((error && error.message) || "error");
      if (code === "unauthorized") {
        errors.showRefusal("unauthorized", code, "/notifications");
        signOut({ keepError: true });
      } else if (code === "bad_request" && state.session && storedSince(state.session.user)) {
        // A cursor the server does not accept: forget it and connect without one.
        storage.set(KEYS.since(state.session.user), null);
        socket.connect();
      } else {
        errors.showRefusal(code, code, "/notifications");
      }
    },
  });

  // -----------------------------------------------------------------------
  // Signing in and out

  /** The `sub` claim of a JWT, or null (display only: the server checks the token). */
  function subjectOf(token) {
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(
        [...atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "="))]
          .map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
          .join(""),
      );
      const sub = JSON.parse(json).sub;
      return typeof sub === "string" && sub !== "" ? sub : null;
    } catch {
      return null;
    }
  }

  function setSigningIn(busy, text) {
    ui.signin.disabled = busy;
    ui.signin.textContent = text || (ui.jwtField.hidden ? "Sign in" : "Sign in with token");
  }

  ui.signinForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = ui.user.value.trim();
    if (!ui.jwtField.hidden) {
      const token = ui.jwt.value.trim();
      if (!token) {
        showError("bad_request", "Paste a token made with `switchboard token USER`.");
        return;
      }
      startSession({ user: subjectOf(token) || user || "?", token, apiKey: null });
      return;
    }
    if (!user) {
      showError("bad_request", "Enter a user id.");
      return;
    }
    setSigningIn(true, "Signing in…");
    let response;
    try {
      response = await fetch(`/demo/token?user=${encodeURIComponent(user)}`, {
        headers: { Accept: "application/json" },
      });
    } catch (error) {
      setSigningIn(false);
      showError("error", `Could not reach the server: ${error.message}`);
      return;
    }
    if (response.status === 404) {
      // A production server: no demo tokens. Ask for a real one.
      ui.jwtField.hidden = false;
      setSigningIn(false);
      clearError();
      ui.jwt.focus();
      return;
    }
    let body = null;
    try { body = await response.json(); } catch { /* not JSON */ }
    if (!response.ok || !body || typeof body.token !== "string") {
      setSigningIn(false);
      showHttpError("token", response, body, "The server did not hand out a token.");
      return;
    }
    startSession({
      user: typeof body.user === "string" ? body.user : user,
      token: body.token,
      apiKey: typeof body.api_key === "string" && body.api_key ? body.api_key : null,
    });
  });

  function startSession(session) {
    state.session = session;
    storage.set(KEYS.session, JSON.stringify(session));
    storage.set(KEYS.lastUser, session.user);
    clearError();
    resetInbox();
    let topics = [];
    try { topics = JSON.parse(storage.get(KEYS.topics(session.user)) || "[]"); } catch { /* none */ }
    state.topics = Array.isArray(topics) ? topics.filter((t) => TOPIC_PATTERN.test(t)) : [];
    renderTopics();
    ui.signedInUser.textContent = session.user;
    ui.sendCard.hidden = session.apiKey === null;
    ui.sendResult.textContent = "";
    ui.signinView.hidden = true;
    ui.inboxView.hidden = false;
    ui.jwt.value = "";
    setSigningIn(false);
    document.title = "Notifications · Switchboard";
    if (socket.active) socket.disconnect();
    setStatus("connecting", "Connecting…");
    socket.connect();
  }

  /** Back to the sign-in form; the user id stays filled in. */
  function signOut({ keepError = false } = {}) {
    const user = state.session ? state.session.user : null;
    state.session = null;
    storage.set(KEYS.session, null);
    if (socket.active) socket.disconnect();
    resetInbox();
    state.topics = [];
    renderTopics();
    if (!keepError) clearError();
    ui.inboxView.hidden = true;
    ui.signinView.hidden = false;
    if (user !== null) ui.user.value = user;
    setSigningIn(false);
    document.title = "Notifications · Switchboard";
    if (!socket.connected) setStatus("disconnected", "Signed out");
    ui.user.focus();
  }

  ui.signout.addEventListener("click", () => signOut());

  function restoreSession() {
    ui.user.value = storage.get(KEYS.lastUser) || "";
    let session = null;
    try { session = JSON.parse(storage.get(KEYS.session) || "null"); } catch { /* none */ }
    if (session && typeof session.user === "string" && typeof session.token === "string") {
      startSession({ user: session.user, token: session.token, apiKey: session.apiKey || null });
    }
  }

  // -----------------------------------------------------------------------
  // The inbox

  function resetInbox() {
    state.shown.clear();
    state.listSeq += 1;
    state.arrivedDuringList = null;
    ui.list.replaceChildren();
    ui.announcer.textContent = "";
    setUnread(0);
    updateEmpty();
  }

  function setUnread(count) {
    const n = Number.isInteger(count) && count > 0 ? count : 0;
    state.unread = n;
    ui.unread.textContent = String(n);
    ui.unread.dataset.count = String(n);
    ui.unread.setAttribute("aria-label", `${n} unread`);
    ui.markAll.disabled = n === 0;
    document.title = n > 0 ? `(${n}) Notifications · Switchboard` : "Notifications · Switchboard";
  }

  function updateEmpty() {
    ui.empty.hidden = state.shown.size > 0;
  }

  function formatTime(ts) {
    const date = new Date(ts);
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  /** A one-line rendering of a notification's `data`. */
  function summary(data) {
    if (data === null || data === undefined) return "";
    if (typeof data === "string") return data;
    if (typeof data === "object" && !Array.isArray(data)) {
      for (const key of ["text", "message", "title", "body"]) {
        if (typeof data[key] === "string") return data[key];
      }
    }
    let text;
    try { text = JSON.stringify(data); } catch { text = String(data); }
    return text.length > 300 ? `${text.slice(0, 299)}…` : text;
  }

  /** Whether `a` belongs above `b` (newest first). */
  function newer(a, b) {
    if (isStored(a.id) && isStored(b.id)) return compareIds(a.id, b.id) > 0;
    const ta = Number(a.ts) || 0;
    const tb = Number(b.ts) || 0;
    return ta !== tb ? ta > tb : compareIds(a.id, b.id) > 0;
  }

  function markReadButton(notification) {
    const button = element("button", { className: "btn btn--small", testid: "mark-read", text: "Mark read" });
    button.type = "button";
    button.setAttribute("aria-label", `Mark "${String(notification.kind ?? "notification")}" read`);
    button.addEventListener("click", () => markRead(notification.id, button));
    return button;
  }

  function notificationElement(notification) {
    const li = element("li", { className: "notif", testid: "notification" });
    li.dataset.id = notification.id;
    const stored = isStored(notification.id);
    li.dataset.live = String(!stored);

    const dot = element("span", { className: "notif__dot" });
    dot.setAttribute("aria-hidden", "true");

    const body = element("div");
    const meta = element("div", { className: "notif__meta" });
    meta.append(element("span", { className: "notif__kind", testid: "notification-kind", text: String(notification.kind ?? "") }));
    if (typeof notification.topic === "string" && notification.topic) {
      meta.append(element("span", { className: "tag", testid: "notification-topic", text: `topic ${notification.topic}` }));
    } else if (!stored) {
      meta.append(element("span", { className: "tag", text: "broadcast" }));
    }
    if (Number.isFinite(notification.ts)) {
      const time = element("time", { className: "notif__time" });
      const date = new Date(notification.ts);
      time.dateTime = date.toISOString();
      time.title = date.toLocaleString();
      time.textContent = formatTime(notification.ts);
      meta.append(time);
    }
    const line = summary(notification.data);
    const text = element("p", { className: "notif__text", testid: "notification-text", text: line || "(no data)" });
    if (!line) text.classList.add("notif__text--empty");
    body.append(meta, text);

    const actions = element("div", { className: "notif__actions" });
    li.append(dot, body, actions);
    return li;
  }

  /** Shows `notification` as read or unread (live-only ones have no read state). */
  function setRead(entry, read) {
    const stored = isStored(entry.notification.id);
    entry.notification.read = read;
    entry.li.dataset.read = String(read || !stored);
    const actions = entry.li.querySelector(".notif__actions");
    if (read || !stored) actions.replaceChildren();
    else if (!actions.firstChild) actions.append(markReadButton(entry.notification));
  }

  /** Inserts a notification in order unless it is shown already; true when added. */
  function addNotification(notification) {
    if (!notification || typeof notification.id !== "string" || state.shown.has(notification.id)) {
      return false;
    }
    const li = notificationElement(notification);
    let before = null;
    for (const node of ui.list.children) {
      const other = state.shown.get(node.dataset.id);
      if (other && newer(notification, other.notification)) {
        before = node;
        break;
      }
    }
    ui.list.insertBefore(li, before);
    const entry = { li, notification: { ...notification } };
    state.shown.set(notification.id, entry);
    setRead(entry, notification.read === true);
    updateEmpty();
    return true;
  }

  // Every notification asks for an ack: acking records its delivery.
  socket.on("notification", (notification, ack) => {
    const record = { id: notification && notification.id, asked: typeof ack === "function", acked: false };
    demo.received.push(record);
    if (typeof ack === "function") {
      ack({ ok: true });
      record.acked = true;
    }
    if (!notification || typeof notification.id !== "string") return;
    noteSeen(notification.id);
    if (!addNotification(notification)) return;
    const stored = isStored(notification.id);
    if (stored && notification.read !== true) {
      setUnread(state.unread + 1);
      if (state.arrivedDuringList) state.arrivedDuringList.add(notification.id);
    }
    const line = summary(notification.data);
    ui.announcer.textContent = `New notification: ${String(notification.kind ?? "")}${line ? `: ${line}` : ""}`;
  });

  /**
   * Fetches the newest page with `list`: adds what is missing, refreshes the
   * read state of what is shown and takes the unread count. Runs one at a
   * time; a call while one is on its way runs once more afterwards.
   */
  async function refreshList() {
    if (state.listing) {
      state.listAgain = true;
      return;
    }
    state.listing = true;
    try {
      do {
        state.listAgain = false;
        await listOnce();
      } while (state.listAgain && socket.connected);
    } finally {
      state.listing = false;
    }
  }

  async function listOnce() {
    const seq = ++state.listSeq;
    const arrived = new Set();
    state.arrivedDuringList = arrived;
    let reply;
    try {
      reply = await request("list", { limit: PAGE });
    } catch (error) {
      if (seq === state.listSeq && socket.connected) showFailure(error);
      return;
    } finally {
      if (state.arrivedDuringList === arrived) state.arrivedDuringList = null;
    }
    if (seq !== state.listSeq) return; // signed out or reset meanwhile
    const notifications = Array.isArray(reply.notifications) ? reply.notifications : [];
    let newest = null;
    const listed = new Set();
    for (const notification of notifications) {
      if (!notification || !isStored(notification.id)) continue;
      listed.add(notification.id);
      if (newest === null || compareIds(newest, notification.id) < 0) newest = notification.id;
      if (!addNotification(notification)) {
        setRead(state.shown.get(notification.id), notification.read === true);
      }
    }
    if (newest !== null) noteSeen(newest);
    // Arrivals newer than the page were committed after the count was taken.
    let later = 0;
    for (const id of arrived) {
      const entry = state.shown.get(id);
      if (!listed.has(id) && (newest === null || compareIds(id, newest) > 0) && entry && !entry.notification.read) {
        later += 1;
      }
    }
    setUnread((Number.isInteger(reply.unread) ? reply.unread : 0) + later);
  }

  // Another page of this user (or this one) read something.
  socket.on("unread", (payload) => {
    const count = payload && Number.isInteger(payload.count) ? payload.count : null;
    if (count === null) return;
    setUnread(count);
    if (count === 0) {
      for (const entry of state.shown.values()) if (isStored(entry.notification.id)) setRead(entry, true);
    } else {
      // Which ones were read is not said: fetch the read state again.
      refreshList();
    }
  });

  async function markRead(id, button) {
    button.disabled = true;
    try {
      const reply = await request("read", { ids: [id] });
      const entry = state.shown.get(id);
      if (entry) setRead(entry, true);
      if (Number.isInteger(reply.unread)) setUnread(reply.unread);
    } catch (error) {
      button.disabled = false;
      showFailure(error);
    }
  }

  ui.markAll.addEventListener("click", async () => {
    ui.markAll.disabled = true;
    try {
      const reply = await request("read", { all: true });
      for (const entry of state.shown.values()) if (isStored(entry.notification.id)) setRead(entry, true);
      setUnread(Number.isInteger(reply.unread) ? reply.unread : 0);
    } catch (error) {
      ui.markAll.disabled = state.unread === 0;
      showFailure(error);
    }
  });

  // -----------------------------------------------------------------------
  // "Send me a test notification" (development mode: the API key came with the token)

  ui.sendForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const session = state.session;
    if (!session || !session.apiKey) return;
    const kind = ui.sendKind.value.trim();
    const text = ui.sendText.value;
    if (!kind) {
      showError("bad_request", "The kind must not be empty.");
      return;
    }
    ui.send.disabled = true;
    ui.sendResult.textContent = "Sending…";
    try {
      const response = await fetch("/api/v1/notifications", {
        method: "POST",
        headers: {
          Authorization: `Bearer ${session.apiKey}`,
          "Content-Type": "application/json",
          Accept: "application/json",
        },
        body: JSON.stringify({ users: [session.user], kind, data: { text } }),
      });
      let body = null;
      try { body = await response.json(); } catch { /* not JSON */ }
      if (response.status !== 201) {
        ui.sendResult.textContent = "";
        showHttpError("push", response, body, "The push was refused.");
        return;
      }
      const sent = body && Array.isArray(body.notifications) ? body.notifications[0] : null;
      const online = body && Number.isInteger(body.online) ? body.online : 0;
      ui.sendResult.textContent = `Sent${sent ? ` (id ${sent.id})` : ""}; ${online} connected ${online === 1 ? "page" : "pages"} reached.`;
    } catch (error) {
      ui.sendResult.textContent = "";
      showError("error", `Could not reach the server: ${error.message}`);
    } finally {
      ui.send.disabled = false;
    }
  });

  // -----------------------------------------------------------------------
  // Topics (live only)

  function setTopics(topics) {
    state.topics = Array.isArray(topics) ? topics.filter((t) => typeof t === "string") : [];
    if (state.session) storage.set(KEYS.topics(state.session.user), JSON.stringify(state.topics));
    renderTopics();
  }

  function renderTopics() {
    const items = state.topics.map((topic) => {
      const li = element("li", { className: "topic-chip", testid: "topic-chip" });
      li.dataset.topic = topic;
      const name = element("span", { text: topic });
      const remove = element("button", { className: "alert__close", text: "×" });
      remove.type = "button";
      remove.setAttribute("aria-label", `Unsubscribe from ${topic}`);
      remove.addEventListener("click", async () => {
        try {
          const reply = await request("unsubscribe", { topics: [topic] });
          setTopics(reply.topics);
        } catch (error) {
          showFailure(error);
        }
      });
      li.append(name, remove);
      return li;
    });
    ui.topics.replaceChildren(...items);
  }

  ui.topicForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const topic = ui.topic.value.trim();
    if (!TOPIC_PATTERN.test(topic)) {
      showError("bad_request", "A topic may use letters, digits and _ . : - (up to 64).");
      return;
    }
    if (!socket.connected) {
      showError("error", "Not connected: try again once the status says Connected.");
      return;
    }
    try {
      const reply = await request("subscribe", { topics: [topic] });
      setTopics(reply.topics);
      ui.topic.value = "";
    } catch (error) {
      showFailure(error);
    }
  });

  restoreSession();
})();
