"""The three things a merchant backend does with the TrustPay checkout edge (Python 3.10+):
mint a checkout intent, verify a notification, verify the result token the page posts back."""
import base64
import hashlib
import hmac
import json
import time

from standardwebhooks import Webhook


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, text: str) -> bytes:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).digest()


def mint_intent(intent_secret: str, order_no: str, amount: str, currency: str, expires_at: int) -> str:
    """A checkout intent for the widget's data-intent, minted offline with INTENT_SECRET.
    `amount` is decimal text with two decimals ("5.00"), `expires_at` Unix seconds."""
    payload = {"order_no": order_no, "amount": amount, "currency": currency, "exp": expires_at}
    signed = "v1." + _b64url(json.dumps(payload, separators=(",", ":")).encode())
    return signed + "." + _b64url(_mac(intent_secret, signed))


def verify_notification(webhook_secret: str, headers: dict, raw_body: bytes) -> dict:
    """A notification (Standard Webhooks): the raw body as received and the request headers.
    Returns the event {id, type, created_at, data}; raises WebhookVerificationError when the
    signature, the id or the timestamp (within 5 minutes) does not hold. Deduplicate on id."""
    return Webhook(webhook_secret).verify(raw_body, headers)


class ResultTokenError(Exception):
    """Why a result token was refused: result_malformed, _version, _bad_signature, _expired."""

    def __init__(self, code: str):
        super().__init__(f"result token refused: {code}")
        self.code = code


def verify_result_token(result_secret: str, token: str, now: int | None = None) -> dict:
    """The result_token the page posts back, checked with CLIENT_RESULT_SECRET. Returns
    {order_no, state, amount, currency, exp}: compare them with your order."""
    parts = token.split(".")
    if len(token) > 1024 or len(parts) != 3:
        raise ResultTokenError("result_malformed")
    if parts[0] != "v1":
        raise ResultTokenError("result_version")
    try:
        given = _unb64url(parts[2])
    except ValueError:
        raise ResultTokenError("result_malformed") from None
    if not hmac.compare_digest(given, _mac(result_secret, "v1." + parts[1])):
        raise ResultTokenError("result_bad_signature")
    result = json.loads(_unb64url(parts[1]))
    if (int(time.time()) if now is None else now) >= result["exp"]:
        raise ResultTokenError("result_expired")
    return result
