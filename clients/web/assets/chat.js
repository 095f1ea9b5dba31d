// The chat demo: one room at a time on namespace /chat (docs/PROTOCOL.md).
// All user-supplied text is put into the page with textContent only.
(() => {
  "use strict";

  const { $, element, storage, compareIds, requester, errorBox, trackConnection } = window.SwitchboardDemo;
  const { ID_PATTERN: ROOM_PATTERN, MAX_NAME } = window.SwitchboardDemo;
  const MAX_TEXT = 4000;
  /** Page size of `history`; a full page means there may be older messages. */
  const PAGE = 50;
  /** Send `typing false` after this long without a keystroke. */
  const TYPING_IDLE_MS = 2000;
  /** While typing goes on, repeat `typing true` this often (never per keystroke: rate limit). */
  const TYPING_REFRESH_MS = 3000;
  /** Hide someone's indicator when no refresh came for this long (typing events are volatile). */
  const TYPING_EXPIRE_MS = 6500;
  const KEYS = {
    name: "switchboard.chat.name",
    room: "switchboard.chat.room",
    joined: "switchboard.chat.joined", // sessionStorage: rejoin after a reload
    myIds: "switchboard.chat.myIds", // sessionStorage: this tab's socket ids
  };

  const ui = {
    joinView: $("join-view"),
    joinForm: $("join-form"),
    name: $("name"),
    room: $("room"),
    join: $("join"),
    roomView: $("room-view"),
    roomName: $("room-name"),
    leave: $("leave"),
    members: $("members"),
    memberCount: $("member-count"),
    scroll: $("messages-scroll"),
    loadOlder: $("load-older"),
    empty: $("empty"),
    messages: $("messages"),
    typing: $("typing"),
    sendForm: $("send-form"),
    text: $("text"),
    counter: $("counter"),
    send: $("send"),
  };

  const socket = io("/chat");
  // For the browser test and the developer console.
  window.chatDemo = { socket };

  const state = {
    /** The room the user wants to be in (rejoined after every reconnect that is not recovered). */
    wanted: null,
    /** The name to join with. */
    name: null,
    /** The room this socket is currently a member of, or null. */
    joined: null,
    /**
     * The room this socket was a member of when its connection dropped, or
     * null: with connection state recovery the server keeps it there (with
     * its name) until the socket comes back.
     */
    droppedRoom: null,
    /** Message id -> <li>, for de-duplication. */
    seen: new Map(),
    oldestId: null,
    newestId: null,
    hasOlder: false,
    /** Whether the conversation is scrolled to the end (and should stay there). */
    atBottom: true,
    loadingOlder: false,
    /** Member id -> Member of the joined room: the join ack's list, kept by `presence` changes. */
    members: new Map(),
    /** A `members` request in flight (a resync), so a burst of presence asks once. */
    resyncing: false,
    /** Member id -> {name, timer} of those typing now. */
    typers: new Map(),
    typingSent: false,
    typingSentAt: 0,
    typingIdle: null,
    /** Socket ids this tab has had: which messages are ours. */
    myIds: new Set(JSON.parse(storage.session.get(KEYS.myIds) || "[]")),
  };

  // -----------------------------------------------------------------------
  // Requests, errors, connection status (/assets/common.js)

  const request = requester(socket);

  /** This page's sentences for the contract errors it can meet (the rest: common ones). */
  const errors = errorBox({
    "join:bad_request": "That display name cannot be used: it needs a visible character, and no control or text-direction characters.",
    "join:forbidden": "That room is full. Try another room, or this one again later.",
    "message:bad_request": ({ payload }) => {
      const length = [...String((payload && payload.text) ?? "")].length;
      return length > MAX_TEXT
        ? `That message is too long: ${length} characters, at most ${MAX_TEXT}. Shorten it, then send it again.`
        : "That message cannot be sent: it needs some visible text, and no NUL characters.";
    },
    "message:forbidden": "This page is not in the room right now. Wait until it has joined again, then send.",
    rate_limited: "You are sending too fast: wait a moment, then try again.",
  });
  const { show: showError, showFailure, clear: clearError } = errors;

  trackConnection(socket, errors, {
    onConnect() {
      state.myIds.add(socket.id);
      storage.session.set(KEYS.myIds, JSON.stringify([...state.myIds].slice(-20)));
      const room = state.droppedRoom;
      state.droppedRoom = null;
      if (socket.recovered === true && room !== null) {
        // Connection state recovery (docs/PROTOCOL.md): the same socket, still
        // in `room` under its name; what it missed follows as `message` and
        // `presence` events. Nothing to join, nothing to reload or redraw.
        if (room === state.wanted) {
          state.joined = room;
          updateComposer();
          return;
        }
        // Left (or chose another room) while the connection was down.
        request("leave", { room }).catch(() => {});
      }
      if (state.wanted) joinRoom(state.wanted, state.name, { rejoin: true });
    },
    onDisconnect() {
      state.droppedRoom = state.joined;
      state.joined = null;
      state.typingSent = false;
      clearTypers();
      updateComposer();
    },
    onRefused(error) {
      errors.showRefusal("connect_error", error.message, "/chat");
    },
  });

  // -----------------------------------------------------------------------
  // Joining and leaving

  function restoreForm() {
    ui.name.value = storage.local.get(KEYS.name) || "";
    ui.room.value = storage.local.get(KEYS.room) || "lobby";
    const joined = storage.session.get(KEYS.joined);
    if (joined && ui.name.value.trim() && ROOM_PATTERN.test(joined)) {
      state.wanted = joined;
      state.name = ui.name.value.trim();
      ui.join.disabled = true;
      ui.join.textContent = "Joining…";
    }
  }

  ui.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = ui.name.value.trim();
    const room = ui.room.value.trim();
    if (!name || [...name].length > MAX_NAME) {
      showError("bad_request", `The display name must be 1 to ${MAX_NAME} characters.`);
      return;
    }
    if (!ROOM_PATTERN.test(room)) {
      showError("bad_request", "The room may use letters, digits and _ . : - (up to 64).");
      return;
    }
    storage.local.set(KEYS.name, name);
    storage.local.set(KEYS.room, room);
    state.wanted = room;
    state.name = name;
    ui.join.disabled = true;
    ui.join.textContent = socket.connected ? "Joining…" : "Waiting for the connection…";
    // Not connected yet: the `connect` handler joins.
    if (socket.connected) joinRoom(room, name, { rejoin: false });
  });

  async function joinRoom(room, name, { rejoin }) {
    let reply;
    try {
      reply = await request("join", { room, name });
    } catch (error) {
      showFailure(error);
      if (ui.roomView.hidden) {
        // Not in the room yet (first join, or the rejoin after a reload): back to the form.
        // A rejoin after a reconnect keeps the room view; the next reconnect tries again.
        state.wanted = null;
        storage.session.set(KEYS.joined, null);
        ui.join.disabled = false;
        ui.join.textContent = "Join room";
      }
      return;
    }
    if (state.wanted !== room) {
      // Left (or went elsewhere) while the join was on its way.
      request("leave", { room }).catch(() => {});
      return;
    }
    const sameRoom = ui.roomName.textContent === reply.room && !ui.roomView.hidden;
    if (!sameRoom) resetRoom();
    state.joined = reply.room;
    storage.session.set(KEYS.joined, reply.room);
    if (!rejoin) clearError();
    ui.roomName.textContent = reply.room;
    document.title = `#${reply.room} · Chat · Switchboard`;
    setMembers(reply.members);
    const history = Array.isArray(reply.history) ? reply.history : [];
    if (!sameRoom) state.hasOlder = history.length >= PAGE;
    addMessages(history);
    ui.joinView.hidden = true;
    ui.roomView.hidden = false;
    ui.join.disabled = false;
    ui.join.textContent = "Join room";
    updateComposer();
    if (!sameRoom) {
      scrollToBottom();
      ui.text.focus();
    }
  }

  function resetRoom() {
    state.seen.clear();
    state.oldestId = null;
    state.newestId = null;
    state.hasOlder = false;
    state.atBottom = true;
    ui.messages.replaceChildren();
    state.members.clear();
    ui.members.replaceChildren();
    ui.memberCount.textContent = "0";
    clearTypers();
    ui.text.value = "";
    updateCounter();
  }

  ui.leave.addEventListener("click", async () => {
    const room = state.joined;
    stopTyping();
    state.wanted = null;
    state.joined = null;
    storage.session.set(KEYS.joined, null);
    ui.roomView.hidden = true;
    ui.joinView.hidden = false;
    document.title = "Chat · Switchboard";
    resetRoom();
    ui.roomName.textContent = "";
    ui.name.focus();
    if (room && socket.connected) {
      try {
        await request("leave", { room });
      } catch (error) {
        if (error.code !== "forbidden") showFailure(error);
      }
    }
  });

  // -----------------------------------------------------------------------
  // Members and presence

  function hueOf(text) {
    let hash = 0;
    for (const ch of text) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return hash % 360;
  }

  function avatar(name, small) {
    const span = element("span", { className: small ? "avatar avatar--small" : "avatar", text: [...name.trim()][0] || "?" });
    span.setAttribute("aria-hidden", "true");
    span.style.setProperty("--hue", String(hueOf(name)));
    return span;
  }

  /** The server's order: by name, then id, comparing code points. */
  function codePointCompare(a, b) {
    const x = [...a];
    const y = [...b];
    for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
      const d = x[i].codePointAt(0) - y[i].codePointAt(0);
      if (d !== 0) return d;
    }
    return x.length - y.length;
  }

  function byNameThenId(a, b) {
    return codePointCompare(a.name, b.name) || codePointCompare(a.id, b.id);
  }

  /** Replaces the member list (a join ack or a `members` answer). */
  function setMembers(members) {
    state.members.clear();
    for (const member of Array.isArray(members) ? members : []) {
      if (member && typeof member.id === "string") {
        state.members.set(member.id, { id: member.id, name: String(member.name) });
      }
    }
    renderMembers();
  }

  /** Asks the server for the whole list again (our list and its count disagree). */
  async function resyncMembers(room) {
    if (state.resyncing) return;
    state.resyncing = true;
    try {
      const reply = await request("members", { room });
      if (state.joined === room) setMembers(reply.members);
    } catch {
      // Not a member any more, or no answer: the next join or presence fixes it.
    } finally {
      state.resyncing = false;
    }
  }

  function renderMembers() {
    const members = [...state.members.values()].sort(byNameThenId);
    const items = members.map((member) => {
      const li = element("li", { className: "member", testid: "member" });
      li.dataset.id = member.id;
      const name = element("span", { className: "member__name", testid: "member-name", text: member.name });
      li.append(avatar(member.name, true), name);
      if (member.id === socket.id) li.append(element("span", { className: "muted", text: "(you)" }));
      return li;
    });
    ui.members.replaceChildren(...items);
    ui.memberCount.textContent = String(items.length);
  }

  // A presence carries the one member who joined (or renamed itself) or
  // left and the room's count, not the list (docs/PROTOCOL.md).
  socket.on("presence", (presence) => {
    if (!presence || presence.room !== state.joined) return;
    const member = presence.member || {};
    if (typeof member.id === "string") {
      if (presence.event === "join") state.members.set(member.id, { id: member.id, name: String(member.name) });
      else if (presence.event === "leave") state.members.delete(member.id);
    }
    renderMembers();
    if (Number.isInteger(presence.count) && presence.count !== state.members.size) {
      resyncMembers(presence.room);
    }
    if (presence.event === "leave") removeTyper(member.id);
    if (member.name && (presence.event === "join" || presence.event === "leave")) {
      addNotice(`${member.name} ${presence.event === "join" ? "joined" : "left"}`);
    }
  });

  // -----------------------------------------------------------------------
  // Messages

  function isNearBottom() {
    const el = ui.scroll;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.scroll.scrollTop = ui.scroll.scrollHeight;
    state.atBottom = true;
  }

  // Stay at the end when the conversation area changes size (an error shown,
  // the keyboard opening on a phone, the composer growing).
  ui.scroll.addEventListener("scroll", () => {
    state.atBottom = isNearBottom();
  }, { passive: true });
  new ResizeObserver(() => {
    if (state.atBottom) ui.scroll.scrollTop = ui.scroll.scrollHeight;
  }).observe(ui.scroll);

  function formatTime(ts) {
    const date = new Date(ts);
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function messageElement(message) {
    const from = message.from || {};
    const name = String(from.name || "?");
    const li = element("li", { className: "msg", testid: "message" });
    li.dataset.id = message.id;
    li.dataset.from = String(from.id ?? "");
    li.dataset.ts = String(message.ts ?? "");
    if (state.myIds.has(from.id)) li.classList.add("msg--mine");

    const body = element("div");
    const meta = element("div", { className: "msg__meta" });
    const who = element("span", { className: "msg__from", testid: "message-from", text: name });
    const time = element("time", { className: "msg__time" });
    if (Number.isFinite(message.ts)) {
      const date = new Date(message.ts);
      time.dateTime = date.toISOString();
      time.title = date.toLocaleString();
      time.textContent = formatTime(message.ts);
    }
    meta.append(who, time);
    const text = element("p", { className: "msg__text", testid: "message-text", text: String(message.text ?? "") });
    body.append(meta, text);
    li.append(avatar(name, false), body);
    return li;
  }

  /** Inserts a message in id order unless it is already shown; true when added. */
  function addMessage(message) {
    if (!message || typeof message.id !== "string" || state.seen.has(message.id)) return false;
    const li = messageElement(message);
    if (state.newestId === null || compareIds(state.newestId, message.id) < 0) {
      // The newest (live messages): at the end, after any notice.
      ui.messages.append(li);
      state.newestId = message.id;
    } else {
      // Older (history): after the last shown message with a smaller id.
      let after = null;
      for (let node = ui.messages.lastElementChild; node; node = node.previousElementSibling) {
        if (node.dataset.id && compareIds(node.dataset.id, message.id) < 0) {
          after = node;
          break;
        }
      }
      if (after) after.after(li);
      else ui.messages.prepend(li);
    }
    state.seen.set(message.id, li);
    regroup(li);
    if (li.nextElementSibling) regroup(li.nextElementSibling);
    if (state.oldestId === null || compareIds(message.id, state.oldestId) < 0) {
      state.oldestId = message.id;
    }
    updateEmpty();
    return true;
  }

  /** A message right after one from the same sender (within 5 minutes) drops its avatar and name. */
  function regroup(li) {
    const prev = li.previousElementSibling;
    const follows =
      prev !== null &&
      prev.dataset.id !== undefined &&
      li.dataset.id !== undefined &&
      prev.dataset.from === li.dataset.from &&
      Number(li.dataset.ts) - Number(prev.dataset.ts) < 5 * 60 * 1000;
    li.classList.toggle("msg--cont", follows);
  }

  function addMessages(messages) {
    const stick = isNearBottom();
    let added = 0;
    for (const message of messages) if (addMessage(message)) added += 1;
    if (added && stick) scrollToBottom();
    return added;
  }

  function addNotice(text) {
    const stick = isNearBottom();
    ui.messages.append(element("li", { className: "notice", testid: "notice", text }));
    if (stick) scrollToBottom();
  }

  function updateEmpty() {
    ui.empty.hidden = state.seen.size > 0;
    ui.loadOlder.hidden = !state.hasOlder || state.seen.size === 0;
  }

  socket.on("message", (message) => {
    if (!message || message.room !== state.joined) return;
    if (message.from) removeTyper(message.from.id);
    addMessages([message]);
  });

  ui.loadOlder.addEventListener("click", async () => {
    if (!state.joined || state.loadingOlder || state.oldestId === null) return;
    state.loadingOlder = true;
    ui.loadOlder.disabled = true;
    ui.loadOlder.textContent = "Loading…";
    try {
      const reply = await request("history", { room: state.joined, before: state.oldestId, limit: PAGE });
      const messages = Array.isArray(reply.messages) ? reply.messages : [];
      state.hasOlder = messages.length >= PAGE;
      // Keep what the user was looking at in place while older messages go above it.
      const before = ui.scroll.scrollHeight;
      for (const message of messages) addMessage(message);
      ui.scroll.scrollTop += ui.scroll.scrollHeight - before;
    } catch (error) {
      showFailure(error);
    } finally {
      state.loadingOlder = false;
      ui.loadOlder.disabled = false;
      ui.loadOlder.textContent = "Load older messages";
      updateEmpty();
    }
  });

  // -----------------------------------------------------------------------
  // Composer: send, counter, typing

  function updateComposer() {
    const ready = state.joined !== null;
    ui.send.disabled = !ready;
    ui.text.placeholder = ready ? "Write a message…" : "Reconnecting…";
  }

  function updateCounter() {
    const length = [...ui.text.value].length;
    ui.counter.hidden = length < MAX_TEXT - 500;
    ui.counter.textContent = `${length} / ${MAX_TEXT}`;
    if (length > MAX_TEXT) ui.counter.dataset.over = "";
    else delete ui.counter.dataset.over;
  }

  function autosize() {
    ui.text.style.height = "auto";
    ui.text.style.height = `${ui.text.scrollHeight + 2}px`;
  }

  function noteTyping() {
    if (!state.joined) return;
    const now = Date.now();
    if (!state.typingSent || now - state.typingSentAt > TYPING_REFRESH_MS) {
      socket.emit("typing", { room: state.joined, typing: true });
      state.typingSent = true;
      state.typingSentAt = now;
    }
    clearTimeout(state.typingIdle);
    state.typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingIdle);
    state.typingIdle = null;
    if (state.typingSent && state.joined && socket.connected) {
      socket.emit("typing", { room: state.joined, typing: false });
    }
    state.typingSent = false;
  }

  ui.text.addEventListener("input", () => {
    updateCounter();
    autosize();
    if (ui.text.value.trim()) noteTyping();
    else stopTyping();
  });

  ui.text.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter starts a new line.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.sendForm.requestSubmit();
    }
  });

  ui.sendForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const room = state.joined;
    const text = ui.text.value;
    if (!room || !text.trim() || ui.send.disabled) return;
    stopTyping();
    ui.send.disabled = true;
    try {
      const reply = await request("message", { room, text });
      clearError();
      // The sender gets its own message from the ack, not as a `message` event.
      if (reply.message && reply.message.from) state.myIds.add(reply.message.from.id);
      addMessage(reply.message);
      scrollToBottom();
      if (ui.text.value === text) ui.text.value = "";
      updateCounter();
      autosize();
    } catch (error) {
      // Keep the draft so it can be fixed and sent again.
      showFailure(error);
    } finally {
      updateComposer();
      ui.text.focus();
    }
  });

  // Others typing

  function renderTypers() {
    const names = [...state.typers.values()].map((t) => t.name);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names[0]}, ${names[1]} and ${names.length - 2} more are typing…`;
    ui.typing.textContent = text;
  }

  function removeTyper(id) {
    const typer = state.typers.get(id);
    if (!typer) return;
    clearTimeout(typer.timer);
    state.typers.delete(id);
    renderTypers();
  }

  function clearTypers() {
    for (const typer of state.typers.values()) clearTimeout(typer.timer);
    state.typers.clear();
    renderTypers();
  }

  socket.on("typing", (notice) => {
    if (!notice || notice.room !== state.joined || !notice.member) return;
    const { id, name } = notice.member;
    if (id === socket.id) return;
    removeTyper(id);
    if (notice.typing) {
      const timer = setTimeout(() => removeTyper(id), TYPING_EXPIRE_MS);
      state.typers.set(id, { name: String(name), timer });
      renderTypers();
    }
  });

  restoreForm();
  updateComposer();
})();
