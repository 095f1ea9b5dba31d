// A stand-in for your backend behind Switchboard's connect proxy and RPC
// proxy (docs/integration.md, PROTOCOL.md "Connect proxy and RPC proxy"),
// Node's standard library only:
//
//     node clients/js/backend-demo.mjs [--port 8800]
//
//     POST /connect  who may connect: a client whose auth is
//                    {user, password: "open sesame"} gets in as that user and
//                    joins room `team`; anyone else is refused `forbidden`.
//     POST /rpc      the events of an RPC namespace:
//                    add [a, b]        -> reply a + b
//                    shout [text]      -> emit `shouted` {from, text} to room
//                                         `team`, reply "shouted"
//                    anything else     -> error `bad_request`
//
// The first line it prints is its URL.
import { createServer } from "node:http";

const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 8800;

function connect({ auth }) {
  if (typeof auth?.user === "string" && auth.password === "open sesame") {
    return { allow: true, user: auth.user, data: { plan: "demo" }, rooms: ["team"] };
  }
  return { allow: false, code: "forbidden", message: "wrong password" };
}

function rpc({ user, event, args }) {
  if (event === "add") return { reply: args[0] + args[1] };
  if (event === "shout") {
    const shouted = { from: user, text: String(args[0]) };
    return { reply: "shouted", actions: [{ emit: { room: "team", event: "shouted", data: shouted } }] };
  }
  return { error: { code: "bad_request", message: `no event ${event}` } };
}

const routes = { "/connect": connect, "/rpc": rpc };
const server = createServer(async (req, res) => {
  const route = req.method === "POST" && routes[req.url];
  if (!route) return res.writeHead(404).end();
  let body = "";
  for await (const chunk of req) body += chunk;
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(route(JSON.parse(body))));
});
server.listen(port, "127.0.0.1", () => console.log(`http://127.0.0.1:${server.address().port}`));
