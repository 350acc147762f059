"""Runs merchant.py against the shared vectors: python vectors.py <path to vectors.json>"""
import json
import sys
from datetime import datetime, timezone
from unittest import mock

from merchant import ResultTokenError, mint_intent, verify_notification, verify_result_token
from standardwebhooks.webhooks import WebhookVerificationError

vectors = json.load(open(sys.argv[1], encoding="utf-8"))
counts = {"passed": 0, "failed": 0}


def check(kind: str, name: str, ok: bool, detail: str = "") -> None:
    counts["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {kind} {name}{'' if ok else ': ' + detail}")


for v in vectors["intents"]["mint"]:
    p = v["payload"]
    intent = mint_intent(v["key"], p["order_no"], p["amount"], p["currency"], p["exp"])
    check("intent", v["name"], intent == v["intent"], intent)

for v in vectors["notifications"]:
    label = f"{v['name']} ({'valid' if v['valid'] else v['error']})"
    # The library reads the clock; the vectors are signed at fixed times.
    frozen = mock.Mock(wraps=datetime, now=lambda tz=None: datetime.fromtimestamp(v["now"], tz=timezone.utc))
    with mock.patch("standardwebhooks.webhooks.datetime", frozen):
        try:
            event = verify_notification(v["secret"], v["headers"], v["body"].encode())
        except WebhookVerificationError as e:
            check("notification", label, not v["valid"], str(e))
            continue
    want = v.get("event", {})
    ok = v["valid"] and [event["id"], event["type"], event["data"]["order_no"]] == [want["id"], want["type"], want["order_no"]]
    check("notification", label, ok, "accepted")

for v in vectors["result_tokens"]:
    label = f"{v['name']} ({'valid' if v['valid'] else v['error']})"
    try:
        result = verify_result_token(v["key"], v["token"], v["now"])
        check("result_token", label, v["valid"] and result == v["result"], json.dumps(result))
    except ResultTokenError as e:
        check("result_token", label, e.code == v.get("error"), e.code)

print(f"python: {counts['passed']} passed, {counts['failed']} failed")
sys.exit(0 if counts["failed"] == 0 and counts["passed"] > 0 else 1)
