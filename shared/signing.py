"""Webhook signatures, as Stripe signs its own: `Creditflow-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA256 of `"<t>." + body` under the endpoint's secret. The receiver recomputes it over the raw body it got,
compares in constant time, and refuses a timestamp outside its tolerance (a replayed capture). Pure: no I/O."""

import base64
import hashlib
import hmac
import time

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookSignatureError(ValueError):
    """The body was not signed by the endpoint's secret, or too long ago."""


def derive_secret(master_key: str, endpoint_id: str, salt: str) -> str:
    """An endpoint's signing secret: HMAC of its id and salt under the deployment's `WEBHOOK_SIGNING_KEY`. Neither
    the Kafka command nor any database holds it; whoever holds the master key (the API, the notifications worker,
    the operator's CLI) can compute it. A new salt is a new secret."""
    digest = hmac.new(master_key.encode(), f"webhook-endpoint|{endpoint_id}|{salt}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for `body`, signed now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={signature(secret, at, body)}"


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a delivery: returns its signing timestamp, or raises WebhookSignatureError saying why. Several `v1=`
    values are accepted (one matching is enough), so a receiver keeps working while a secret is rotated."""
    if not header:
        raise WebhookSignatureError("no Creditflow-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureError("the header has no t= timestamp or no v1= signature")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise WebhookSignatureError("the signature does not match the body (tampered, or another secret)")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError(f"the timestamp is more than {tolerance}s from now (a replayed delivery?)")
    return timestamp
