"""Webhooks: signatures as a receiver checks them, which endpoint wants which event, what a command does, and
the retry schedule over three days."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditflow.client import WebhookSignatureError, verify_webhook
from schemas.webhooks import CreateEndpoint, ReplayDeliveries, UpdateEndpoint
from services.notifications.domain.webhooks import Endpoint, Refused, WebhookRetry, body_for, decide, succeeded
from shared.signing import derive_secret, sign, verify

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
SECRET = derive_secret("master", "we_1", "salt-of-sixteen-chars")


def test_a_signed_body_verifies_and_returns_its_event() -> None:
    body = json.dumps({"id": "e1", "type": "threshold.crossed"}).encode()
    assert verify_webhook(body, sign(SECRET, body), SECRET)["id"] == "e1"


@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0))
def test_any_change_to_the_body_fails_the_check(body: bytes, position: int) -> None:
    header = sign(SECRET, body, timestamp=1_000)
    at = position % len(body)
    tampered = body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(tampered, header, SECRET, now=1_000)


def test_another_secret_an_old_timestamp_or_no_header_fail() -> None:
    body = b'{"id":"e1"}'
    header = sign(SECRET, body, timestamp=1_000)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(body, header, derive_secret("master", "we_1", "another-salt-16ch"), now=1_000)
    with pytest.raises(WebhookSignatureError, match="more than 300s"):
        verify(body, header, SECRET, now=1_301)
    assert verify(body, header, SECRET, now=1_300) == 1_000
    with pytest.raises(WebhookSignatureError, match="no Creditflow-Signature"):
        verify(body, None, SECRET)
    with pytest.raises(WebhookSignatureError, match="no t="):
        verify(body, "v1=abc", SECRET)


def test_a_header_with_the_old_and_new_signature_verifies_under_either_secret() -> None:
    body = b'{"id":"e1"}'
    new = derive_secret("master", "we_1", "rotated-salt-16ch")
    old_part, new_part = sign(SECRET, body, timestamp=5).split(",")[1], sign(new, body, timestamp=5).split(",")[1]
    header = f"t=5,{old_part},{new_part}"
    assert verify(body, header, SECRET, now=5) == verify(body, header, new, now=5) == 5


def test_secrets_differ_per_endpoint_salt_and_master_key() -> None:
    secrets = {derive_secret(m, e, s) for m in ("a", "b") for e in ("we_1", "we_2") for s in ("s" * 16, "t" * 16)}
    assert len(secrets) == 8
    assert all(s.startswith("whsec_") for s in secrets)


def endpoint(**fields: object) -> Endpoint:
    base: dict[str, object] = dict(endpoint_id="we_1", url="https://vendor.example/hooks", event_types=("*",),
                                   tenant_ids=None, alert_emails=(), salt="s" * 16)  # fmt: skip
    return Endpoint(**(base | fields))  # type: ignore[arg-type]


def test_an_endpoint_wants_its_types_and_tenants_only() -> None:
    assert endpoint().wants("invoice.issued", "acme")
    picky = endpoint(event_types=("threshold.crossed",), tenant_ids=("acme",))
    assert picky.wants("threshold.crossed", "acme")
    assert not picky.wants("invoice.issued", "acme")
    assert not picky.wants("threshold.crossed", "globex")


def _create(**fields: object) -> CreateEndpoint:
    return CreateEndpoint(command_id="c1", endpoint_id="we_1", issued_at=NOW, url="https://vendor.example/h",  # type: ignore[arg-type]
                          event_types=["threshold.crossed"], salt="s" * 16, **fields)  # fmt: skip


def test_commands_create_change_refuse_and_delete() -> None:
    made = decide(None, _create(), NOW)
    assert isinstance(made, Endpoint) and made.url == "https://vendor.example/h" and made.enabled
    assert decide(made, _create(), NOW) == Refused("endpoint_exists", "endpoint we_1 exists; update it instead")
    off = decide(made, UpdateEndpoint(command_id="c2", endpoint_id="we_1", issued_at=NOW, enabled=False), NOW)
    assert isinstance(off, Endpoint) and not off.enabled and off.url == made.url
    rotated = decide(off, UpdateEndpoint(command_id="c3", endpoint_id="we_1", issued_at=NOW, salt="n" * 16), NOW)
    assert isinstance(rotated, Endpoint) and rotated.salt == "n" * 16 and not rotated.enabled
    nothing = ReplayDeliveries(command_id="c4", endpoint_id="we_1", issued_at=NOW)
    assert isinstance(decide(made, nothing, NOW), Refused)
    unknown = UpdateEndpoint(command_id="c5", endpoint_id="we_9", issued_at=NOW, enabled=True)
    assert decide(None, unknown, NOW) == Refused("not_found", "no endpoint we_9")


def test_the_body_carries_the_event_under_its_own_id() -> None:
    event = {"event_id": "wallet:abc", "kind": "threshold.crossed", "tenant_id": "acme", "balance": "99.95"}
    body = json.loads(body_for(event, NOW))
    assert body == {"id": "wallet:abc", "type": "threshold.crossed", "created_at": "2026-12-02T09:00:00Z",
                    "tenant_id": "acme", "data": event}  # fmt: skip


def test_retries_back_off_exponentially_for_three_days_then_give_up() -> None:
    retry = WebhookRetry()
    at, attempts, schedule = NOW, 0, []
    while (nxt := retry.next_attempt(attempts + 1, NOW, at)) is not None:
        attempts += 1
        schedule.append(nxt - at)
        at = nxt
    assert schedule[:4] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    assert max(schedule) == timedelta(hours=6)
    assert at == NOW + timedelta(days=3)  # the last attempt is made at the end of the window, then it gives up
    assert 15 <= attempts <= 25


def test_an_endpoint_failing_for_the_whole_window_is_disabled() -> None:
    retry = WebhookRetry()
    assert not retry.disable(None, NOW)
    assert not retry.disable(NOW - timedelta(days=2, hours=23), NOW)
    assert retry.disable(NOW - timedelta(days=3), NOW)


def test_only_2xx_is_delivered() -> None:
    assert [succeeded(c) for c in (200, 204, 299, 301, 400, 410, 500)] == [True] * 3 + [False] * 4
