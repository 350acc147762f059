"""merchant.py against a running edge and trustpay-sim: mint an intent offline, create the order
as the widget would, pay it in the simulator, receive and verify the real notification, then
verify the result token the page would post back. Run by the merchant-kit stage with EDGE_URL,
SIM_URL, ORIGIN, WEBHOOK_PORT, INTENT_SECRET, MERCHANT_WEBHOOK_SECRET and CLIENT_RESULT_SECRET."""
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from merchant import mint_intent, verify_notification, verify_result_token

env = os.environ.__getitem__
order_no = f"kit-python-{int(time.time() * 1000)}"
events: "queue.Queue[object]" = queue.Queue()


def send(url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict | None]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Hooks(BaseHTTPRequestHandler):
    """The merchant's webhook endpoint: every notification must verify."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            event = verify_notification(env("MERCHANT_WEBHOOK_SECRET"), dict(self.headers), raw)
        except Exception as error:  # the library raises WebhookVerificationError
            self.send_response(400)
            self.end_headers()
            events.put(error)
            return
        self.send_response(204)
        self.end_headers()
        print(f"python live: notification {event['id']} {event['type']} ({event['data']['order_no']}) verified", flush=True)
        events.put(event)

    def log_message(self, *args) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(env("WEBHOOK_PORT"))), Hooks)
threading.Thread(target=server.serve_forever, daemon=True).start()

intent = mint_intent(env("INTENT_SECRET"), order_no, "5.00", "USD", int(time.time()) + 600)
status, created = send(f"{env('EDGE_URL')}/v1/orders", {"intent": intent}, {"Content-Type": "application/json", "Origin": env("ORIGIN")})
assert status == 201, f"create: {status} {created}"
print(f"python live: order {order_no} created from an offline intent", flush=True)
status, _ = send(f"{env('SIM_URL')}/_sim/orders/{order_no}/pay", {})
assert status == 200, f"sim pay: {status}"

deadline = time.time() + 30
while True:
    event = events.get(timeout=max(0.1, deadline - time.time()))
    if isinstance(event, Exception):
        raise SystemExit(f"a notification did not verify: {event}")
    if event["data"]["order_no"] == order_no and event["type"] == "order.paid":
        break

view: dict = {}
for attempt in range(50):
    _, view = send(f"{env('EDGE_URL')}/v1/orders/{order_no}", headers={"X-Client-Secret": created["client_secret"], "Origin": env("ORIGIN")})
    if view and view.get("result_token"):
        break
    time.sleep(0.2)
result = verify_result_token(env("CLIENT_RESULT_SECRET"), view.get("result_token", ""))
assert (result["order_no"], result["state"], result["amount"]) == (order_no, "paid", "5.00"), result
print(f"python live: result token verified: {order_no} {result['state']} {result['amount']} {result['currency']}", flush=True)
server.shutdown()
