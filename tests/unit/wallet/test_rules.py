"""The wallet's rules, as a specification: each test states one behaviour a tenant or operator relies on."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.wallet.domain import events as ev
from services.wallet.domain.model import (
    CREDIT,
    OVERDRAFT,
    AdjustmentRequest,
    AutoRecharge,
    ConfigureRequest,
    DebitRequest,
    ExpireRequest,
    GrantRequest,
    LedgerEntry,
    PaymentOutcome,
    Policy,
    PurchaseRequest,
    RefundRequest,
    Request,
    VoidRequest,
    Wallet,
)
from services.wallet.domain.reconcile import problems
from services.wallet.domain.rules import Outcome, decide, is_below, price_in_cents, threshold_changes

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ADMIN = "admin@acme.example"
ADMINS = frozenset({ADMIN})


class Ledger:
    """Drives one wallet through requests the way the store does, keeping its entries."""

    def __init__(self, wallet: Wallet | None = None) -> None:
        self.wallet = wallet or Wallet("acme")
        self.entries: dict[str, LedgerEntry] = {}
        self.last: Outcome | None = None

    def do(self, request: Request, *, at: datetime = AT, target: str | None = None) -> list[ev.Event]:
        outcome = decide(
            self.wallet, request, at=at, admins=ADMINS, target=self.entries.get(target) if target else None
        )
        for entry in outcome.entries:
            self.entries[entry.entry_id] = entry
        for mark in outcome.marks:
            old = self.entries[mark.entry_id]
            self.entries[mark.entry_id] = replace(
                old,
                reversed_amount=old.reversed_amount + mark.reversed_delta,
                voided_by=mark.voided_by or old.voided_by,
            )
        self.wallet, self.last = outcome.wallet, outcome
        assert problems(self.wallet, sum(e.amount for e in self.entries.values()), len(self.entries)) == []
        return outcome.events

    def kinds(self) -> list[type]:
        assert self.last is not None
        return [type(e) for e in self.last.events]

    def remaining(self) -> dict[str, int]:
        return {b.bucket_id: b.remaining for b in self.wallet.buckets}


def grant(command_id: str, credits: int, kind: str = "purchased", **kwargs: object) -> GrantRequest:
    return GrantRequest(command_id, credits * CREDIT, kind, source="test", **kwargs)  # type: ignore[arg-type]


def sms(command_id: str, amount: int = 150_000) -> DebitRequest:
    return DebitRequest(command_id=command_id, amount=amount, entry_type="sms", occurred_at=AT, source="test")


def funded(credits: int, policy: Policy | None = None) -> Ledger:
    ledger = Ledger(Wallet("acme", policy=policy or Policy()))
    ledger.do(grant("seed", credits))
    return ledger


# --- debits and policies ---------------------------------------------------------------------------------


def test_a_debit_writes_one_entry_with_the_balance_after_it_and_the_bucket_it_drew_from() -> None:
    ledger = funded(10)

    [recorded] = ledger.do(sms("c1"))

    assert isinstance(recorded, ev.EntryRecorded)
    assert recorded.entry.entry_id == "entry:acme:c1"
    assert recorded.entry.amount == -150_000
    assert recorded.entry.balance_after == 9_850_000
    assert [(m.bucket_id, m.amount) for m in recorded.entry.movements] == [("seed", -150_000)]
    assert ledger.wallet.balance == 9_850_000


def test_under_the_hard_policy_a_debit_that_does_not_fit_is_rejected_and_charges_nothing() -> None:
    ledger = funded(1)
    before = ledger.wallet

    events = ledger.do(sms("c1", amount=2 * CREDIT))

    assert events == [ev.DebitRejected(command_id="c1", amount=2 * CREDIT, balance=CREDIT)]
    assert ledger.wallet == before


def test_an_overdraft_policy_allows_going_below_zero_down_to_its_limit_and_credits_repay_the_debt_first() -> None:
    ledger = funded(1, Policy("overdraft", overdraft_limit=2 * CREDIT))

    ledger.do(sms("c1", amount=3 * CREDIT))
    rejected = ledger.do(sms("c2"))
    ledger.do(grant("g2", 5))

    assert isinstance(rejected[0], ev.DebitRejected)
    assert ledger.wallet.balance == 3 * CREDIT
    assert ledger.remaining() == {"g2": 3 * CREDIT}  # 2 of the 5 repaid the debt


def test_a_debit_draws_soonest_expiry_first_then_priority_then_oldest_across_buckets() -> None:
    ledger = Ledger()
    soon, later = AT + timedelta(days=5), AT + timedelta(days=30)
    ledger.do(grant("purchased-old", 10), at=AT - timedelta(days=2))
    ledger.do(grant("purchased-new", 10), at=AT - timedelta(days=1))
    ledger.do(grant("promo-later", 2, "promotional", expires_at=later))
    ledger.do(grant("allowance-later", 2, "allowance", expires_at=later))
    ledger.do(grant("promo-soon", 1, "promotional", expires_at=soon))

    [recorded] = ledger.do(sms("big", amount=16 * CREDIT))

    assert isinstance(recorded, ev.EntryRecorded)
    assert [(m.bucket_id, -m.amount // CREDIT) for m in recorded.entry.movements] == [
        ("promo-soon", 1),  # soonest expiry
        ("allowance-later", 2),  # same expiry as the promotion, allowance has priority 10 < 20
        ("promo-later", 2),
        ("purchased-old", 10),  # never expire: oldest first
        ("purchased-new", 1),
    ]


def test_credits_left_in_an_expired_bucket_are_written_off_by_an_expiry_entry() -> None:
    ledger = Ledger()
    ledger.do(grant("allowance-nov", 50, "allowance", expires_at=AT + timedelta(days=1)))
    ledger.do(sms("c1", amount=20 * CREDIT))

    events = ledger.do(ExpireRequest("sweep-1"), at=AT + timedelta(days=1))

    expiry = [e.entry for e in events if isinstance(e, ev.EntryRecorded)]
    assert [(e.entry_id, e.entry_type, e.amount, e.balance_after) for e in expiry] == [
        ("entry:acme:expiry:allowance-nov", "expiry", -30 * CREDIT, 0)
    ]
    assert ledger.wallet.buckets == ()


def test_a_debit_after_an_expiry_never_draws_from_the_expired_bucket() -> None:
    ledger = Ledger()
    ledger.do(grant("promo", 5, "promotional", expires_at=AT + timedelta(hours=1)))

    events = ledger.do(sms("late"), at=AT + timedelta(hours=2))

    assert [type(e) for e in events] == [ev.EntryRecorded, ev.DebitRejected, ev.ThresholdCrossed]
    assert ledger.wallet.balance == 0


def test_allowance_and_promotional_credits_must_expire_in_the_future() -> None:
    ledger = Ledger()

    ledger.do(grant("promo", 5, "promotional"))
    assert ledger.kinds() == [ev.CommandRefused]
    ledger.do(grant("allowance", 5, "allowance", expires_at=AT))
    assert ledger.kinds() == [ev.CommandRefused]


# --- thresholds ------------------------------------------------------------------------------------------


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
    ledger = Ledger()

    ledger.do(grant("first", 30))

    assert ledger.kinds() == [ev.EntryRecorded]


def test_the_crossing_event_is_anchored_on_the_entry_that_caused_it() -> None:
    ledger = funded(101)

    events = ledger.do(sms("c1", amount=2 * CREDIT))

    assert events[1] == ev.ThresholdCrossed(100 * CREDIT, 99 * CREDIT, "entry:acme:c1")


# --- purchases and payments ------------------------------------------------------------------------------


def test_a_purchase_by_an_admin_asks_for_payment_and_credits_nothing_until_it_succeeds() -> None:
    ledger = Ledger()

    [requested] = ledger.do(PurchaseRequest("buy-1", 50 * CREDIT, ADMIN))

    assert requested == ev.PaymentRequested("purchase:acme:buy-1", 50 * CREDIT, 5000, "purchase", ADMIN, None)
    assert ledger.wallet.balance == 0
    [recorded, paid] = ledger.do(PaymentOutcome("purchase:acme:buy-1", succeeded=True))
    assert isinstance(recorded, ev.EntryRecorded)
    assert paid == ev.PaymentSucceeded("purchase:acme:buy-1", 50 * CREDIT, 5000, "purchase", 50 * CREDIT)
    assert (recorded.entry.entry_type, recorded.entry.amount, recorded.entry.personnel) == ("topup", 50 * CREDIT, ADMIN)
    assert ledger.wallet.pending == ()


def test_only_an_admin_of_the_tenant_may_buy_credits() -> None:
    ledger = Ledger()

    events = ledger.do(PurchaseRequest("buy-1", CREDIT, "member@acme.example"))

    assert events == [ev.CommandRefused("buy-1", "not_an_admin", "member@acme.example is not an admin of the tenant")]


def test_a_purchase_for_an_unknown_tenant_is_refused() -> None:
    outcome = decide(Wallet("ghost"), PurchaseRequest("buy-1", CREDIT, ADMIN), at=AT, admins=None)

    assert isinstance(outcome.events[0], ev.CommandRefused)
    assert outcome.events[0].reason == "unknown_tenant"


def test_a_failed_purchase_credits_nothing_and_says_why() -> None:
    ledger = Ledger()
    ledger.do(PurchaseRequest("buy-1", CREDIT, ADMIN))

    [failed] = ledger.do(PaymentOutcome("purchase:acme:buy-1", succeeded=False, reason="card_declined"))

    assert failed == ev.PaymentFailed("purchase:acme:buy-1", CREDIT, "purchase", "card_declined", 0, False)
    assert ledger.wallet.balance == 0


def test_an_outcome_for_a_payment_nobody_awaits_is_refused() -> None:
    events = Ledger().do(PaymentOutcome("purchase:acme:nope", succeeded=True))

    assert isinstance(events[0], ev.CommandRefused) and events[0].reason == "unknown_payment"


@pytest.mark.parametrize(
    ("credits", "price", "cents"),
    [
        (50 * CREDIT, 1_000_000, 5000),  # 1 credit = 1 EUR
        (50 * CREDIT, 900_000, 4500),  # 0.90 EUR per credit
        (150_000, 1_000_000, 15),
        (125_000, 1_000_000, 12),  # 12.5 cents: half-even goes to 12
        (135_000, 1_000_000, 14),  # 13.5 cents: half-even goes to 14
    ],
)
def test_a_purchase_costs_credits_times_the_tenants_credit_price_rounded_half_even_to_the_cent(
    credits: int, price: int, cents: int
) -> None:
    assert price_in_cents(credits, price) == cents


# --- automatic recharge ----------------------------------------------------------------------------------


def recharging(rule: AutoRecharge, credits: int = 30) -> Ledger:
    ledger = funded(credits)
    ledger.do(ConfigureRequest("cfg", auto_recharge=rule))
    return ledger


FIXED = AutoRecharge(trigger=20 * CREDIT, mode="fixed", amount=50 * CREDIT, monthly_cap=200 * CREDIT)


def test_falling_below_the_trigger_requests_one_recharge_and_no_second_while_it_is_in_flight() -> None:
    ledger = recharging(FIXED)

    first = ledger.do(sms("c1", amount=11 * CREDIT))
    second = ledger.do(sms("c2"))

    assert [e for e in first if isinstance(e, ev.PaymentRequested)] == [
        ev.PaymentRequested("recharge:acme:c1", 50 * CREDIT, 5000, "auto_recharge", None, None)
    ]
    assert not [e for e in second if isinstance(e, ev.PaymentRequested)]
    ledger.do(PaymentOutcome("recharge:acme:c1", succeeded=True))
    assert ledger.wallet.balance == (30 - 11 + 50) * CREDIT - 150_000
    assert ledger.wallet.recharged_in_month == 50 * CREDIT


def test_a_top_up_to_target_rule_buys_what_brings_the_balance_back_to_the_target() -> None:
    ledger = recharging(AutoRecharge(trigger=20 * CREDIT, mode="target", amount=100 * CREDIT, monthly_cap=500 * CREDIT))

    events = ledger.do(sms("c1", amount=15 * CREDIT))

    [requested] = [e for e in events if isinstance(e, ev.PaymentRequested)]
    assert requested.credits == 85 * CREDIT


def test_the_monthly_cap_limits_what_is_recharged_in_a_calendar_month() -> None:
    ledger = recharging(replace(FIXED, monthly_cap=70 * CREDIT))
    ledger.do(sms("c1", amount=11 * CREDIT))
    ledger.do(PaymentOutcome("recharge:acme:c1", succeeded=True))

    events = ledger.do(sms("c2", amount=50 * CREDIT))
    [requested] = [e for e in events if isinstance(e, ev.PaymentRequested)]
    assert requested.credits == 20 * CREDIT  # 70 - 50 already recharged this month
    ledger.do(PaymentOutcome(requested.payment_id, succeeded=True))
    ledger.do(sms("c3", amount=30 * CREDIT))
    assert ledger.wallet.pending == ()  # cap reached: no more this month
    next_month = ledger.do(sms("c4"), at=datetime(2026, 12, 1, tzinfo=UTC))
    assert [e.credits for e in next_month if isinstance(e, ev.PaymentRequested)] == [50 * CREDIT]


def test_after_n_failed_recharges_in_a_row_the_rule_switches_itself_off() -> None:
    ledger = recharging(replace(FIXED, max_failures=2))

    ledger.do(sms("c1", amount=11 * CREDIT))
    [first] = ledger.do(PaymentOutcome("recharge:acme:c1", succeeded=False, reason="card_declined"))
    ledger.do(sms("c2"))  # still below the trigger: tries again
    [second] = ledger.do(PaymentOutcome("recharge:acme:c2", succeeded=False, reason="card_declined"))
    ledger.do(sms("c3"))

    assert isinstance(first, ev.PaymentFailed) and not first.auto_recharge_disabled
    assert isinstance(second, ev.PaymentFailed) and second.auto_recharge_disabled
    assert second.consecutive_failures == 2
    assert ledger.wallet.auto_recharge is not None and not ledger.wallet.auto_recharge.enabled
    assert ledger.wallet.pending == ()


# --- voids, refunds, adjustments -------------------------------------------------------------------------


def test_voiding_a_debit_gives_its_credits_back_to_the_buckets_it_drew_from_once() -> None:
    ledger = Ledger()
    ledger.do(grant("promo", 1, "promotional", expires_at=AT + timedelta(days=3)))
    ledger.do(grant("bought", 10))
    ledger.do(sms("c1", amount=3 * CREDIT))

    ledger.do(VoidRequest("v1", "entry:acme:c1", "sent by mistake"), target="entry:acme:c1")
    again = ledger.do(VoidRequest("v2", "entry:acme:c1", "again"), target="entry:acme:c1")

    assert ledger.remaining() == {"promo": CREDIT, "bought": 10 * CREDIT}
    assert ledger.entries["entry:acme:v1"].reference == "entry:acme:c1"
    assert isinstance(again[0], ev.CommandRefused) and again[0].reason == "already_voided"


def test_voiding_a_grant_removes_what_is_left_of_it() -> None:
    ledger = Ledger()
    ledger.do(grant("promo", 5, "promotional", expires_at=AT + timedelta(days=3)))
    ledger.do(sms("c1", amount=2 * CREDIT))

    ledger.do(VoidRequest("v1", "entry:acme:promo", "granted in error"), target="entry:acme:promo")

    assert ledger.wallet.balance == 0
    assert ledger.entries["entry:acme:v1"].amount == -3 * CREDIT


def test_a_refund_gives_back_part_of_a_debit_and_never_more_than_was_charged() -> None:
    ledger = funded(10)
    ledger.do(sms("c1", amount=3 * CREDIT))

    ledger.do(RefundRequest("r1", "entry:acme:c1", 2 * CREDIT, "2 SMS undelivered"), target="entry:acme:c1")
    too_much = ledger.do(RefundRequest("r2", "entry:acme:c1", 2 * CREDIT, "again"), target="entry:acme:c1")
    ledger.do(RefundRequest("r3", "entry:acme:c1", CREDIT, "the last one"), target="entry:acme:c1")

    assert isinstance(too_much[0], ev.CommandRefused) and too_much[0].reason == "exceeds_refundable"
    assert ledger.wallet.balance == 10 * CREDIT


def test_a_refund_of_an_unknown_entry_is_refused() -> None:
    events = funded(1).do(RefundRequest("r1", "entry:acme:nope", CREDIT, "?"))

    assert isinstance(events[0], ev.CommandRefused) and events[0].reason == "unknown_entry"


def test_a_negative_adjustment_respects_the_policy_floor() -> None:
    ledger = funded(1)

    refused = ledger.do(AdjustmentRequest("a1", -2 * CREDIT, "correction"))
    ledger.do(AdjustmentRequest("a2", -CREDIT, "correction"))

    assert isinstance(refused[0], ev.CommandRefused) and refused[0].reason == "below_floor"
    assert ledger.wallet.balance == 0


def test_a_policy_whose_floor_is_above_the_balance_is_refused() -> None:
    ledger = funded(0, Policy("overdraft", 5 * CREDIT))
    ledger.do(sms("c1", amount=2 * CREDIT))

    events = ledger.do(ConfigureRequest("cfg", policy=Policy("hard")))

    assert isinstance(events[0], ev.CommandRefused) and events[0].reason == "below_floor"
    assert ledger.wallet.policy == Policy("overdraft", 5 * CREDIT)
    assert ledger.remaining() == {OVERDRAFT: -2 * CREDIT}


def test_two_tenants_using_the_same_command_id_get_distinct_entries() -> None:
    acme = decide(Wallet("acme"), grant("sms-1", 1), at=AT)
    other = decide(Wallet("other"), grant("sms-1", 1), at=AT)

    assert acme.entries[0].entry_id != other.entries[0].entry_id


def test_a_policy_change_on_behalf_of_someone_who_is_not_an_admin_is_refused() -> None:
    ledger = funded(10)

    events = ledger.do(ConfigureRequest("cfg", policy=Policy("overdraft", 50 * CREDIT), by="member@acme.example"))
    allowed = ledger.do(ConfigureRequest("cfg2", policy=Policy("overdraft", 50 * CREDIT), by=ADMIN))

    assert isinstance(events[0], ev.CommandRefused) and events[0].reason == "not_an_admin"
    assert isinstance(allowed[0], ev.SettingsChanged)
    assert ledger.wallet.policy == Policy("overdraft", 50 * CREDIT)


def test_a_moved_wallet_is_the_wallet_replace_makes() -> None:
    wallet = Wallet("acme", balance=5, version=3, thresholds=(7,), payment_method="pm_1", recharged_month="2026-11")
    moved = wallet.moved(balance=2, buckets=(), entry_count=9, version=4)

    assert moved == replace(wallet, balance=2, buckets=(), entry_count=9, version=4)
    assert (wallet.balance, wallet.version) == (5, 3)  # the wallet it came from is unchanged
