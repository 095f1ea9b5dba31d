// socket.io-client in ten lines: join a room on /chat, say hello, print what the room says.
import { io } from "socket.io-client";

const [url = "http://127.0.0.1:3000", name = "Ada", room = "lobby"] = process.argv.slice(2);
const socket = io(`${url}/chat`);
socket.on("message", (m) => console.log(`${m.from.name}: ${m.text}`));
socket.on("connect", async () => {
  const joined = await socket.emitWithAck("join", { room, name });
  for (const m of joined.history) console.log(`(earlier) ${m.from.name}: ${m.text}`);
  const sent = await socket.emitWithAck("message", { room, text: `hello from ${name}` });
  console.log(`sent: ${sent.message.text}`);
});
