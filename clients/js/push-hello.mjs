// Your Node backend pushes a notification to a user over the HTTP API.
const [url = "http://127.0.0.1:3000", user = "ada"] = process.argv.slice(2);
const response = await fetch(`${url}/api/v1/notifications`, {
  method: "POST",
  headers: {
    Authorization: `Bearer ${process.env.SWITCHBOARD_API_KEY ?? "switchboard-dev-key"}`,
    "Content-Type": "application/json",
    // The same key on a retry: the server sends it once.
    "Idempotency-Key": `welcome-${user}`,
  },
  body: JSON.stringify({ users: [user], kind: "welcome", data: { text: "hello from Node" } }),
});
if (response.status !== 201) throw new Error(`push failed: ${response.status} ${await response.text()}`);
console.log(await response.text());
