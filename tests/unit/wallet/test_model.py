"""The wallet's frozen values, however they are made: `built` makes what the constructor makes."""

from dataclasses import FrozenInstanceError, fields
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.wallet.domain.model import Bucket, DebitRequest, LedgerEntry, Movement, Policy, Wallet
from services.wallet.domain.rules import decide
from shared.frozen import built

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
instants = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001
text = st.text(max_size=12)
movements = st.builds(Movement, bucket_id=text, amount=st.integers(), kind=st.just("purchased"),
                      priority=st.integers(0, 100), expires_at=st.none() | instants)  # fmt: skip
values = st.one_of(
    movements,
    st.builds(Bucket, bucket_id=text, kind=st.just("allowance"), remaining=st.integers(), granted_at=instants,
              priority=st.integers(0, 100), expires_at=st.none() | instants),
    st.builds(LedgerEntry, entry_id=text, tenant_id=text, entry_type=text, amount=st.integers(),
              balance_after=st.integers(), occurred_at=instants, recorded_at=instants, command_id=text, source=text,
              site=st.none() | text, personnel=st.none() | text, movements=st.tuples(movements),
              reference=st.none() | text, reversed_amount=st.integers(), voided_by=st.none() | text,
              sequence=st.integers(0), description=st.none() | text),
)  # fmt: skip


@given(value=values)
def test_built_makes_what_the_constructor_makes(value: Movement | Bucket | LedgerEntry) -> None:
    cls = type(value)
    made = built(cls, {f.name: getattr(value, f.name) for f in fields(cls)})

    assert type(made) is cls
    assert made == value and hash(made) == hash(value) and repr(made) == repr(value)
    with pytest.raises(FrozenInstanceError):
        made.amount = 1  # type: ignore[misc, union-attr]


def test_built_refuses_a_value_missing_a_field() -> None:
    with pytest.raises(TypeError, match="needs every field"):
        built(Movement, {"bucket_id": "b1", "amount": -1, "kind": "purchased"})


def test_a_debit_makes_its_entry_bucket_and_movement_with_every_field() -> None:
    wallet = Wallet("acme", balance=1_000_000, buckets=(Bucket("b1", "purchased", 1_000_000, AT),), entry_count=3)
    outcome = decide(wallet, DebitRequest("usage:e-1", 150_000, "sms", AT, "usage.events:e-1"), at=AT)

    [entry] = outcome.entries
    [bucket] = outcome.wallet.buckets
    assert entry == LedgerEntry(
        entry_id="entry:acme:usage:e-1", tenant_id="acme", entry_type="sms", amount=-150_000, balance_after=850_000,
        occurred_at=AT, recorded_at=AT, command_id="usage:e-1", source="usage.events:e-1",
        movements=(Movement("b1", -150_000, "purchased"),), sequence=4,
    )  # fmt: skip
    assert bucket == Bucket("b1", "purchased", 850_000, AT)
    assert outcome.wallet.policy == Policy()
