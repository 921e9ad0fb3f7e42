"""The wallet's events as they go on the wire: the hand-built `entry.recorded` is exactly the model's, and a
marker keeps the token for them exactly when the stored entry gives them back."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from schemas import wallet as wire
from schemas.money import from_micros
from services.wallet.domain.model import (
    AdjustmentRequest,
    ConfigureRequest,
    DebitRequest,
    GrantRequest,
    LedgerEntry,
    Movement,
    RefundRequest,
    Request,
    VoidRequest,
    Wallet,
)
from services.wallet.domain.rules import decide, entry_id_for
from services.wallet.entry_event import are_own_events, entry_recorded, in_milliseconds, own_events
from services.wallet.service import to_wire

micros = st.integers(min_value=-(10**15), max_value=10**15)
labels = st.none() | st.text(max_size=20)
# hypothesis bounds are naive; the values it draws are in UTC
instants = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001
movements = st.lists(
    st.builds(Movement, bucket_id=st.text(min_size=1, max_size=10), amount=micros, kind=st.just("purchased")),
    max_size=3,
)


@given(
    amount=micros, balance=micros, site=labels, personnel=labels, reference=labels, description=labels,
    moved=movements, at=instants, occurred=instants,
)  # fmt: skip
def test_entry_recorded_is_exactly_what_the_wire_model_dumps(
    amount: int, balance: int, site: str | None, personnel: str | None, reference: str | None,
    description: str | None, moved: list[Movement], at: datetime, occurred: datetime,
) -> None:  # fmt: skip
    entry = LedgerEntry(entry_id="entry:acme:usage:e-1", tenant_id="acme", entry_type="sms", amount=amount,
                        balance_after=balance, occurred_at=occurred, recorded_at=at, command_id="usage:e-1",
                        source="usage.events:e-1", site=site, personnel=personnel, movements=tuple(moved),
                        reference=reference, description=description)  # fmt: skip
    model = wire.EntryRecorded(
        event_id=entry.entry_id, tenant_id="acme", occurred_at=at, entry_id=entry.entry_id, entry_type="sms",
        amount=from_micros(amount), balance_after=from_micros(balance), command_id=entry.command_id, site=site,
        personnel=personnel, reference=reference, description=description,
        movements=[wire.Movement(bucket_id=m.bucket_id, amount=from_micros(m.amount)) for m in moved],
    )  # fmt: skip

    assert entry_recorded("acme", at, entry) == model.model_dump(mode="json")


def test_an_instant_in_another_zone_is_written_in_utc() -> None:
    paris = datetime(2026, 12, 2, 10, 30, 0, 250, tzinfo=timezone(timedelta(hours=1)))
    entry = LedgerEntry(entry_id="e", tenant_id="acme", entry_type="sms", amount=-150_000, balance_after=0,
                        occurred_at=paris, recorded_at=paris, command_id="c", source="s")  # fmt: skip

    assert entry_recorded("acme", paris, entry)["occurred_at"] == "2026-12-02T09:30:00.000250Z"


@given(at=instants)
def test_an_instant_is_kept_to_the_millisecond_as_mongodb_keeps_it(at: datetime) -> None:
    kept = in_milliseconds(at)

    assert kept <= at < kept + timedelta(milliseconds=1)
    assert kept.microsecond % 1000 == 0
    assert in_milliseconds(kept) == kept


def _requests(at: datetime) -> list[Request]:
    def debit(n: int, amount: int) -> DebitRequest:
        return DebitRequest(f"usage:e-{n}", amount, "sms", at, f"usage.events:e-{n}", site="lyon")

    return [
        GrantRequest("grant-1", 10_000_000, "purchased", "test"),
        ConfigureRequest("thresholds", thresholds=(5_000_000, 1_000_000)),
        debit(1, 150_000),  # its entry's event alone
        debit(2, 5_000_000),  # crosses a threshold: two events
        AdjustmentRequest("adjust-1", 250_000, "goodwill"),
        RefundRequest("refund-1", entry_id_for("acme", "usage:e-1"), 50_000, "test"),
        VoidRequest("void-1", entry_id_for("acme", "usage:e-2"), "test"),
        debit(3, 100_000_000),  # refused: no entry
        debit(4, 150_000),
    ]


@given(microsecond=st.sampled_from([0, 1_000, 250, 999_999]))
def test_a_marker_keeps_the_token_exactly_when_the_stored_entry_rebuilds_the_events_its_command_published(
    microsecond: int,
) -> None:
    """For each command the wallet applies, at a clock in milliseconds (the worker's) or finer: the events it
    published are the token's (`own_events` of its main entry, as stored, also once a later void or refund has
    amended it) exactly when `are_own_events` says so."""
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC).replace(microsecond=microsecond)
    wallet, answers = Wallet("acme"), []
    for request in _requests(at):
        outcome = decide(wallet, request, at=at, admins=frozenset())
        wallet, published = outcome.wallet, to_wire("acme", at, outcome)
        for entry in outcome.entries:
            if entry.entry_id == entry_id_for("acme", request.command_id):
                for stored in (entry, replace(entry, reversed_amount=1, voided_by="void-9")):
                    own = published == own_events("acme", stored)
                    assert are_own_events("acme", published, stored) == own, request.command_id
                    answers.append(own)
    if microsecond % 1000:  # a finer clock than the stored milliseconds: no entry gives its event back
        assert set(answers) == {False}
    else:  # the plain debits' events are their entries' own; the crossing's, the refund's, ... are not
        assert set(answers) == {True, False}
