// What the terminal clients (chat.mjs, notify.mjs) share: the transports
// they offer and the command line every one of them takes (--url,
// --transport, --help), checked the same way, so the two fail alike.

import { parseArgs } from "node:util";

/** `--transport NAME` -> the socket.io-client options that choose it. */
export const TRANSPORTS = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"], upgrade: false },
  upgrade: { transports: ["polling", "websocket"], upgrade: true },
};

/** For a usage line: `websocket|polling|upgrade`. */
export const TRANSPORT_NAMES = Object.keys(TRANSPORTS).join("|");

/** Prints why and the usage on stderr, then exits 2: a bad command line. */
export function failer(program, usage) {
  return (why) => {
    console.error(`${program}: ${why}\n${usage}`);
    process.exit(2);
  };
}

/**
 * Parses `argv` against the client's `options` and the common --url,
 * --transport and --help. `--help` prints `help` and exits 0; a bad
 * command line goes to `fail` (from `failer`). Then, in this order, each option of `required` that is missing
 * fails with its message, an unknown transport fails, and --url must be a
 * URL: `values.url` is that URL. The client's own checks come after, with
 * `fail`.
 */
export function parseCommandLine({ argv, options, required = {}, help, fail }) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: "string", default: "http://127.0.0.1:3000" },
        ...options,
        transport: { type: "string", default: "websocket" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (err) {
    fail(err.message);
  }
  if (values.help) {
    console.log(help);
    process.exit(0);
  }
  for (const [name, message] of Object.entries(required)) {
    if (!values[name]) fail(message);
  }
  if (!(values.transport in TRANSPORTS)) fail(`unknown transport ${JSON.stringify(values.transport)}`);
  try {
    values.url = new URL(values.url);
  } catch {
    fail(`not a URL: ${values.url}`);
  }
  return values;
}
