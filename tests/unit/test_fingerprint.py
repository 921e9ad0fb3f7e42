"""Fingerprints are the idempotency chain's memory: the text they hash must never change between versions."""

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.usage import UsageEvent
from schemas.wallet import Debit, UsageLine
from services.metering.service import event_fingerprint
from services.wallet.service import LineDebit
from shared.idempotency import fingerprint, fingerprint_fields, holds_no_float

PARIS = timezone(timedelta(hours=1))

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12
)


def _as_stored(data: Any) -> str:
    """How every fingerprint stored so far was made."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@given(st.dictionaries(st.text(), documents, max_size=6))
def test_a_fingerprint_is_the_hash_of_the_same_text_as_before(data: dict[str, Any]) -> None:
    try:
        expected = _as_stored(data)
    except UnicodeEncodeError:  # a lone surrogate: never fingerprinted (validation refuses it first)
        return
    assert fingerprint(data) == expected


no_floats = st.none() | st.booleans() | st.integers() | st.text()
float_free_documents = st.recursive(
    no_floats, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12
)


@given(st.dictionaries(st.text(), float_free_documents, max_size=6))
def test_data_without_floats_hashes_the_same_text_written_by_orjson(data: dict[str, Any]) -> None:
    try:
        expected = _as_stored(data)
    except UnicodeEncodeError:
        return
    assert fingerprint(data, float_free=True) == expected


class _Kind(Enum):
    A = "a"


class _Text(BaseModel):
    name: str
    amount: Decimal
    kind: _Kind
    tags: list[str] = []
    level: Literal[1, 2] = 1


class _Nested(BaseModel):
    inner: _Text | None = None
    counts: dict[str, int] = {}


class _Weighed(BaseModel):
    weight: float


class _Anything(BaseModel):
    value: Any


class _Deep(BaseModel):
    parts: list[_Weighed]


def test_a_model_holds_no_float_only_when_none_of_its_fields_can_hold_one() -> None:
    assert holds_no_float(_Text) and holds_no_float(_Nested)
    assert not holds_no_float(_Weighed) and not holds_no_float(_Anything) and not holds_no_float(_Deep)
    # the hot paths' messages: a usage event and a line of a metering batch
    assert holds_no_float(UsageEvent) and holds_no_float(UsageLine)


def test_a_model_with_a_float_keeps_the_text_json_writes() -> None:
    model = _Weighed(weight=1e16)

    assert fingerprint(model) == _as_stored({"weight": 1e16})  # 1e+16, as json writes it; orjson would write 1e16


def test_key_order_does_not_change_a_fingerprint() -> None:
    assert fingerprint({"a": 1, "b": {"y": [1, "é"], "x": None}}) == fingerprint(
        {"b": {"x": None, "y": [1, "é"]}, "a": 1}
    )


# --- fingerprints from a model's fields (the hot paths: a usage event, a line of a metering batch) --------------

instants = st.datetimes(  # hypothesis takes naive bounds and adds the time zones
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, PARIS]),
)
labels = st.none() | st.text(max_size=30)
ids = st.from_regex(r"[a-z0-9][a-z0-9._:-]{0,30}", fullmatch=True)


@given(
    event_id=ids,
    quantity=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("999999999999"), places=6),
    at=instants,
    site=labels,
    personnel=labels,
    properties=st.dictionaries(st.text(max_size=8), st.none() | st.booleans() | st.integers() | st.text(max_size=8)),
)
def test_an_event_fingerprinted_from_its_fields_is_fingerprinted_as_its_json_data(
    event_id: str, quantity: Decimal, at: datetime, site: str | None, personnel: str | None,
    properties: dict[str, Any],
) -> None:  # fmt: skip
    try:
        event = UsageEvent(event_id=event_id, tenant_id="acme", type="sms", quantity=quantity, occurred_at=at,
                           site=site, personnel=personnel, properties=properties)  # fmt: skip
    except ValidationError:
        assume(False)
        return
    # an integer beyond 64 bits or a lone surrogate takes the slow way: the same text all the same
    assert event_fingerprint(event) == fingerprint(event) == _as_stored(event.model_dump(mode="json"))


@given(
    amount=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("999999999"), places=6),
    at=instants,
    site=labels,
    description=st.none() | st.text(min_size=1, max_size=30),
    source=st.text(max_size=40),
)
def test_a_line_fingerprinted_from_its_fields_is_the_debit_it_stands_for(
    amount: Decimal, at: datetime, site: str | None, description: str | None, source: str
) -> None:
    try:
        line = UsageLine(command_id="usage:e-1", amount=amount, entry_type="sms", occurred_at=at, site=site,
                         source=source, description=description)  # fmt: skip
    except ValidationError:
        assume(False)
        return
    alone = Debit(command_id="usage:e-1", tenant_id="acme", issued_at=at, **line.model_dump(exclude={"command_id"}))

    assert LineDebit("acme", line).fingerprint() == fingerprint(alone.model_dump(mode="json", exclude={"issued_at"}))


def test_fields_orjson_cannot_write_are_written_as_json_data_first() -> None:
    fields = {"n": 2**70, "at": datetime(2026, 12, 2, 10, 30, tzinfo=PARIS), "q": Decimal("1.50")}

    assert fingerprint_fields(fields) == _as_stored({"n": 2**70, "at": "2026-12-02T09:30:00Z", "q": "1.50"})
