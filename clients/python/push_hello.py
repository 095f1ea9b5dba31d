"""Your Python backend pushes a notification to a user over the HTTP API."""
import json
import os
import sys
import urllib.request

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
user = sys.argv[2] if len(sys.argv) > 2 else "ada"
request = urllib.request.Request(
    f"{url}/api/v1/notifications",
    method="POST",
    headers={
        "Authorization": f"Bearer {os.environ.get('SWITCHBOARD_API_KEY', 'switchboard-dev-key')}",
        "Content-Type": "application/json",
        # The same key on a retry: the server sends it once.
        "Idempotency-Key": f"welcome-py-{user}",
    },
    data=json.dumps({"users": [user], "kind": "welcome", "data": {"text": "hello from Python"}}).encode(),
)
with urllib.request.urlopen(request, timeout=10) as response:  # raises on 4xx/5xx
    print(response.read().decode())
