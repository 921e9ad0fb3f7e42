"""Subscription rules as a specification: calendar, proration, the 15-day rule, the lifecycle."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import subscriptions as wire
from services.subscriptions.domain import events as ev
from services.subscriptions.domain.calendar import add_months, months_between, prorate
from services.subscriptions.domain.catalogue import catalogue_from
from services.subscriptions.domain.model import Account, BillingInfo
from services.subscriptions.domain.rules import decide, month_end, next_due, on_day

CATALOGUE = catalogue_from(json.loads((Path("services/subscriptions/catalogue.json")).read_text()))
ADMIN = "admin@acme.example"
ADMINS = frozenset({ADMIN})


def command(cls: type, n: str = "c1", **fields: Any) -> Any:
    return cls(command_id=n, tenant_id="acme", issued_at=datetime(2026, 1, 1, tzinfo=UTC), by=ADMIN, **fields)


def started(plan: str = "team", interval: str = "monthly", seats: int = 3, on: date = date(2026, 1, 31)) -> Account:
    outcome = decide(
        Account("acme"),
        command(wire.Start, "start", plan=plan, interval=interval, seats=seats, start_on=on),
        today=on,
        catalogue=CATALOGUE,
        admins=ADMINS,
    )
    return outcome.account


def run(account: Account, cmd: Any, today: date) -> tuple[Account, list[Any]]:
    outcome = decide(account, cmd, today=today, catalogue=CATALOGUE, admins=ADMINS)
    return outcome.account, outcome.effects


def invoices(effects: list[Any]) -> list[Any]:
    return [e.invoice for e in effects if isinstance(e, ev.InvoiceDrafted)]


# --- calendar --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 1, 31), 2, date(2026, 3, 31)),  # back to the 31st, not stuck on the 28th
        (date(2026, 1, 31), 3, date(2026, 4, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),  # quarterly across the year end
        (date(2028, 2, 29), 12, date(2029, 2, 28)),  # annual from a leap day
        (date(2026, 3, 15), 12, date(2027, 3, 15)),
    ],
)
def test_renewals_fall_on_the_anniversary_clamped_to_short_months(anchor: date, months: int, expected: date) -> None:
    assert add_months(anchor, months) == expected


@pytest.mark.parametrize(
    ("anchor", "day", "months"),
    [
        (date(2026, 1, 31), date(2026, 2, 27), 0),
        (date(2026, 1, 31), date(2026, 2, 28), 1),
        (date(2026, 1, 31), date(2026, 3, 30), 1),
        (date(2026, 1, 31), date(2026, 3, 31), 2),
        (date(2026, 3, 15), date(2027, 3, 15), 12),
    ],
)
def test_months_between_counts_the_anniversaries_passed(anchor: date, day: date, months: int) -> None:
    assert months_between(anchor, day) == months


# --- proration -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "start", "end", "on", "expected"),
    [
        (1500, date(2026, 11, 1), date(2026, 12, 1), date(2026, 11, 1), 1500),  # day 1: everything
        (1500, date(2026, 11, 1), date(2026, 12, 1), date(2026, 11, 16), 750),  # mid-period: 15/30
        (1500, date(2026, 11, 1), date(2026, 12, 1), date(2026, 11, 30), 50),  # last day: 1/30
        (4200, date(2026, 1, 1), date(2026, 4, 1), date(2026, 2, 15), 2100),  # quarterly: 45/90 days
        (15000, date(2027, 1, 1), date(2028, 1, 1), date(2027, 7, 2), 7521),  # annual: 183/365 = 75.205..
        (15000, date(2028, 1, 1), date(2029, 1, 1), date(2028, 7, 2), 7500),  # leap year: 183/366
        (1500, date(2028, 2, 1), date(2028, 3, 1), date(2028, 2, 28), 103),  # 2/29 of 15.00 = 1.0344
        (1, date(2026, 11, 1), date(2026, 12, 1), date(2026, 11, 16), 0),  # 0.5 cent: half-even -> 0
        (3, date(2026, 11, 1), date(2026, 12, 1), date(2026, 11, 16), 2),  # 1.5 cents: half-even -> 2
    ],
)
def test_proration_is_by_day_for_the_rest_of_the_period_rounded_half_even_to_the_cent(
    amount: int, start: date, end: date, on: date, expected: int
) -> None:
    assert prorate(amount, period_start=start, period_end=end, on=on) == expected


# --- lifecycle -------------------------------------------------------------------------------------------


def test_starting_a_paid_plan_invoices_the_first_period_with_vat_and_grants_the_allowance() -> None:
    outcome = decide(
        Account("acme"),
        command(wire.Start, "s", plan="team", interval="monthly", seats=3, start_on=date(2026, 1, 31)),
        today=date(2026, 1, 31),
        catalogue=CATALOGUE,
        admins=ADMINS,
    )

    [invoice] = invoices(outcome.effects)
    assert (invoice.subtotal, invoice.vat, invoice.total) == (4500, 945, 5445)  # 3 x 15.00, 21 % VAT
    assert invoice.period_end == date(2026, 2, 28)
    [allowance] = [e for e in outcome.effects if isinstance(e, ev.AllowanceDue)]
    assert (allowance.credits, allowance.granted_on, allowance.expires_on) == (
        Decimal(50),
        date(2026, 1, 31),
        date(2026, 2, 28),
    )


def test_a_business_elsewhere_in_the_eu_with_a_vat_number_is_invoiced_under_reverse_charge() -> None:
    account = replace(
        Account("acme"),
        billing_info=BillingInfo("Acme BV", "Dam 1", "1012", "Amsterdam", "NL", vat_number="NL123456789B01"),
    )

    outcome = decide(
        account, command(wire.Start, plan="team"), today=date(2026, 1, 1), catalogue=CATALOGUE, admins=ADMINS
    )

    [invoice] = invoices(outcome.effects)
    assert (invoice.vat, invoice.total) == (0, 1500)
    assert invoice.vat_note and "Reverse charge" in invoice.vat_note


@pytest.mark.parametrize(
    ("interval", "today", "credit", "charge"),
    [
        ("monthly", date(2026, 11, 1), -4500, 9000),  # upgrade on day 1: the whole period swaps
        ("monthly", date(2026, 11, 16), -2250, 4500),  # mid-period: half
        ("quarterly", date(2026, 12, 1), -8491, 16983),  # 62/92 days of 3 x 42.00 and of 3 x 84.00
    ],
)
def test_an_upgrade_applies_now_with_a_credit_for_the_unused_old_plan_and_a_prorated_charge(
    interval: str, today: date, credit: int, charge: int
) -> None:
    account = started("team", interval, seats=3, on=date(2026, 11, 1))

    account, effects = run(account, command(wire.ChangePlan, plan="business"), today)

    [invoice] = invoices(effects)
    assert [line.amount for line in invoice.lines] == [credit, charge]
    assert account.subscription is not None and account.subscription.plan == "business"


def test_adding_users_applies_at_once_prorated_even_inside_the_last_15_days() -> None:
    account = started("team", "monthly", seats=3, on=date(2026, 11, 1))

    account, effects = run(account, command(wire.ChangeSeats, seats=5), date(2026, 11, 25))

    [invoice] = invoices(effects)
    assert invoice.subtotal == 600  # 2 users x 15.00 x 6/30 days (25 to 30 November)
    assert account.subscription is not None and account.subscription.seats == 5


@pytest.mark.parametrize(
    ("cmd", "today", "refused"),
    [
        (command(wire.ChangePlan, plan="business"), date(2026, 12, 18), True),  # 14 days before the 1 Jan renewal
        (command(wire.ChangePlan, plan="business"), date(2026, 12, 17), False),  # 15 days: still allowed
        (command(wire.ChangeSeats, seats=1), date(2026, 12, 20), True),  # fewer users: a change like any other
        (command(wire.ChangeInterval, interval="annual"), date(2026, 12, 20), True),
        (command(wire.Cancel), date(2026, 12, 31), True),
        (command(wire.ChangeSeats, seats=9), date(2026, 12, 31), False),  # adding users: always
    ],
)
def test_changes_other_than_adding_users_are_refused_within_15_days_of_renewal(
    cmd: Any, today: date, refused: bool
) -> None:
    account = started("team", "quarterly", seats=3, on=date(2026, 10, 1))  # renews on 1 January

    _, effects = run(account, cmd, today)

    is_refused = any(isinstance(e, ev.Refused) and e.reason == "within_15_days_of_renewal" for e in effects)
    assert is_refused == refused


def test_a_downgrade_fewer_seats_and_a_new_billing_period_wait_for_the_renewal() -> None:
    account = started("business", "monthly", seats=5, on=date(2026, 11, 1))
    account, _ = run(account, command(wire.ChangePlan, "c1", plan="team"), date(2026, 11, 5))
    account, _ = run(account, command(wire.ChangeSeats, "c2", seats=2), date(2026, 11, 5))
    account, effects = run(account, command(wire.ChangeInterval, "c3", interval="annual"), date(2026, 11, 5))
    assert invoices(effects) == []
    assert account.subscription is not None and account.subscription.plan == "business"

    renewed = on_day(account, date(2026, 12, 1), CATALOGUE)

    sub = renewed.account.subscription
    assert sub is not None and (sub.plan, sub.seats, sub.interval) == ("team", 2, "annual")
    assert (sub.period_start, sub.period_end) == (date(2026, 12, 1), date(2027, 12, 1))
    [invoice] = invoices(renewed.effects)
    assert invoice.subtotal == 2 * 15000


def test_a_cancelled_subscription_runs_to_its_last_day_can_be_reactivated_and_otherwise_ends() -> None:
    account = started("team", "monthly", on=date(2026, 11, 1))
    account, effects = run(account, command(wire.Cancel, "c1"), date(2026, 11, 10))
    assert [type(e) for e in effects] == [ev.CancellationScheduled]
    reactivated, _ = run(account, command(wire.Reactivate, "c2"), date(2026, 11, 11))
    assert reactivated.subscription is not None and reactivated.subscription.status == "active"

    still = on_day(account, date(2026, 11, 30), CATALOGUE)
    ended = on_day(account, date(2026, 12, 1), CATALOGUE)

    assert still.account.subscription is not None and still.account.subscription.status == "cancelling"
    assert [type(e) for e in ended.effects] == [ev.Ended]
    assert invoices(ended.effects) == []


def test_monthly_allowances_follow_the_start_date_for_annual_plans_and_never_carry_over() -> None:
    account = started("team", "annual", seats=1, on=date(2026, 1, 31))
    grants = []
    for day in (date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)):
        outcome = on_day(account, day, CATALOGUE)
        account = outcome.account
        grants += [(e.granted_on, e.expires_on) for e in outcome.effects if isinstance(e, ev.AllowanceDue)]

    assert grants == [
        (date(2026, 2, 28), date(2026, 3, 31)),
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 4, 30), date(2026, 5, 31)),
    ]
    assert on_day(account, date(2026, 4, 30), CATALOGUE).effects == []  # the same day again: nothing new


def test_catching_up_after_downtime_renews_in_order_and_skips_allowances_already_over() -> None:
    account = started("team", "monthly", seats=1, on=date(2026, 1, 10))

    outcome = on_day(account, date(2026, 4, 12), CATALOGUE)

    renewals = [e.subscription.period_start for e in outcome.effects if isinstance(e, ev.Renewed)]
    assert renewals == [date(2026, 2, 10), date(2026, 3, 10), date(2026, 4, 10)]
    grants = [e.granted_on for e in outcome.effects if isinstance(e, ev.AllowanceDue)]
    assert grants == [date(2026, 4, 10)]


def test_quarterly_and_annual_plans_are_reminded_30_and_15_days_before_renewal_once_each() -> None:
    account = started("team", "annual", on=date(2026, 1, 1))
    seen = []
    for day in (date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 17), date(2026, 12, 18)):
        outcome = on_day(account, day, CATALOGUE)
        account = outcome.account
        seen += [e.days_before for e in outcome.effects if isinstance(e, ev.ReminderDue)]

    assert seen == [30, 15]


def test_month_end_charges_each_user_of_each_app_its_monthly_fee() -> None:
    account, _ = run(
        Account("acme"),
        command(wire.AssignApp, app="inspecteur", users=["ann@acme.example", "bob@acme.example"]),
        date(2026, 11, 3),
    )

    fees = month_end(account, "2026-11", CATALOGUE).effects

    assert [(f.app_code, f.user.user_id, f.amount, f.month) for f in fees] == [
        ("inspecteur", "ann@acme.example", Decimal("2.5"), "2026-11"),
        ("inspecteur", "bob@acme.example", Decimal("2.5"), "2026-11"),
    ]


def test_an_app_user_keeps_a_stable_id_and_is_shown_by_name() -> None:
    users = [wire.AppUser(user_id="plemaire", name="Philippe Lemaire"), "jl@insypro.example"]
    account, _ = run(Account("acme"), command(wire.AssignApp, app="inspecteur", users=users), date(2026, 11, 3))

    fees = month_end(account, "2026-11", CATALOGUE).effects

    assert [(f.user.user_id, f.user.display_name) for f in fees] == [
        ("plemaire", "Philippe Lemaire"),
        ("jl@insypro.example", "jl@insypro.example"),
    ]


@pytest.mark.parametrize(
    ("app", "language", "words"),
    [
        ("inspecteur", "fr", "App d'inspecteur frais mensuels"),
        ("inspecteur", "en", "Inspector app monthly fee"),
        ("workshop", "fr", "Workshopp app coût mensuel"),
        ("planning", "fr", "App de planning frais mensuels"),  # no label in the catalogue: the default words
        ("planning", "en", "App de planning monthly fee"),
    ],
)
def test_a_fee_is_described_by_the_apps_catalogue_name_in_the_tenants_language(
    app: str, language: str, words: str
) -> None:
    assert CATALOGUE.apps[app].fee_description(language) == words


@pytest.mark.parametrize(
    ("card", "refused"),
    [
        (wire.Card(brand="Visa", last4="4242", exp_month=12, exp_year=2028, funding="credit"), False),
        (wire.Card(brand="Visa", last4="4242", exp_month=10, exp_year=2026, funding="credit"), True),  # expired
        (wire.Card(brand="Visa", last4="4242", exp_month=11, exp_year=2026, funding="debit"), False),  # this month
        (wire.Card(brand="Visa", last4="0000", exp_month=12, exp_year=2028, funding="prepaid"), True),
    ],
)
def test_expired_and_prepaid_cards_are_refused(card: wire.Card, refused: bool) -> None:
    _, effects = run(Account("acme"), command(wire.SetPaymentMethod, method="card", card=card), date(2026, 11, 22))

    assert any(isinstance(e, ev.Refused) for e in effects) == refused


def test_only_an_admin_may_change_the_subscription() -> None:
    cmd = wire.Start(
        command_id="s",
        tenant_id="acme",
        issued_at=datetime(2026, 1, 1, tzinfo=UTC),
        by="member@acme.example",
        plan="team",
    )

    _, effects = run(Account("acme"), cmd, date(2026, 1, 1))

    assert [e.reason for e in effects if isinstance(e, ev.Refused)] == ["not_an_admin"]


# --- what a new user hit ----------------------------------------------------------------------------------


def test_two_paid_changes_on_one_day_are_two_invoices_each_named_after_its_command() -> None:
    account = started("free", "monthly", seats=1, on=date(2026, 11, 21))
    account, first = run(account, command(wire.ChangePlan, "up-1", plan="team"), date(2026, 12, 1))
    account, second = run(account, command(wire.ChangePlan, "up-2", plan="business"), date(2026, 12, 1))
    account, addon = run(
        account, command(wire.ChangeAddOn, "addon-1", addon="reunion-client", plan="beyond", seats=1), date(2026, 12, 1)
    )
    account, more = run(
        account, command(wire.ChangeSeats, "addon-2", addon="reunion-client", seats=2), date(2026, 12, 1)
    )

    ids = [i.invoice_id for i in invoices(first + second + addon + more)]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert [i.split(":")[-1] for i in ids] == ["up-1", "up-2", "addon-1", "addon-2"]


def test_the_same_command_applied_again_drafts_the_same_invoice_id() -> None:
    account = started("team", "monthly", seats=3, on=date(2026, 11, 1))
    cmd = command(wire.ChangeSeats, "seats-1", seats=4)

    _, once = run(account, cmd, date(2026, 11, 10))
    _, again = run(account, cmd, date(2026, 11, 10))

    assert [i.invoice_id for i in invoices(once)] == [i.invoice_id for i in invoices(again)]


@pytest.mark.parametrize(
    ("today", "interval", "seats", "period", "subtotal"),
    [
        # monthly from free keeps the billing day (21st) and is prorated to it, even 2 days before it
        (date(2026, 12, 19), None, 3, (date(2026, 11, 21), date(2026, 12, 21)), 300),  # 3 x 15.00 x 2/30
        (date(2026, 11, 21), "monthly", 1, (date(2026, 11, 21), date(2026, 12, 21)), 1500),  # the whole month
        # quarterly or annual from free starts that period on the day of the upgrade, invoiced in full
        (date(2026, 12, 19), "annual", 3, (date(2026, 12, 19), date(2027, 12, 19)), 45000),
        (date(2026, 12, 10), "quarterly", 2, (date(2026, 12, 10), date(2027, 3, 10)), 8400),
    ],
)
def test_a_free_account_upgrades_on_any_day_monthly_at_its_billing_day_or_a_longer_period_from_the_day(
    today: date, interval: str | None, seats: int, period: tuple[date, date], subtotal: int
) -> None:
    account = started("free", "monthly", seats=1, on=date(2026, 11, 21))

    account, effects = run(account, command(wire.ChangePlan, plan="team", interval=interval, seats=seats), today)

    assert not [e for e in effects if isinstance(e, ev.Refused)]
    sub = account.subscription
    assert sub is not None and (sub.plan, sub.seats, sub.interval) == ("team", seats, interval or "monthly")
    assert (sub.period_start, sub.period_end) == period
    [invoice] = invoices(effects)
    assert invoice.subtotal == subtotal


def test_an_annual_period_chosen_while_free_applies_with_the_upgrade() -> None:
    account = started("free", "monthly", seats=1, on=date(2026, 11, 21))
    account, _ = run(account, command(wire.ChangeInterval, "c1", interval="annual"), date(2026, 11, 25))

    account, effects = run(account, command(wire.ChangePlan, "c2", plan="team"), date(2026, 11, 25))

    sub = account.subscription
    assert sub is not None and (sub.interval, sub.period_start, sub.period_end) == (
        "annual",
        date(2026, 11, 25),
        date(2027, 11, 25),
    )
    [invoice] = invoices(effects)
    assert invoice.subtotal == 15000


def test_a_paid_plan_is_still_held_to_the_15_day_rule() -> None:
    account = started("team", "monthly", seats=1, on=date(2026, 11, 21))

    _, effects = run(account, command(wire.ChangePlan, plan="business", interval="annual"), date(2026, 12, 10))

    assert [(type(e), e.reason) for e in effects if isinstance(e, ev.Refused)] == [
        (ev.Refused, "within_15_days_of_renewal")
    ]


def test_an_invoice_records_the_seller_and_the_buyer_as_they_were_on_the_day_of_issue() -> None:
    info = BillingInfo("Acme SA", "Rue Neuve 1", "1000", "Bruxelles", "BE", vat_number="BE0999999999")
    account = replace(Account("acme"), billing_info=info)

    outcome = decide(
        account, command(wire.Start, plan="team"), today=date(2026, 1, 1), catalogue=CATALOGUE, admins=ADMINS
    )

    [invoice] = invoices(outcome.effects)
    assert (invoice.seller, invoice.buyer) == (CATALOGUE.seller, info)


def test_the_last_day_of_access_is_the_day_before_the_renewal() -> None:
    account = started("team", "monthly", on=date(2026, 11, 21))

    account, [scheduled] = run(account, command(wire.Cancel), date(2026, 11, 25))

    assert isinstance(scheduled, ev.CancellationScheduled)
    assert scheduled.subscription.last_day == date(2026, 12, 20)
    ended = on_day(account, date(2026, 12, 21), CATALOGUE)
    assert [e.last_day_of_access for e in ended.effects if isinstance(e, ev.Ended)] == [date(2026, 12, 20)]


def test_a_user_given_an_app_after_a_month_ended_owes_nothing_for_that_month_even_if_its_tick_comes_late() -> None:
    account, _ = run(Account("acme"), command(wire.AssignApp, "a1", app="inspecteur", users=["ann"]), date(2026, 12, 3))
    account, _ = run(account, command(wire.AssignApp, "a2", app="inspecteur", users=["ann", "bob"]), date(2027, 1, 5))

    november = month_end(account, "2026-11", CATALOGUE).effects
    december = month_end(account, "2026-12", CATALOGUE).effects
    january = month_end(account, "2027-01", CATALOGUE).effects

    assert november == []
    assert [f.user.user_id for f in december] == ["ann"]  # assigned again in January: still since 3 December
    assert [f.user.user_id for f in january] == ["ann", "bob"]


# --- what a day tick must look at ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    plan=st.sampled_from(["free", "team", "business", "enterprise"]),
    interval=st.sampled_from(["monthly", "quarterly", "annual"]),
    start=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    cancel_after=st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
    reactivate_after=st.one_of(st.none(), st.integers(min_value=1, max_value=60)),
)
def test_before_its_next_due_day_a_day_tick_changes_nothing_for_an_account_and_on_that_day_it_does(
    plan: str, interval: str, start: date, cancel_after: int | None, reactivate_after: int | None
) -> None:
    """The day tick reads only the accounts whose `next_due` has come: so no day before it may have anything to
    do, and the day itself must (or the account would be read every day for nothing)."""
    account = started(plan, interval, seats=2, on=start)
    if account.subscription is None:
        return  # a plan this interval does not offer
    day = start
    for n in range(460):
        if n == cancel_after:
            account, _ = run(account, command(wire.Cancel, f"cancel-{n}"), day)
        if cancel_after is not None and reactivate_after is not None and n == cancel_after + reactivate_after:
            account, _ = run(account, command(wire.Reactivate, f"reactivate-{n}"), day)
        due = next_due(account)
        outcome = on_day(account, day, CATALOGUE)
        quiet = outcome.account == account and not outcome.effects
        assert quiet == (due is None or day < due), f"{day}: next due {due}, effects {outcome.effects}"
        account = outcome.account
        day += timedelta(days=1)
