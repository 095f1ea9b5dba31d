// The arena game demo on namespace /game (docs/PROTOCOL.md, docs/game.md).
// The server owns the state and sends it every tick (volatile). This page:
// - draws the others interpolated between the last two states (render time
//   = now - one tick), so 20 ticks/s move smoothly at the display's rate;
// - predicts its own player from the keys held and reconciles with the
//   server through `acks` (inputs not yet applied are re-applied on top of
//   the authoritative position), smoothing any correction;
// - sends `input {seq, dx, dy}` only when the held direction changes.
// All server-supplied text goes into the page with textContent only (and
// onto the canvas with fillText).
(() => {
  "use strict";

  const { $, element, requester, errorBox, trackConnection } = window.SwitchboardDemo;
  const { ID_PATTERN: GAME_PATTERN, MAX_NAME } = window.SwitchboardDemo;
  /** Everything this page keeps is in localStorage. */
  const storage = window.SwitchboardDemo.storage.local;
  const DEFAULT_GAME = "arena";
  const ARENA = { width: 800, height: 600 };
  const PLAYER_RADIUS = 16;
  const COIN_RADIUS = 8;
  /** Units per second at full input (docs/game.md). */
  const SPEED = 200;
  const MIN_X = PLAYER_RADIUS;
  const MAX_X = ARENA.width - PLAYER_RADIUS;
  const MIN_Y = PLAYER_RADIUS;
  const MAX_Y = ARENA.height - PLAYER_RADIUS;
  /** States kept for interpolation. */
  const BUFFER = 32;
  /** The jitter allowance never exceeds this many ticks. */
  const MAX_JITTER_TICKS = 2;
  /** Never predict further than this past the last state (a stalled connection). */
  const MAX_PREDICT_MS = 500;
  /** A prediction error is smoothed away with this time constant... */
  const SMOOTH_MS = 90;
  /** ...unless it is this large (a teleport, a rejoin): then it snaps. */
  const SNAP_DISTANCE = 80;
  const MAX_EVENTS = 30;
  /**
   * The canvas says the connection is lost only after it has been down this
   * long: a blip that recovers sooner shows in the status alone.
   */
  const LOST_BANNER_MS = 1500;
  const KEYS = {
    name: "switchboard.game.name",
    game: "switchboard.game.game",
  };
  /** Key code -> direction. */
  const KEY_DIRECTIONS = {
    ArrowLeft: "left", KeyA: "left",
    ArrowRight: "right", KeyD: "right",
    ArrowUp: "up", KeyW: "up",
    ArrowDown: "down", KeyS: "down",
  };
  /** For keyboards that report no `code`. */
  const KEY_FALLBACK = { a: "KeyA", d: "KeyD", w: "KeyW", s: "KeyS" };

  const ui = {
    joinView: $("join-view"),
    joinForm: $("join-form"),
    name: $("name"),
    game: $("game"),
    join: $("join"),
    gameView: $("game-view"),
    gameName: $("game-name"),
    playerCount: $("player-count"),
    ownScore: $("own-score"),
    leave: $("leave"),
    canvas: $("arena"),
    scoreboard: $("scoreboard"),
    events: $("events"),
    pad: document.querySelector(".pad"),
  };
  const ctx = ui.canvas.getContext("2d");

  // The game goes in the handshake query: behind a load balancer every
  // player of a game is routed to the node that runs it (docs/deployment.md).
  const initialGame = (() => {
    const fromUrl = new URLSearchParams(window.location.search).get("game");
    return fromUrl && GAME_PATTERN.test(fromUrl) ? fromUrl : storage.get(KEYS.game) || DEFAULT_GAME;
  })();
  const socket = io("/game", { query: { game: initialGame } });

  const state = {
    /** {game, name} the user wants to play (joined again after a reconnect), or null. */
    wanted: null,
    /** Whether this socket is in the game now. */
    joined: false,
    /**
     * {game, you}: the seat this socket had when its connection dropped, or
     * null. With connection state recovery the server keeps the player in
     * its game until the socket comes back.
     */
    droppedSeat: null,
    /** performance.now() of the last disconnect (0: never connected yet). */
    disconnectedAt: 0,
    /** Join requests made; older answers are ignored. */
    joinSeq: 0,
    tickRate: 20,
    /** Received states, oldest first: {state, at (local ms of the server's tick)}. */
    buffer: [],
    /** Local ms minus server ts: the smallest seen (least delayed). */
    clockOffset: null,
    /**
     * How much later than the least delayed one a state typically arrives
     * (ms): added to the one-tick render delay so that the others do not
     * stall at the newest state while the next one is a little late.
     */
    jitter: 0,
    /** Held direction keys (codes) and pad buttons. */
    held: new Set(),
    /** The direction last sent (while joined and connected). */
    direction: { dx: 0, dy: 0 },
    /** Inputs sent that the server had not applied in the last state: {seq, dx, dy, t}. */
    unacked: [],
    /** The last applied input, as far as the last state says (null: none yet). */
    applied: null,
    /** Authoritative position of this player in the last state, and that state's local time. */
    base: null,
    /** Visual offset being smoothed away after a correction. */
    correction: { x: 0, y: 0 },
    lastFrame: 0,
    /** Id -> display name of everyone seen in this game (for player_left). */
    names: new Map(),
    /** Ids that left: hidden at once, even in older buffered states. */
    departed: new Set(),
    scoreboardKey: "",
    frameRequested: false,
    palette: null,
  };

  /** For the browser test and the developer console. */
  const demo = {
    socket,
    /** This player's id in the game (not the socket id), or null. */
    you: null,
    /** The latest `state` received (or the join's). */
    lastState: null,
    /** The `seq` of the latest input sent (-1: none yet). */
    seq: -1,
    /** Every input sent, in order: {seq, dx, dy}. */
    inputs: [],
    /** player_joined / player_left received: {event, id, name}. */
    events: [],
    /** How many states arrived, and how many frames were drawn. */
    states: 0,
    frames: 0,
    /** Player id -> {x, y} where the last frame drew them (interpolated, or predicted for this player). */
    drawn: {},
    /** performance.now() of that frame. */
    drawnAt: 0,
    /** The predicted position of this player (what is drawn, before smoothing), or null. */
    ownPosition() {
      return predicted(performance.now());
    },
  };
  window.gameDemo = demo;

  // -----------------------------------------------------------------------
  // Requests, errors, status (/assets/common.js)

  const request = requester(socket);

  /** This page's sentences for the contract errors it can meet (the rest: common ones). */
  const errors = errorBox({
    "join:bad_request": ({ message }) => (/\bfull\b/.test(String(message))
      ? "That game is full. Try another game id, or this one again later."
      : "That display name cannot be used: it needs a visible character, and no control or text-direction characters."),
    // Failures of events sent without an ack (input) arrive as `error`, without the event.
    forbidden: "Join a game before moving.",
  });
  const { show: showError, showFailure, clear: clearError } = errors;

  trackConnection(socket, errors, {
    onConnect() {
      const seat = state.droppedSeat;
      state.droppedSeat = null;
      if (socket.recovered === true && seat !== null && state.wanted?.game === seat.game && demo.you === seat.you) {
        // Connection state recovery (docs/PROTOCOL.md): the same socket, still
        // this player (id, score) in this game; the states go on and any
        // player_joined / player_left it missed follow. Nothing to join or reset.
        resumePlaying();
        return;
      }
      if (state.wanted) joinGame(state.wanted.game, state.wanted.name, { rejoin: true });
    },
    onDisconnect() {
      // Without recovery the server drops this player with the socket and a
      // reconnect joins again; with it, the player waits for this socket.
      state.droppedSeat = state.joined && demo.you !== null ? { game: state.wanted?.game, you: demo.you } : null;
      state.joined = false;
      state.disconnectedAt = performance.now();
    },
    onRefused(error) {
      const code = String((error && error.message) || "error");
      errors.showRefusal(code, code, "/game");
    },
  });

  // -----------------------------------------------------------------------
  // Joining and leaving

  function readForm() {
    const params = new URLSearchParams(window.location.search);
    const game = (params.get("game") || "").trim();
    const name = (params.get("name") || "").trim();
    ui.game.value = GAME_PATTERN.test(game) ? game : storage.get(KEYS.game) || DEFAULT_GAME;
    ui.name.value = name ? [...name].slice(0, MAX_NAME).join("") : storage.get(KEYS.name) || "";
    (ui.name.value ? ui.join : ui.name).focus();
  }

  ui.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = ui.name.value.trim();
    const game = ui.game.value.trim();
    if (!name || [...name].length > MAX_NAME) {
      showError("bad_request", `Pick a display name of 1 to ${MAX_NAME} characters.`);
      return;
    }
    if (!GAME_PATTERN.test(game)) {
      showError("bad_request", "A game id may use letters, digits and _ . : - (up to 64).");
      return;
    }
    storage.set(KEYS.name, name);
    storage.set(KEYS.game, game);
    joinGame(game, name);
  });

  async function joinGame(game, name, { rejoin = false } = {}) {
    state.wanted = { game, name };
    if (socket.io.opts.query?.game !== game) {
      // Connect again with this game in the query (routing, see above);
      // the connect handler then joins it.
      socket.io.opts.query = { game };
      ui.join.disabled = true;
      ui.join.textContent = "Joining…";
      if (socket.io.engine) socket.io.engine.close();
      else socket.connect();
      return;
    }
    const mine = ++state.joinSeq;
    ui.join.disabled = true;
    ui.join.textContent = "Joining…";
    let reply;
    try {
      reply = await request("join", { game, name });
    } catch (error) {
      if (mine !== state.joinSeq) return;
      ui.join.disabled = false;
      ui.join.textContent = "Join game";
      if (!rejoin) state.wanted = null;
      showFailure(error);
      return;
    }
    if (mine !== state.joinSeq || !state.wanted) return;
    ui.join.disabled = false;
    ui.join.textContent = "Join game";
    clearError();
    const previous = demo.you;
    // A rejoin after a reconnect keeps the activity log.
    resetGame({ keepLog: rejoin });
    state.joined = true;
    demo.you = typeof reply.you === "string" ? reply.you : String(reply.you);
    const rate = Number(reply.tick_rate);
    state.tickRate = Number.isFinite(rate) && rate > 0 ? rate : 20;
    ui.gameName.textContent = game;
    ui.joinView.hidden = true;
    ui.gameView.hidden = false;
    document.title = `${game} · Game · Switchboard`;
    const url = new URL(window.location.href);
    url.searchParams.set("game", game);
    url.searchParams.delete("name");
    window.history.replaceState(null, "", url);
    if (reply.state) onState(reply.state);
    addEvent("joined", rejoin && previous ? `You joined ${game} again as ${name}.` : `You joined ${game} as ${name}.`);
    // Keys still held (a rejoin): the new player starts with that direction.
    state.direction = { dx: 0, dy: 0 };
    updateDirection();
    ui.canvas.focus({ preventScroll: true });
    requestFrame();
  }

  /** Back in the game after a recovered reconnect, as it was. */
  function resumePlaying() {
    state.joined = true;
    // The server stopped this player when the connection dropped, inputs
    // sent as it closed may be lost, and keys may have changed meanwhile:
    // send what is held now, with a new seq (which settles the lost ones).
    const next = heldDirection();
    const still = next.dx === 0 && next.dy === 0 && state.direction.dx === 0 && state.direction.dy === 0;
    if (!still || state.unacked.length > 0) sendDirection(next);
    requestFrame();
  }

  function resetGame({ keepLog = false } = {}) {
    state.joined = false;
    state.buffer = [];
    state.clockOffset = null;
    state.jitter = 0;
    state.unacked = [];
    state.applied = null;
    state.base = null;
    state.correction = { x: 0, y: 0 };
    state.names.clear();
    state.departed.clear();
    state.scoreboardKey = "";
    demo.you = null;
    demo.lastState = null;
    ui.scoreboard.replaceChildren();
    if (!keepLog) ui.events.replaceChildren();
    ui.playerCount.textContent = "0";
    ui.ownScore.textContent = "0";
  }

  ui.leave.addEventListener("click", async () => {
    ui.leave.disabled = true;
    try {
      await request("leave", {});
    } catch (error) {
      showFailure(error);
      return;
    } finally {
      ui.leave.disabled = false;
    }
    state.wanted = null;
    state.joinSeq += 1;
    state.held.clear();
    state.direction = { dx: 0, dy: 0 };
    renderPad();
    resetGame();
    ui.gameView.hidden = true;
    ui.joinView.hidden = false;
    document.title = "Game · Switchboard";
    ui.join.focus();
  });

  socket.on("player_joined", (player) => {
    if (!player || typeof player.id !== "string") return;
    demo.events.push({ event: "player_joined", id: player.id, name: player.name });
    if (!state.joined || player.id === demo.you) return;
    state.departed.delete(player.id);
    state.names.set(player.id, String(player.name));
    addEvent("joined", `${player.name} joined.`);
    // Drawn from the next state on (at most one tick away).
  });

  socket.on("player_left", (event) => {
    if (!event || typeof event.id !== "string") return;
    const name = state.names.get(event.id);
    demo.events.push({ event: "player_left", id: event.id, name: name ?? null });
    if (!state.joined) return;
    state.departed.add(event.id);
    addEvent("left", `${name ?? event.id} left.`);
    if (demo.lastState) {
      demo.lastState = { ...demo.lastState, players: demo.lastState.players.filter((p) => p.id !== event.id) };
    }
    renderScoreboard();
  });

  function addEvent(kind, text) {
    const li = element("li", { className: "event", testid: "event" });
    li.dataset.kind = kind;
    const time = element("span", {
      className: "event__time",
      text: new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
    });
    li.append(time, element("span", { text }));
    ui.events.prepend(li);
    while (ui.events.children.length > MAX_EVENTS) ui.events.lastElementChild.remove();
  }

  // -----------------------------------------------------------------------
  // States from the server

  function validState(s) {
    return s && Array.isArray(s.players) && Array.isArray(s.coins);
  }

  socket.on("state", (s) => {
    if (!state.joined || !validState(s) || (state.wanted && s.game !== state.wanted.game)) return;
    onState(s);
  });

  function onState(s) {
    if (!validState(s)) return;
    const now = performance.now();
    const newest = state.buffer[state.buffer.length - 1];
    // Volatile states can be skipped but never come out of order on one
    // connection; drop anything older than what we have anyway.
    if (newest && Number(s.tick) < Number(newest.state.tick)) return;
    demo.states += 1;
    // A player that is back in a state after player_left joined again.
    for (const p of s.players) {
      state.names.set(p.id, String(p.name));
    }
    const ts = Number(s.ts);
    let at = now;
    if (Number.isFinite(ts)) {
      const sample = now - ts;
      if (state.clockOffset === null || sample < state.clockOffset) state.clockOffset = sample;
      else state.clockOffset += (sample - state.clockOffset) * 0.02; // follow a slow drift
      at = ts + state.clockOffset;
      // Quick to grow, slow to shrink: a late state counts for a while.
      const late = now - at;
      state.jitter += (late - state.jitter) * (late > state.jitter ? 0.5 : 0.02);
    }
    if (newest && at <= newest.at) at = newest.at + 1;
    state.buffer.push({ state: s, at });
    if (state.buffer.length > BUFFER) state.buffer.shift();
    demo.lastState = { ...s, players: s.players.filter((p) => !state.departed.has(p.id)) };
    reconcile(s, at, now);
    ui.playerCount.textContent = String(demo.lastState.players.length);
    renderScoreboard();
    requestFrame();
  }

  // -----------------------------------------------------------------------
  // Own player: prediction and reconciliation

  /** The direction the server moves along for an input: at most 1 long (diagonals normalised). */
  function unit(dx, dy) {
    const length = Math.hypot(dx, dy);
    return length > 1 ? { dx: dx / length, dy: dy / length } : { dx, dy };
  }

  function clampX(x) { return Math.min(MAX_X, Math.max(MIN_X, x)); }
  function clampY(y) { return Math.min(MAX_Y, Math.max(MIN_Y, y)); }

  /**
   * Where this player is at local time `now`: the authoritative position of
   * the last state, then the applied input until the first unapplied one was
   * sent, then every unapplied input for as long as it was (or is) held,
   * each segment held inside the arena like the server does.
   */
  function predicted(now) {
    const base = state.base;
    if (!base) return null;
    const until = Math.min(now, base.at + MAX_PREDICT_MS);
    let { x, y } = base;
    let from = base.at;
    let direction = state.applied ? unit(state.applied.dx, state.applied.dy) : { dx: 0, dy: 0 };
    const step = (to) => {
      const seconds = Math.max(0, Math.min(to, until) - from) / 1000;
      if (seconds > 0) {
        x = clampX(x + direction.dx * SPEED * seconds);
        y = clampY(y + direction.dy * SPEED * seconds);
        from = Math.min(to, until);
      }
    };
    for (const input of state.unacked) {
      step(input.t);
      from = Math.max(from, input.t);
      direction = unit(input.dx, input.dy);
    }
    step(until);
    return { x, y };
  }

  function reconcile(s, at, now) {
    const me = demo.you ? s.players.find((p) => p.id === demo.you) : null;
    if (!me) return;
    const before = predicted(now);
    const ack = s.acks && Number.isInteger(s.acks[demo.you]) ? s.acks[demo.you] : null;
    if (ack !== null) {
      // Everything up to the acked seq has been applied by the server: the
      // latest of those is the direction it moves along now.
      const done = state.unacked.filter((input) => input.seq <= ack);
      if (done.length > 0) state.applied = done[done.length - 1];
      else if (!state.applied || state.applied.seq < ack) state.applied = { seq: ack, dx: 0, dy: 0, t: at };
      state.unacked = state.unacked.filter((input) => input.seq > ack);
    } else {
      // No input of this player applied yet: it stands still.
      state.applied = null;
    }
    state.base = { x: Number(me.x), y: Number(me.y), at };
    const after = predicted(now);
    if (before && after) {
      const cx = state.correction.x + before.x - after.x;
      const cy = state.correction.y + before.y - after.y;
      state.correction = Math.hypot(cx, cy) > SNAP_DISTANCE ? { x: 0, y: 0 } : { x: cx, y: cy };
    }
  }

  // -----------------------------------------------------------------------
  // Input: keys and the touch pad

  function heldDirection() {
    const dirs = new Set();
    for (const code of state.held) dirs.add(KEY_DIRECTIONS[code] || code);
    const dx = (dirs.has("right") ? 1 : 0) - (dirs.has("left") ? 1 : 0);
    const dy = (dirs.has("down") ? 1 : 0) - (dirs.has("up") ? 1 : 0);
    return { dx, dy };
  }

  /** Sends an input when the held direction differs from the last one sent. */
  function updateDirection() {
    const next = heldDirection();
    if (next.dx === state.direction.dx && next.dy === state.direction.dy) return;
    if (!state.joined || !socket.connected) return;
    sendDirection(next);
  }

  /** Sends `next` ({dx, dy}) as this player's input, with the next seq. */
  function sendDirection(next) {
    state.direction = next;
    demo.seq += 1;
    const input = { seq: demo.seq, dx: next.dx, dy: next.dy };
    socket.emit("input", input);
    demo.inputs.push(input);
    state.unacked.push({ ...input, t: performance.now() });
    requestFrame();
  }

  /**
   * Whether keys and the pad steer: the game view is shown (also while the
   * connection is down: what is held then is sent once it is back).
   */
  function playing() {
    return !ui.gameView.hidden;
  }

  function keyCode(event) {
    if (event.code && KEY_DIRECTIONS[event.code]) return event.code;
    return KEY_FALLBACK[(event.key || "").toLowerCase()] || (KEY_DIRECTIONS[event.key] ? event.key : null);
  }

  function typingTarget(target) {
    return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  window.addEventListener("keydown", (event) => {
    if (!playing() || event.ctrlKey || event.metaKey || event.altKey || typingTarget(event.target)) return;
    const code = keyCode(event);
    if (!code) return;
    event.preventDefault(); // no page scrolling with the arrows
    state.held.add(code);
    updateDirection();
  });

  window.addEventListener("keyup", (event) => {
    const code = keyCode(event);
    if (!code || !state.held.has(code)) return;
    state.held.delete(code);
    updateDirection();
  });

  function releaseAll() {
    if (state.held.size === 0) return;
    state.held.clear();
    renderPad();
    updateDirection();
  }

  // A key released while the window had no focus never sends keyup: stop.
  window.addEventListener("blur", releaseAll);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) releaseAll();
  });

  function renderPad() {
    for (const button of ui.pad.querySelectorAll("[data-pad]")) {
      button.dataset.held = String(state.held.has(button.dataset.pad));
    }
  }

  for (const button of ui.pad.querySelectorAll("[data-pad]")) {
    const press = (event) => {
      event.preventDefault();
      if (!playing()) return;
      button.setPointerCapture?.(event.pointerId);
      state.held.add(button.dataset.pad);
      renderPad();
      updateDirection();
    };
    const release = () => {
      if (!state.held.delete(button.dataset.pad)) return;
      renderPad();
      updateDirection();
    };
    button.addEventListener("pointerdown", press);
    button.addEventListener("pointerup", release);
    button.addEventListener("pointercancel", release);
    button.addEventListener("lostpointercapture", release);
    button.addEventListener("contextmenu", (event) => event.preventDefault());
  }

  // -----------------------------------------------------------------------
  // The scoreboard

  /** Player colours: distinct, and dark enough for the white score on them. [fill, outline] */
  const COLOURS = [
    ["#e5484d", "#a3262b"], ["#3e63dd", "#23399a"], ["#2b9a66", "#17623f"], ["#e5690f", "#9c4305"],
    ["#8e4ec6", "#5c2b88"], ["#0d8f88", "#075e59"], ["#d6409f", "#94226b"], ["#0081f1", "#0054a0"],
    ["#a16207", "#6b4105"], ["#6e56cf", "#46339a"],
  ];

  function colourOf(id) {
    // Ids are `p` and digits: consecutive players get different colours.
    const digits = /\d+$/.exec(String(id));
    let index;
    if (digits) {
      index = Number(digits[0]) % COLOURS.length;
    } else {
      let hash = 0;
      for (const ch of String(id)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
      index = hash % COLOURS.length;
    }
    return COLOURS[index];
  }

  function renderScoreboard() {
    const s = demo.lastState;
    const players = s ? s.players.filter((p) => !state.departed.has(p.id)) : [];
    const sorted = [...players].sort((a, b) => (Number(b.score) || 0) - (Number(a.score) || 0) || String(a.name).localeCompare(String(b.name)));
    const key = JSON.stringify(sorted.map((p) => [p.id, p.name, p.score]));
    const me = players.find((p) => p.id === demo.you);
    ui.ownScore.textContent = String(me ? Number(me.score) || 0 : 0);
    ui.playerCount.textContent = String(players.length);
    if (key === state.scoreboardKey) return;
    state.scoreboardKey = key;
    const rows = sorted.map((p) => {
      const li = element("li", { className: "score-row", testid: "score-row" });
      li.dataset.id = p.id;
      li.dataset.you = String(p.id === demo.you);
      const dot = element("span", { className: "score-row__dot" });
      dot.style.setProperty("--player", colourOf(p.id)[0]);
      const name = element("span", {
        className: "score-row__name",
        testid: "score-name",
        text: p.id === demo.you ? `${p.name} (you)` : String(p.name),
      });
      name.title = String(p.name);
      const score = element("span", { className: "score-row__score", testid: "score-value", text: String(Number(p.score) || 0) });
      li.append(dot, name, score);
      return li;
    });
    ui.scoreboard.replaceChildren(...rows);
  }

  // -----------------------------------------------------------------------
  // Drawing

  function readPalette() {
    const css = getComputedStyle(document.documentElement);
    const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
    state.palette = {
      dark,
      field: dark ? "#18202a" : "#f7f9fc",
      grid: dark ? "#222c38" : "#e7ebf2",
      border: v("--border", "#d9dee6"),
      text: v("--text", "#1d2430"),
      muted: v("--muted", "#5d6878"),
      accent: v("--accent", "#2f6fed"),
      label: dark ? "rgb(18 22 28 / 72%)" : "rgb(255 255 255 / 80%)",
      font: getComputedStyle(document.body).fontFamily || "sans-serif",
    };
  }
  readPalette();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener?.("change", () => {
    readPalette();
    requestFrame();
  });
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  /** Backing store in device pixels; returns the scale from arena units to CSS pixels. */
  function fitCanvas() {
    const rect = ui.canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(rect.width * ratio));
    const height = Math.max(1, Math.round(rect.height * ratio));
    if (ui.canvas.width !== width || ui.canvas.height !== height) {
      ui.canvas.width = width;
      ui.canvas.height = height;
    }
    return { scale: rect.width / ARENA.width, ratio };
  }

  /** The others' positions at `renderAt` (local ms), interpolated between two buffered states. */
  function interpolated(renderAt) {
    const buffer = state.buffer;
    if (buffer.length === 0) return [];
    let older = buffer[0];
    let newer = buffer[buffer.length - 1];
    if (renderAt >= newer.at) {
      older = newer;
    } else if (renderAt <= older.at) {
      newer = older;
    } else {
      for (let i = buffer.length - 1; i > 0; i--) {
        if (buffer[i - 1].at <= renderAt) {
          older = buffer[i - 1];
          newer = buffer[i];
          break;
        }
      }
    }
    const span = newer.at - older.at;
    const k = span > 0 ? Math.min(1, Math.max(0, (renderAt - older.at) / span)) : 1;
    const from = new Map(older.state.players.map((p) => [p.id, p]));
    return newer.state.players
      .filter((p) => !state.departed.has(p.id))
      .map((p) => {
        const a = from.get(p.id);
        if (!a) return { ...p };
        return { ...p, x: a.x + (p.x - a.x) * k, y: a.y + (p.y - a.y) * k };
      });
  }

  function requestFrame() {
    if (state.frameRequested) return;
    state.frameRequested = true;
    window.requestAnimationFrame(frame);
  }

  function frame(time) {
    state.frameRequested = false;
    if (ui.gameView.hidden) return;
    const now = performance.now();
    const dt = state.lastFrame ? Math.min(100, now - state.lastFrame) : 16;
    state.lastFrame = now;
    const decay = Math.exp(-dt / SMOOTH_MS);
    state.correction.x *= decay;
    state.correction.y *= decay;
    if (Math.hypot(state.correction.x, state.correction.y) < 0.05) state.correction = { x: 0, y: 0 };
    draw(now, time);
    demo.frames += 1;
    // Keep animating while in a game (the coins shimmer, the others move).
    if (state.joined || state.buffer.length > 0) requestFrame();
  }

  function draw(now, time) {
    const p = state.palette;
    const { scale, ratio } = fitCanvas();
    ctx.setTransform(ratio * scale, 0, 0, ratio * scale, 0, 0);
    // Field and grid.
    ctx.fillStyle = p.field;
    ctx.fillRect(0, 0, ARENA.width, ARENA.height);
    ctx.strokeStyle = p.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let x = 50; x < ARENA.width; x += 50) {
      ctx.moveTo(x, 0);
      ctx.lineTo(x, ARENA.height);
    }
    for (let y = 50; y < ARENA.height; y += 50) {
      ctx.moveTo(0, y);
      ctx.lineTo(ARENA.width, y);
    }
    ctx.stroke();
    ctx.strokeStyle = p.border;
    ctx.lineWidth = 4;
    ctx.strokeRect(2, 2, ARENA.width - 4, ARENA.height - 4);

    const newest = state.buffer[state.buffer.length - 1];
    if (!newest) {
      drawBanner(scale, "Waiting for the game…");
      return;
    }

    // Coins: from the newest state (they do not move; a collected one is replaced).
    for (const coin of newest.state.coins) {
      const pulse = reducedMotion.matches ? 0 : Math.sin(time / 260 + (Number(coin.id) || 0));
      drawCoin(Number(coin.x), Number(coin.y), pulse);
    }

    // The others, one tick (plus the usual lateness of a state) in the
    // past; this player, predicted.
    const interval = 1000 / state.tickRate;
    const players = interpolated(now - interval - Math.min(state.jitter, MAX_JITTER_TICKS * interval));
    const own = predicted(now);
    const fontSize = Math.max(13, 12 / scale);
    const drawn = {};
    for (const player of players) {
      if (player.id === demo.you) continue;
      drawPlayer(player, Number(player.x), Number(player.y), false, fontSize);
      drawn[player.id] = { x: Number(player.x), y: Number(player.y) };
    }
    const me = players.find((pl) => pl.id === demo.you) || (demo.lastState && demo.lastState.players.find((pl) => pl.id === demo.you));
    if (me && own) {
      const x = own.x + state.correction.x;
      const y = own.y + state.correction.y;
      drawPlayer(me, x, y, true, fontSize);
      drawn[me.id] = { x, y };
    }
    demo.drawn = drawn;
    demo.drawnAt = now;
    if (!socket.connected && now - state.disconnectedAt >= LOST_BANNER_MS) drawBanner(scale, "Connection lost — reconnecting…");
  }

  function drawCoin(x, y, pulse) {
    const r = COIN_RADIUS * (1 + 0.06 * pulse);
    ctx.save();
    ctx.shadowColor = "rgb(240 170 0 / 55%)";
    ctx.shadowBlur = 10;
    const gradient = ctx.createRadialGradient(x - r * 0.35, y - r * 0.35, r * 0.1, x, y, r);
    gradient.addColorStop(0, "#fff3b0");
    gradient.addColorStop(0.45, "#ffc93c");
    gradient.addColorStop(1, "#d99a00");
    ctx.fillStyle = gradient;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, Math.PI * 2);
    ctx.fill();
    ctx.restore();
    ctx.strokeStyle = "#a86f00";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, Math.PI * 2);
    ctx.stroke();
  }

  function drawPlayer(player, x, y, own, fontSize) {
    const p = state.palette;
    const [fill, outline] = colourOf(player.id);
    if (own) {
      // A soft halo and a ring in the accent colour mark this player.
      ctx.fillStyle = p.dark ? "rgb(107 155 255 / 22%)" : "rgb(47 111 237 / 16%)";
      ctx.beginPath();
      ctx.arc(x, y, PLAYER_RADIUS + 10, 0, Math.PI * 2);
      ctx.fill();
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = p.accent;
      ctx.beginPath();
      ctx.arc(x, y, PLAYER_RADIUS + 5, 0, Math.PI * 2);
      ctx.stroke();
    }
    ctx.save();
    ctx.shadowColor = "rgb(0 0 0 / 25%)";
    ctx.shadowBlur = 6;
    ctx.shadowOffsetY = 2;
    ctx.fillStyle = fill;
    ctx.beginPath();
    ctx.arc(x, y, PLAYER_RADIUS, 0, Math.PI * 2);
    ctx.fill();
    ctx.restore();
    ctx.lineWidth = own ? 2.5 : 2;
    ctx.strokeStyle = own ? "#ffffff" : outline;
    ctx.beginPath();
    ctx.arc(x, y, PLAYER_RADIUS - (own ? 1.25 : 1), 0, Math.PI * 2);
    ctx.stroke();

    // Score inside the disc.
    ctx.fillStyle = "#ffffff";
    ctx.font = `700 ${Math.round(fontSize)}px ${state.palette.font}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(String(Number(player.score) || 0), x, y + 0.5);

    // Name above (below when at the top edge).
    const label = own ? `${player.name} (you)` : String(player.name);
    ctx.font = `${own ? 700 : 600} ${Math.round(fontSize)}px ${state.palette.font}`;
    const width = ctx.measureText(label).width;
    const above = y - PLAYER_RADIUS - 6 - fontSize / 2 > fontSize / 2;
    const ly = above ? y - PLAYER_RADIUS - 6 - fontSize / 2 : y + PLAYER_RADIUS + 6 + fontSize / 2;
    const lx = Math.min(ARENA.width - width / 2 - 4, Math.max(width / 2 + 4, x));
    ctx.fillStyle = p.label;
    roundRect(lx - width / 2 - 5, ly - fontSize / 2 - 3, width + 10, fontSize + 6, 5);
    ctx.fill();
    ctx.fillStyle = own ? p.accent : p.text;
    ctx.fillText(label, lx, ly + 0.5);
  }

  function roundRect(x, y, w, h, r) {
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.arcTo(x + w, y, x + w, y + h, r);
    ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r);
    ctx.arcTo(x, y, x + w, y, r);
    ctx.closePath();
  }

  function drawBanner(scale, text) {
    const p = state.palette;
    const size = Math.max(16, 15 / scale);
    ctx.font = `600 ${Math.round(size)}px ${state.palette.font}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const width = ctx.measureText(text).width;
    ctx.fillStyle = p.label;
    roundRect(ARENA.width / 2 - width / 2 - 14, ARENA.height / 2 - size, width + 28, size * 2, 8);
    ctx.fill();
    ctx.fillStyle = p.muted;
    ctx.fillText(text, ARENA.width / 2, ARENA.height / 2);
  }

  if (typeof ResizeObserver === "function") new ResizeObserver(() => requestFrame()).observe(ui.canvas);

  readForm();
})();
