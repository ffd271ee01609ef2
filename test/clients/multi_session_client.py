# The Python client class from the product brief, unchanged; the script below drives it.
import requests
import json
import sys
import time

class MultiSessionClient:
    def __init__(self, base_url="http://localhost:8080"):
        self.base_url = f"{base_url}/api/v1"
    
    def create_session(self, session_id, config=None):
        if config is None:
            config = {"multiDevice": True, "headless": True}
        
        response = requests.post(f"{self.base_url}/sessions", json={
            "sessionId": session_id,
            "waitForQR": True,
            "config": config
        })
        return response.json()
    
    def send_message(self, session_id, chat_id, content):
        response = requests.post(f"{self.base_url}/sessions/{session_id}/send-text", json={
            "chatId": chat_id,
            "content": content
        })
        return response.json()

# Usage, as in the brief, against the server named on the command line. The phone's scan is the
# sandbox's simulated one; a real user scans the QR instead.
if __name__ == "__main__":
    base = sys.argv[1]
    client = MultiSessionClient(base)
    created = client.create_session("my-bot", {"qrTimeout": 120})
    before = client.send_message("my-bot", "1234567890@c.us", "too early")
    requests.post(f"{base}/api/v1/sessions/my-bot/sandbox/scan")
    for _ in range(100):
        if requests.get(f"{base}/api/v1/sessions/my-bot/status").json()["data"]["status"] == "ready":
            break
        time.sleep(0.05)
    sent = client.send_message("my-bot", "1234567890@c.us", "Hello from Python!")
    print(json.dumps({"created": created, "before": before, "sent": sent}))
