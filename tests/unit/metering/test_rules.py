import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.usage import UsageEvent
from services.metering.domain.model import DEFAULT_PRICE_BOOK, Limits, MeterPrice, PriceBook, Priced, Rejection, Tier
from services.metering.domain.rules import billing_period, parse_usage, price, read_plain_object, tiered_cost

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
    assert priced.period.key == "2026-11-01"


def test_a_price_is_made_with_every_field_as_its_constructor_makes_it() -> None:
    event = UsageEvent.model_validate(usage(type="document", quantity="2", properties={"recipients": 5}))

    priced = price(event, DEFAULT_PRICE_BOOK)

    expected = Priced(
        Decimal("10.000000"), Decimal("10"), "document", billing_period(event.occurred_at), event.occurred_at,
        {"personnel": "Jean-Luc Lemaire", "site": "Insypro"}, tiered=False,
    )  # fmt: skip
    assert priced == expected and repr(priced) == repr(expected)


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


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.decimals(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
    max_leaves=20,
)


def _exactly(raw: bytes) -> object:
    return json.loads(raw, parse_float=Decimal)


@given(st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6), st.booleans())
def test_the_fast_reader_reads_exactly_what_the_exact_reader_does_whenever_it_answers(
    document: dict[str, object], ascii_only: bool
) -> None:
    raw = json.dumps(document, ensure_ascii=ascii_only, default=str).encode("utf-8", "surrogatepass")

    fast = read_plain_object(raw)

    if fast is not None:
        assert fast == _exactly(raw)
        assert all(type(v) is not float for v in fast.values())


@given(st.binary(max_size=300))
def test_the_fast_reader_never_answers_other_than_the_exact_reader_on_any_bytes(raw: bytes) -> None:
    fast = read_plain_object(raw)

    if fast is not None:
        assert fast == _exactly(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"quantity": 0.1}',  # a fraction: a float to orjson
        b'{"quantity": 1e3}',
        b'{"quantity": 18446744073709551616}',  # beyond 64 bits: a float to orjson
        b'{"properties": {"n": [1, 2.5]}}',  # nested
        b'{"personnel": "\\ud800"}',  # an unpaired surrogate
        b'\xef\xbb\xbf{"quantity": 1}',  # a byte-order mark
        '{"quantity": 1}'.encode("utf-16"),
        b"[1, 2]",
        b'{"quantity": NaN}',
    ],
)
def test_what_the_fast_reader_cannot_read_exactly_goes_to_the_exact_reader(raw: bytes) -> None:
    assert read_plain_object(raw) is None


def test_an_event_with_a_fractional_quantity_is_still_read_exactly() -> None:
    raw = json.dumps(usage(quantity="x")).replace('"x"', "123456789012.123456").encode()

    event = parse_usage(raw, now=NOW)

    assert isinstance(event, UsageEvent) and event.quantity == Decimal("123456789012.123456")


# --- billing periods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "anchor", "start", "end"),
    [
        ("2026-11-22T10:00:00+00:00", None, "2026-11-01", "2026-12-01"),  # no anchor: calendar months
        ("2026-11-22T10:00:00+00:00", date(2026, 3, 15), "2026-11-15", "2026-12-15"),  # resets on the billing date
        ("2026-11-14T23:59:59+00:00", date(2026, 3, 15), "2026-10-15", "2026-11-15"),
        ("2026-11-15T00:00:00+00:00", date(2026, 3, 15), "2026-11-15", "2026-12-15"),
        ("2027-02-28T12:00:00+00:00", date(2026, 1, 31), "2027-02-28", "2027-03-31"),  # 31st in February
        ("2027-02-27T12:00:00+00:00", date(2026, 1, 31), "2027-01-31", "2027-02-28"),
        ("2027-01-05T12:00:00+00:00", date(2026, 12, 20), "2026-12-20", "2027-01-20"),  # across the year end
        ("2026-11-15T00:30:00+01:00", date(2026, 3, 15), "2026-10-15", "2026-11-15"),  # 23:30 UTC on the 14th
    ],
)
def test_usage_periods_follow_the_billing_anniversary(
    occurred_at: str, anchor: date | None, start: str, end: str
) -> None:
    period = billing_period(datetime.fromisoformat(occurred_at), anchor)

    assert (period.start.date().isoformat(), period.end.date().isoformat()) == (start, end)
    assert period.key == start


def test_an_annual_plan_still_resets_usage_monthly_on_its_start_date() -> None:
    start = date(2026, 4, 10)  # an annual plan started on 10 April

    periods = {billing_period(datetime(2026, m, 12, tzinfo=UTC), start).key for m in range(5, 13)}

    assert periods == {f"2026-{m:02d}-10" for m in range(5, 13)}


# --- price versions and tiers ----------------------------------------------------------------------------

T_CHANGE = datetime(2026, 11, 20, tzinfo=UTC)


def book_with(*versions: MeterPrice, meter: str = "sms") -> PriceBook:
    return DEFAULT_PRICE_BOOK.with_versions({meter: list(versions)})


def test_an_event_is_priced_at_the_price_in_effect_when_it_occurred_not_when_it_arrived() -> None:
    book = book_with(MeterPrice(Decimal("0.12"), "sms", effective_from=T_CHANGE))
    before = UsageEvent.model_validate(usage(occurred_at="2026-11-19T23:59:59+00:00"))
    after = UsageEvent.model_validate(usage(occurred_at="2026-11-20T00:00:00+00:00"))

    assert not isinstance(p1 := price(before, book), Rejection) and p1.amount == Decimal("0.15")
    assert not isinstance(p2 := price(after, book), Rejection) and p2.amount == Decimal("0.12")


def test_a_tenant_can_have_a_meter_of_its_own_from_a_given_instant() -> None:
    book = book_with(MeterPrice(Decimal("2.5"), "courier", effective_from=T_CHANGE), meter="courier")

    early = price(UsageEvent.model_validate(usage(type="courier", occurred_at="2026-11-19T10:00:00+00:00")), book)
    on_time = price(UsageEvent.model_validate(usage(type="courier")), book)

    assert isinstance(early, Rejection) and early.reason == "unknown_meter"
    assert not isinstance(on_time, Rejection) and on_time.amount == Decimal("2.5")


TIERS = (Tier(Decimal(100), Decimal("0.15")), Tier(Decimal(1000), Decimal("0.12")), Tier(None, Decimal("0.10")))


@pytest.mark.parametrize(
    ("used_before", "units", "cost"),
    [
        (0, 1, Decimal("0.15")),
        (99, 1, Decimal("0.15")),
        (100, 1, Decimal("0.12")),  # the 101st unit of the period
        (98, 4, Decimal("0.15") * 2 + Decimal("0.12") * 2),  # one event spanning two tiers
        (999, 3, Decimal("0.12") + Decimal("0.10") * 2),
        (5000, 10, Decimal("1.00")),
    ],
)
def test_graduated_tiers_price_each_unit_at_the_tier_it_falls_in_within_the_period(
    used_before: int, units: int, cost: Decimal
) -> None:
    assert tiered_cost(Decimal(units), Decimal(used_before), TIERS) == cost


def test_a_tiered_price_counts_the_units_already_used_in_the_period() -> None:
    book = book_with(MeterPrice(Decimal(0), "sms", tiers=TIERS))
    event = UsageEvent.model_validate(usage(quantity="3"))

    priced = price(event, book, used_before=Decimal(99))

    assert not isinstance(priced, Rejection)
    assert priced.amount == Decimal("0.39")


def test_the_usage_report_counts_distinct_personnel_and_sites_by_default() -> None:
    event = UsageEvent.model_validate(usage(personnel="Jean-Luc Lemaire", site="Insypro"))

    priced = price(event, DEFAULT_PRICE_BOOK)

    assert not isinstance(priced, Rejection)
    assert priced.distinct == {"personnel": "Jean-Luc Lemaire", "site": "Insypro"}


def test_a_string_that_is_not_valid_unicode_is_a_schema_violation_not_a_crash_later() -> None:
    raw = b'{"event_id": "e1", "tenant_id": "acme", "type": "sms", "quantity": 1, ' + (
        b'"occurred_at": "2026-11-22T11:59:00+00:00", "personnel": "\\ud800"}'
    )

    result = parse_usage(raw, now=NOW)

    assert isinstance(result, Rejection) and result.reason == "schema_violation"


def test_a_surrogate_encoded_in_the_bytes_rather_than_escaped_is_a_schema_violation_too() -> None:
    raw = b'{"event_id": "e1", "tenant_id": "acme", "type": "sms", "quantity": 1, ' + (
        b'"occurred_at": "2026-11-22T11:59:00+00:00", "personnel": "\xed\xa0\x80"}'
    )

    result = parse_usage(raw, now=NOW)

    assert isinstance(result, Rejection) and result.reason == "schema_violation"


def test_escaped_characters_that_are_valid_unicode_are_accepted() -> None:
    result = parse(usage(personnel='Jos\u00e9 \ud83d\ude00 "Lyon"'))

    assert isinstance(result, UsageEvent) and result.personnel == 'José 😀 "Lyon"'
