// What the demo pages (chat, notifications, game) share: the connection
// status, the error box and its sentences, storage that may be disabled,
// requests with an ack, building elements. A plain script: each page loads it after
// /assets/socket.io.min.js and before its own script, which reads it from
// `window.SwitchboardDemo`. Text goes into the page with textContent only.
(() => {
  "use strict";

  /** The contract's names (docs/PROTOCOL.md): room, game and topic ids; display names. */
  const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
  const MAX_NAME = 32;
  const ACK_TIMEOUT_MS = 8000;

  const $ = (id) => document.getElementById(id);

  // -------------------------------------------------------------------------
  // Storage

  /** One Web Storage area that never throws; `set(key, null)` removes the key. */
  function storageArea(area) {
    return {
      get(key) {
        try { return window[area].getItem(key); } catch { return null; }
      },
      set(key, value) {
        try {
          if (value === null) window[area].removeItem(key);
          else window[area].setItem(key, value);
        } catch { /* storage disabled: nothing is remembered */ }
      },
    };
  }

  const storage = {
    local: storageArea("localStorage"),
    session: storageArea("sessionStorage"),
  };

  /** Ids are opaque but sortable: zero-padded decimals, so order by length, then text. */
  function compareIds(a, b) {
    return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  }

  /**
   * A new `tag` element with, where given, the class `className`, the
   * `data-testid` `testid` (what the browser checks find it by) and the text
   * `text` (as textContent: server and user text never becomes markup).
   */
  function element(tag, { className, testid, text } = {}) {
    const node = document.createElement(tag);
    if (className !== undefined) node.className = className;
    if (testid !== undefined) node.dataset.testid = testid;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // -------------------------------------------------------------------------
  // Requests

  /** A refused or unanswered request: `code` from the contract (or `timeout`), `message` the server's words. */
  class DemoError extends Error {
    constructor(code, message, event, payload) {
      super(message);
      this.code = code;
      this.event = event;
      this.payload = payload;
    }
  }

  /** `request(event, payload)` on `socket`: resolves with a success ack, rejects with a DemoError. */
  function requester(socket) {
    return async function request(event, payload) {
      let reply;
      try {
        reply = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
      } catch {
        throw new DemoError("timeout", `The server did not answer "${event}" in time.`, event, payload);
      }
      if (!reply || reply.ok !== true) {
        const error = (reply && reply.error) || {};
        throw new DemoError(error.code || "internal", error.message || "Unexpected answer from the server.", event, payload);
      }
      return reply;
    };
  }

  // -------------------------------------------------------------------------
  // Errors: the code stays in the box (small), the message is a sentence

  /** A sentence per contract error code (docs/PROTOCOL.md), and `timeout` (no answer). */
  const SENTENCES = {
    bad_request: "The server did not accept that: something in it is not valid.",
    unauthorized: "The server does not know who you are: sign in again.",
    forbidden: "That is not allowed here.",
    not_found: "That does not exist (any more).",
    too_large: "That is too large for the server to take.",
    rate_limited: "That was too much at once: wait a moment, then try again.",
    internal: "Something went wrong on the server. Try again in a moment.",
    timeout: "The server did not answer in time. Check the connection, then try again.",
  };

  /** A sentence per code a namespace connection can be refused with (`connect_error`). */
  const REFUSALS = {
    rate_limited: "Too many connection attempts from here: wait a moment, then reload the page.",
    unauthorized: "The server did not accept who you are: sign in again.",
    internal: "The server could not take the connection just now. Reload the page in a moment.",
  };

  /**
   * The error box (`#error`, `#error-code`, `#error-message`, `#error-close`).
   * `sentences` are the page's own, by `event:code` or by `code`: a string, or
   * a function of the DemoError-like `{code, message, event, payload}`. Where
   * none fits, the common sentence for the code; for a code without one, the
   * server's message. The server's message stays on the sentence as its title.
   */
  function errorBox(sentences = {}) {
    const box = $("error");
    const code = $("error-code");
    const message = $("error-message");

    function show(codeText, sentence, detail) {
      code.textContent = codeText;
      message.textContent = sentence;
      if (detail && detail !== sentence) message.title = detail;
      else message.removeAttribute("title");
      box.hidden = false;
    }

    function clear() {
      box.hidden = true;
      code.textContent = "";
      message.textContent = "";
      message.removeAttribute("title");
    }

    /** The sentence for `error` ({code, message, event?, payload?}). */
    function describe(error) {
      const own = (error.event && sentences[`${error.event}:${error.code}`]) || sentences[error.code];
      const sentence = typeof own === "function" ? own(error) : own;
      return sentence || SENTENCES[error.code] || error.message || "Unknown error.";
    }

    /** Shows a contract error (`{code, message}` as the server sent it) as a sentence. */
    function showContract(error) {
      show(error.code, describe(error), error.message);
    }

    /** Shows what a request rejected with: a DemoError as a sentence, anything else as it is. */
    function showFailure(error) {
      if (error instanceof DemoError) showContract(error);
      else show("error", String(error && error.message ? error.message : error));
    }

    /**
     * Shows the refusal of the connection to namespace `nsp`: `code` is
     * connect_error's message, the page's sentence for it is `connect:CODE`.
     */
    function showRefusal(codeText, code, nsp) {
      const sentence = sentences[`connect:${code}`] || REFUSALS[code] || `The server refused the connection to ${nsp}.`;
      // Where the box shows another code (`connect_error`), the refusal's stays on the sentence.
      show(codeText, sentence, codeText === code ? null : code);
    }

    $("error-close").addEventListener("click", clear);
    return { show, showContract, showFailure, showRefusal, clear };
  }

  // -------------------------------------------------------------------------
  // Connection status

  function setStatus(stateName, text) {
    const status = $("status");
    status.dataset.state = stateName;
    status.textContent = text;
  }

  /**
   * Shows `socket`'s connection in `#status` and its event-less failures
   * (`error`, for events sent without an ack) in `errors`. The page's hooks:
   * `onConnect()`, `onDisconnect(reason)` (before the status changes),
   * `onRefused(error)` (a refused connect, no automatic retry; the status is
   * already "disconnected"), `disconnectedText()` (after a client-side
   * disconnect) and `reconnect()` (whether to connect again 2 s after the
   * server closed the socket, which socket.io does not retry by itself).
   */
  function trackConnection(socket, errors, hooks = {}) {
    const {
      onConnect = () => {},
      onDisconnect = () => {},
      onRefused = () => {},
      disconnectedText = () => "Disconnected",
      reconnect = () => true,
    } = hooks;

    socket.on("error", (error) => {
      const code = (error && error.code) || "error";
      errors.showContract({ code, message: (error && error.message) || "Unknown error." });
    });

    socket.on("connect", () => {
      setStatus("connected", "Connected");
      onConnect();
    });

    socket.on("disconnect", (reason) => {
      onDisconnect(reason);
      if (reason === "io server disconnect") {
        // The server closed this socket (shutdown, flooding): it will not retry by itself.
        setStatus("reconnecting", "Reconnecting…");
        setTimeout(() => {
          if (reconnect()) socket.connect();
        }, 2000);
      } else if (reason === "io client disconnect") {
        setStatus("disconnected", disconnectedText());
      } else {
        setStatus("reconnecting", "Reconnecting…");
      }
    });

    socket.io.on("reconnect_attempt", (attempt) => {
      setStatus("reconnecting", attempt > 1 ? `Reconnecting… (try ${attempt})` : "Reconnecting…");
    });

    socket.on("connect_error", (error) => {
      if (socket.active) {
        // A transport problem: socket.io retries by itself.
        setStatus("reconnecting", "Reconnecting…");
        return;
      }
      // Refused by the server: no automatic retry.
      setStatus("disconnected", "Disconnected");
      onRefused(error);
    });
  }

  window.SwitchboardDemo = {
    ID_PATTERN,
    MAX_NAME,
    $,
    element,
    storage,
    compareIds,
    DemoError,
    requester,
    errorBox,
    setStatus,
    trackConnection,
  };
})();
