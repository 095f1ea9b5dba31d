"""python-socketio in ten lines: join a room on /chat, say hello, print what the room says."""
import asyncio
import sys

import socketio


async def main(url="http://127.0.0.1:3000", name="Bob", room="lobby"):
    sio = socketio.AsyncClient()
    sio.on("message", lambda m: print(f"{m['from']['name']}: {m['text']}", flush=True), namespace="/chat")
    await sio.connect(url, namespaces=["/chat"])
    joined = await sio.call("join", {"room": room, "name": name}, namespace="/chat")
    for m in joined["history"]:
        print(f"(earlier) {m['from']['name']}: {m['text']}", flush=True)
    sent = await sio.call("message", {"room": room, "text": f"hello from {name}"}, namespace="/chat")
    print(f"sent: {sent['message']['text']}", flush=True)
    await sio.wait()


asyncio.run(main(*sys.argv[1:]))
