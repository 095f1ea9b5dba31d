// An RPC namespace from socket.io-client: sign in through the connect proxy, call the backend.
import { io } from "socket.io-client";

const [url = "http://127.0.0.1:3000", user = "ada", password = "open sesame"] = process.argv.slice(2);
const socket = io(`${url}/rpc`, { auth: { user, password } });
socket.on("connect_error", (err) => console.log(`refused: ${err.message}`) || socket.close());
socket.on("shouted", (m) => console.log(`shouted: ${m.from}: ${m.text}`));
socket.on("connect", async () => {
  console.log(`add: ${JSON.stringify(await socket.emitWithAck("add", 2, 3))}`);
  console.log(`shout: ${JSON.stringify(await socket.emitWithAck("shout", `hello from ${user}`))}`);
});
