"""API keys and HTTP usage intake, as rules: keys are shown once and stored hashed, a batch is split byte for
byte, and each event is checked by metering's own rules."""

from datetime import UTC, datetime

import pytest

from creditflow.usage_intake import MAX_BATCH, NotABatch, check_events, split_events
from services.api.domain.keys import ApiKey, Principal, hash_secret, new_key, parse_key, verify

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_key_is_shown_whole_once_and_only_the_hash_of_its_secret_is_kept() -> None:
    key_id, secret, whole = new_key("tenant")
    stored = ApiKey(key_id, "tenant", hash_secret(secret), "backend", NOW, "acme", ("usage:write",))

    assert whole == f"cf_tenant_{key_id}_{secret}" and secret not in stored.secret_hash
    assert parse_key(whole) == (key_id, secret)
    assert verify(stored, secret)
    assert not verify(stored, secret + "x")
    assert not verify(ApiKey(**{**stored.__dict__, "revoked_at": NOW}), secret)


@pytest.mark.parametrize(
    "presented", ["", "cf_", "cf_admin_x_y", "xx_tenant_a_b", "cf_tenant__secret", "cf_tenant_id_"]
)
def test_anything_not_of_the_keys_form_is_no_key(presented: str) -> None:
    assert parse_key(presented) is None


def test_a_tenant_key_reaches_its_tenant_with_its_scopes_and_an_operator_key_everything() -> None:
    tenant = Principal("tenant", "k1", "acme", ("wallet:read",))
    operator = Principal("operator", "k2")

    assert (tenant.reaches("acme"), tenant.reaches("globex")) == (True, False)
    assert (tenant.may("wallet:read"), tenant.may("wallet:write")) == (True, False)
    assert operator.reaches("globex") and operator.may("wallet:write")


def test_a_batch_is_split_into_the_exact_bytes_of_each_event() -> None:
    first, second = b'{"a": 1.10, "b": "\\u00e9"}', b'{"c": [1, {"d": 2}]}'

    assert split_events(b" [ " + first + b" ,\n" + second + b" ] ") == [first, second]
    assert split_events(first) == [first]
    assert split_events(b"[]") == []


@pytest.mark.parametrize("body", [b"", b"[", b"[1,", b"[1 2]", b"[1] x", b"\xff\xfe"])
def test_what_is_not_an_array_of_json_values_is_refused_whole(body: bytes) -> None:
    with pytest.raises(NotABatch):
        split_events(body)


def test_more_than_the_batch_limit_is_refused() -> None:
    with pytest.raises(NotABatch, match="at most"):
        split_events(b"[" + b",".join([b"{}"] * (MAX_BATCH + 1)) + b"]")


def test_each_event_is_checked_by_meterings_rules_and_must_be_the_routes_tenant() -> None:
    good = (
        b'{"event_id": "e1", "tenant_id": "acme", "type": "sms", "quantity": 1, "occurred_at": "2026-12-01T11:00:00Z"}'
    )
    other = good.replace(b'"acme"', b'"globex"')
    future = good.replace(b"2026-12-01T11:00:00Z", b"2026-12-02T11:00:00Z")

    checked = check_events([good, b"{}", other, future, b"[1]"], "acme", now=NOW)

    assert [(c.event_id, c.reason) for c in checked] == [
        ("e1", None),
        (None, "schema_violation"),
        ("e1", "tenant_mismatch"),
        (None, "timestamp_in_future"),
        (None, "schema_violation"),
    ]
