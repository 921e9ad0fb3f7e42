from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.wallet.domain import events as ev
from services.wallet.domain.model import CREDIT, DebitRequest, Policy, TopUpRequest, Wallet
from services.wallet.domain.rules import debit, is_below, threshold_changes, top_up

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ADMINS = frozenset({"admin@acme.example"})


def sms(command_id: str, amount: int = 150_000) -> DebitRequest:
    return DebitRequest(command_id=command_id, amount=amount, entry_type="sms", occurred_at=AT, source="test")


def funded(balance: int, **kwargs: object) -> Wallet:
    return Wallet("acme", balance=balance, version=1, **kwargs)  # type: ignore[arg-type]


def test_a_debit_writes_one_entry_with_the_balance_after_it() -> None:
    wallet, events = debit(funded(10 * CREDIT), sms("c1"), at=AT)

    assert wallet.balance == 9_850_000
    assert wallet.version == 2
    [recorded] = events
    assert isinstance(recorded, ev.EntryRecorded)
    assert recorded.entry.entry_id == "entry:acme:c1"
    assert recorded.entry.amount == -150_000
    assert recorded.entry.balance_after == 9_850_000


def test_under_the_hard_policy_a_debit_that_does_not_fit_is_rejected_and_charges_nothing() -> None:
    wallet = funded(100_000)

    after, events = debit(wallet, sms("c1"), at=AT)

    assert after == wallet
    assert events == [ev.DebitRejected(command_id="c1", amount=150_000, balance=100_000)]


def test_an_overdraft_policy_allows_going_below_zero_down_to_its_limit() -> None:
    wallet = funded(100_000, policy=Policy("overdraft", overdraft_limit=1 * CREDIT))

    after, _ = debit(wallet, sms("c1", amount=1_100_000), at=AT)
    refused, events = debit(after, sms("c2"), at=AT)

    assert after.balance == -1 * CREDIT
    assert refused.balance == -1 * CREDIT
    assert isinstance(events[0], ev.DebitRejected)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (100 * CREDIT, 99_850_000, [ev.ThresholdCrossed(100 * CREDIT, 99_850_000, "e")]),
        (101 * CREDIT, 100 * CREDIT, []),  # exactly 100 is not below 100
        (99 * CREDIT, 98 * CREDIT, []),  # already below: no repeated alert
        (150_000, 0, [ev.ThresholdCrossed(0, 0, "e")]),  # reaching 0 is "used everything"
        (150 * CREDIT, 0, [ev.ThresholdCrossed(100 * CREDIT, 0, "e"), ev.ThresholdCrossed(0, 0, "e")]),
        (
            0,
            300 * CREDIT,
            [ev.ThresholdRecovered(100 * CREDIT, 300 * CREDIT, "e"), ev.ThresholdRecovered(0, 300 * CREDIT, "e")],
        ),
        (50 * CREDIT, 60 * CREDIT, []),
    ],
)
def test_threshold_events_fire_once_per_crossing(before: int, after: int, expected: list[ev.Event]) -> None:
    assert threshold_changes(before, after, (100 * CREDIT, 0), "e") == expected


def test_zero_counts_as_below_the_zero_threshold_but_not_below_positive_ones() -> None:
    assert is_below(0, 0)
    assert not is_below(100 * CREDIT, 100 * CREDIT)


def test_a_new_wallet_funded_for_the_first_time_crosses_nothing() -> None:
    _, events = top_up(Wallet("acme"), TopUpRequest("t1", 300 * CREDIT, "admin@acme.example"), admins=ADMINS, at=AT)

    assert [type(e) for e in events] == [ev.EntryRecorded]


def test_only_an_admin_of_the_tenant_may_buy_credits() -> None:
    wallet = funded(0)

    after, events = top_up(wallet, TopUpRequest("t1", CREDIT, "member@acme.example"), admins=ADMINS, at=AT)

    assert after == wallet
    assert events == [ev.CommandRefused("t1", "not_an_admin", "member@acme.example is not an admin of the tenant")]


def test_a_top_up_for_an_unknown_tenant_is_refused() -> None:
    _, events = top_up(funded(0), TopUpRequest("t1", CREDIT, "admin@acme.example"), admins=None, at=AT)

    assert isinstance(events[0], ev.CommandRefused)
    assert events[0].reason == "unknown_tenant"


commands = st.lists(
    st.one_of(
        st.tuples(st.just("debit"), st.integers(min_value=1, max_value=50 * CREDIT)),
        st.tuples(st.just("topup"), st.integers(min_value=1, max_value=100 * CREDIT)),
    ),
    max_size=60,
)


@settings(max_examples=200)
@given(commands=commands, overdraft=st.integers(min_value=0, max_value=20 * CREDIT))
def test_balance_equals_the_sum_of_entries_and_never_crosses_the_policy_floor(
    commands: list[tuple[str, int]], overdraft: int
) -> None:
    for policy in (Policy("hard"), Policy("overdraft", overdraft)):
        wallet = Wallet("acme", policy=policy)
        entries: list[int] = []
        for i, (kind, amount) in enumerate(commands):
            if kind == "debit":
                wallet, events = debit(wallet, sms(f"c{i}", amount), at=AT)
            else:
                wallet, events = top_up(
                    wallet, TopUpRequest(f"c{i}", amount, "admin@acme.example"), admins=ADMINS, at=AT
                )
            entries += [e.entry.amount for e in events if isinstance(e, ev.EntryRecorded)]
            assert wallet.balance >= policy.floor
        assert wallet.balance == sum(entries)
        assert wallet.version == len(entries)


def test_two_tenants_using_the_same_command_id_get_distinct_entries() -> None:
    _, acme = debit(funded(CREDIT), sms("sms-1"), at=AT)
    _, other = debit(Wallet("other", balance=CREDIT, version=1), sms("sms-1"), at=AT)

    assert isinstance(acme[0], ev.EntryRecorded) and isinstance(other[0], ev.EntryRecorded)
    assert acme[0].entry.entry_id != other[0].entry.entry_id
