import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.usage import UsageEvent
from services.metering.domain.model import DEFAULT_PRICE_BOOK, Limits, Rejection
from services.metering.domain.rules import parse_usage, price

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def usage(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": "evt-1",
        "tenant_id": "acme",
        "type": "sms",
        "quantity": 1,
        "occurred_at": "2026-11-22T11:59:00+00:00",
        "site": "Insypro",
        "personnel": "Jean-Luc Lemaire",
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not ...}


def parse(payload: object) -> UsageEvent | Rejection:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_usage(raw, now=NOW)


def test_a_valid_sms_event_parses_with_an_exact_quantity() -> None:
    event = parse(usage(quantity=0.1))

    assert isinstance(event, UsageEvent)
    assert event.quantity == Decimal("0.1")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        ([1, 2], "schema_violation"),
        (usage(event_id=...), "schema_violation"),
        (usage(tenant_id="Not A Tenant!"), "schema_violation"),
        (usage(unexpected="field"), "schema_violation"),
        (usage(occurred_at="2026-11-22T11:59:00"), "schema_violation"),  # no time zone
        (usage(schema_version=2), "unsupported_schema_version"),
        (usage(quantity=0), "invalid_quantity"),
        (usage(quantity=-3), "invalid_quantity"),
        (usage(quantity="many"), "invalid_quantity"),
        (usage(quantity=True), "invalid_quantity"),
        (usage(occurred_at=(NOW + timedelta(hours=1)).isoformat()), "timestamp_in_future"),
        (usage(occurred_at=(NOW - timedelta(days=36)).isoformat()), "timestamp_too_old"),
        (usage(properties={"blob": "x" * 20_000}), "oversize"),
    ],
)
def test_every_bad_input_is_rejected_with_its_reason(payload: object, reason: str) -> None:
    result = parse(payload)

    assert isinstance(result, Rejection), result
    assert result.reason == reason
    assert result.detail


@pytest.mark.parametrize(
    ("meter", "quantity", "properties", "credits"),
    [
        ("sms", "1", {}, Decimal("0.15")),
        ("sms", "3", {}, Decimal("0.45")),
        ("apf", "1", {}, Decimal("0.10")),
        ("document", "2", {"recipients": 5}, Decimal("10")),  # Digify: 2 documents to 5 recipients
        ("sms", "0.000003", {}, Decimal("0")),  # 0.00000045: rounded half-even to the micro-credit
        ("sms", "0.000005", {}, Decimal("0.000001")),  # 0.00000075
    ],
)
def test_prices_follow_the_price_book(meter: str, quantity: str, properties: dict[str, int], credits: Decimal) -> None:
    event = UsageEvent.model_validate(usage(type=meter, quantity=quantity, properties=properties))

    priced = price(event, DEFAULT_PRICE_BOOK)

    assert not isinstance(priced, Rejection)
    assert priced.amount == credits
    assert priced.period == "2026-11"


def test_an_unknown_meter_is_rejected() -> None:
    priced = price(UsageEvent.model_validate(usage(type="telepathy")), DEFAULT_PRICE_BOOK)

    assert isinstance(priced, Rejection)
    assert priced.reason == "unknown_meter"


def test_a_document_without_its_recipients_count_is_rejected() -> None:
    priced = price(UsageEvent.model_validate(usage(type="document")), DEFAULT_PRICE_BOOK)

    assert isinstance(priced, Rejection)
    assert priced.reason == "invalid_quantity"


@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(parse_usage(raw, now=NOW, limits=Limits()), UsageEvent | Rejection)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_raises(document: object) -> None:
    raw = json.dumps(document).encode()
    assert isinstance(parse_usage(raw, now=NOW), UsageEvent | Rejection)
