"""Pure subscription rules: an account, a command or a tick, and the catalogue in; the new account and its
effects (events, invoices, allowance grants, fees) out. No I/O; the day is passed in.

The 15-day rule (Teamleader): changes other than adding users must be made at least 15 days before the
renewal. Upgrades and added seats or add-ons apply at once, prorated by day; downgrades, fewer seats, a new
billing period and removed add-ons wait for the renewal. A cancelled subscription stays active to the end
of its period (its last day is the day before the renewal), and can be reactivated until then.
"""

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from schemas import subscriptions as wire

from .calendar import add_months, months_between, prorate
from .catalogue import INTERVAL_MONTHS, Catalogue, Plan
from .events import (
    AllowanceDue,
    CancellationScheduled,
    Effect,
    Ended,
    FeeDue,
    InvoiceDrafted,
    PlanChanged,
    Reactivated,
    Refused,
    ReminderDue,
    Renewed,
    Started,
)
from .model import (
    Account,
    AddOnState,
    AppUser,
    BillingInfo,
    Invoice,
    InvoiceLine,
    InvoiceReason,
    PaymentMethod,
    Pending,
    Subscription,
)

NOTICE_DAYS = 15
REMINDER_DAYS = (30, 15)
PAYMENT_TERMS = timedelta(days=14)
_VAT_NUMBER = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")
REVERSE_CHARGE = "Reverse charge: VAT to be accounted for by the customer (Art. 196 Directive 2006/112/EC)."


@dataclass(frozen=True)
class Outcome:
    account: Account
    effects: list[Effect]

    @property
    def invoices(self) -> list[Invoice]:
        return [e.invoice for e in self.effects if isinstance(e, InvoiceDrafted)]


def _refuse(account: Account, reason: str, detail: str) -> Outcome:
    return Outcome(account, [Refused(reason, detail)])


def _vat(account: Account, catalogue: Catalogue, subtotal: int) -> tuple[Decimal, int, str | None]:
    """The seller's VAT rate, or 0 under reverse charge for a business elsewhere with a VAT number."""
    info, seller = account.billing_info, catalogue.seller
    if info is not None and info.vat_number and info.country != seller.country:
        return Decimal(0), 0, REVERSE_CHARGE
    rate = seller.vat_rate
    vat = (subtotal * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return rate, int(vat), None


def _invoice(
    account: Account,
    sub: Subscription,
    catalogue: Catalogue,
    *,
    reason: InvoiceReason,
    key: str,
    lines: list[InvoiceLine],
    on: date,
) -> Invoice | None:
    subtotal = sum(line.amount for line in lines)
    if subtotal <= 0:
        return None
    rate, vat, note = _vat(account, catalogue, subtotal)
    return Invoice(
        invoice_id=f"inv:{sub.subscription_id}:{reason}:{key}",
        tenant_id=account.tenant_id,
        subscription_id=sub.subscription_id,
        plan_name=catalogue.plans[sub.plan].name,
        reason=reason,
        lines=tuple(lines),
        subtotal=subtotal,
        vat_rate=rate,
        vat=vat,
        total=subtotal + vat,
        issued_on=on,
        due_on=on + PAYMENT_TERMS,
        period_start=sub.period_start,
        period_end=sub.period_end,
        vat_note=note,
        seller=catalogue.seller,
        buyer=account.billing_info,
    )


def _addon_plan(catalogue: Catalogue, choice: AddOnState) -> Plan:
    return catalogue.addons[choice.addon].plans[choice.plan]


def period_lines(sub: Subscription, catalogue: Catalogue) -> list[InvoiceLine]:
    """A whole period: the plan (per seat or flat) and each add-on, at the subscription's interval."""
    plan = catalogue.plans[sub.plan]
    seats = f" x {sub.seats} users" if plan.per_seat else ""
    span = f"{sub.period_start.isoformat()} - {(sub.period_end - timedelta(days=1)).isoformat()}"
    lines = [InvoiceLine(f"{plan.name} ({sub.interval}){seats}, {span}", plan.price(sub.interval, sub.seats))]
    for choice in sub.addons:
        addon_plan = _addon_plan(catalogue, choice)
        addon_seats = f" x {choice.seats} users" if addon_plan.per_seat else ""
        name = catalogue.addons[choice.addon].name
        lines.append(
            InvoiceLine(f"{name} {addon_plan.name}{addon_seats}, {span}", addon_plan.price(sub.interval, choice.seats))
        )
    return lines


def renewal_amount(sub: Subscription, catalogue: Catalogue) -> int:
    """What the next period will cost, scheduled changes included (before VAT)."""
    nxt = _apply_pending(sub)
    return sum(line.amount for line in period_lines(nxt, catalogue))


def _apply_pending(sub: Subscription) -> Subscription:
    p = sub.pending
    return replace(
        sub,
        plan=p.plan or sub.plan,
        seats=p.seats or sub.seats,
        interval=p.interval or sub.interval,
        addons=p.addons if p.addons is not None else sub.addons,
        pending=Pending(),
    )


def _prorated(amount: int, sub: Subscription, on: date) -> int:
    return prorate(amount, period_start=sub.period_start, period_end=sub.period_end, on=on)


def _days_note(sub: Subscription, on: date) -> str:
    return f"{(sub.period_end - on).days}/{(sub.period_end - sub.period_start).days} days"


# --- commands --------------------------------------------------------------------------------------------


def decide(
    account: Account, command: Any, *, today: date, catalogue: Catalogue, admins: frozenset[str] | None
) -> Outcome:
    """Apply one subscription command on `today`."""
    if admins is None:
        return _refuse(account, "not_an_admin", f"no tenant {account.tenant_id!r}")
    if command.by is not None and command.by.lower() not in admins:
        return _refuse(account, "not_an_admin", f"{command.by} is not an admin of the tenant")
    match command:
        case wire.Start():
            return _start(account, command, today, catalogue)
        case wire.SetBillingInfo():
            return _billing_info(account, command)
        case wire.SetPaymentMethod():
            return _payment_method(account, command, today)
        case wire.AssignApp():
            if command.app not in catalogue.apps:
                return _refuse(account, "unknown_app", f"no app {command.app!r} in the catalogue")
            apps = dict(account.apps)
            known = {u.user_id: u for u in apps.get(command.app, ())}
            users = (u if isinstance(u, wire.AppUser) else wire.AppUser(user_id=u) for u in command.users)
            apps[command.app] = tuple(
                {
                    u.user_id: AppUser(u.user_id, u.name, known[u.user_id].since if u.user_id in known else today)
                    for u in users
                }.values()
            )
            kept = tuple(sorted((a, u) for a, u in apps.items() if u))
            return Outcome(replace(account, apps=kept), [])
    sub = account.subscription
    if sub is None or sub.status == "ended":
        return _refuse(account, "no_subscription", "the tenant has no active subscription")
    match command:
        case wire.Reactivate():
            if sub.status != "cancelling":
                return _refuse(account, "not_cancelled", "only a cancelled subscription can be reactivated")
            sub = replace(sub, status="active")
            return Outcome(replace(account, subscription=sub), [Reactivated(sub)])
        case wire.ChangeSeats() if command.addon is None and command.seats > sub.seats:
            return _more_seats(account, sub, command.seats, today, catalogue, key=command.command_id)
        case wire.ChangePlan() if is_free(sub, catalogue) and sub.status == "active":
            return _leave_free(account, sub, command, today, catalogue)
    if sub.status != "active":
        return _refuse(account, "not_active", "the subscription is cancelled; reactivate it first")
    days_left = (sub.period_end - today).days
    if days_left < NOTICE_DAYS:
        return _refuse(
            account,
            "within_15_days_of_renewal",
            f"the renewal is on {sub.period_end.isoformat()}, {days_left} days away: changes other than adding "
            f"users must be made at least {NOTICE_DAYS} days before it",
        )
    match command:
        case wire.ChangePlan():
            return _change_plan(account, sub, command, today, catalogue)
        case wire.ChangeSeats():
            return _fewer_seats_or_addon_seats(account, sub, command, today, catalogue)
        case wire.ChangeInterval():
            if command.interval == (sub.pending.interval or sub.interval):
                return _refuse(account, "same_plan", f"the billing period is already {command.interval}")
            return _scheduled(account, sub, replace(sub.pending, interval=command.interval))
        case wire.ChangeAddOn():
            return _change_addon(account, sub, command, today, catalogue)
        case wire.Cancel():
            sub = replace(sub, status="cancelling")
            return Outcome(replace(account, subscription=sub), [CancellationScheduled(sub)])
    raise TypeError(f"not a subscription command: {type(command).__name__}")


def _start(account: Account, command: wire.Start, today: date, catalogue: Catalogue) -> Outcome:
    if account.subscription is not None and account.subscription.status != "ended":
        return _refuse(account, "already_subscribed", "the tenant already has a subscription; change its plan")
    if command.plan not in catalogue.plans:
        return _refuse(account, "unknown_plan", f"no plan {command.plan!r} in the catalogue")
    addons = tuple(AddOnState(a.addon, a.plan, a.seats) for a in command.addons)
    for choice in addons:
        if choice.addon not in catalogue.addons or choice.plan not in catalogue.addons[choice.addon].plans:
            return _refuse(account, "unknown_addon", f"no add-on plan {choice.addon}/{choice.plan}")
    start = command.start_on or today
    sub = Subscription(
        subscription_id=f"{account.tenant_id}:{command.command_id}",
        plan=command.plan,
        interval=command.interval,
        seats=command.seats,
        anchor=start,
        period_start=start,
        period_end=add_months(start, INTERVAL_MONTHS[command.interval]),
        addons=addons,
    )
    account = replace(account, subscription=sub)
    effects: list[Effect] = [Started(sub)]
    invoice = _invoice(
        account, sub, catalogue, reason="start", key=start.isoformat(), lines=period_lines(sub, catalogue), on=today
    )
    if invoice is not None:
        effects.append(InvoiceDrafted(invoice))
    outcome = _allowances(account, today, catalogue)
    return Outcome(outcome.account, effects + outcome.effects)


def _scheduled(account: Account, sub: Subscription, pending: Pending) -> Outcome:
    sub = replace(sub, pending=pending)
    nxt = _apply_pending(sub)
    event = PlanChanged(sub, sub.plan, sub.seats, nxt.plan, nxt.seats, nxt.interval, sub.period_end, scheduled=True)
    return Outcome(replace(account, subscription=sub), [event])


def is_free(sub: Subscription, catalogue: Catalogue) -> bool:
    """A plan that costs nothing in any billing period (Free): leaving it is allowed on any day."""
    plan = catalogue.plans[sub.plan]
    return all(price == 0 for price in plan.prices.values()) and not sub.addons


def _leave_free(
    account: Account, sub: Subscription, command: wire.ChangePlan, today: date, catalogue: Catalogue
) -> Outcome:
    """Upgrading a free account, on any day (the 15-day rule protects a paid renewal, not the free month).
    Staying monthly keeps the billing day and is prorated to it like any upgrade; quarterly or annual starts
    that period on the day of the upgrade, invoiced in full."""
    code = command.plan
    if code not in catalogue.plans:
        return _refuse(account, "unknown_plan", f"no plan {code!r} in the catalogue")
    new = catalogue.plans[code]
    if new.rank <= catalogue.plans[sub.plan].rank:
        return _refuse(account, "same_plan", f"the plan is already {sub.plan}; choose a paid plan to upgrade")
    interval = command.interval or sub.pending.interval or sub.interval
    seats = command.seats or sub.seats
    key = command.command_id
    if interval == sub.interval == "monthly":
        upgraded = replace(sub, plan=code, seats=seats, pending=Pending())
        note = _days_note(sub, today)
        seats_note = f" x {seats} users" if new.per_seat else ""
        lines = [InvoiceLine(f"{new.name}{seats_note} ({note})", _prorated(new.price(interval, seats), sub, today))]
        effective = today
    else:
        upgraded = replace(
            sub,
            plan=code,
            seats=seats,
            interval=interval,
            anchor=today,
            period_start=today,
            period_end=add_months(today, INTERVAL_MONTHS[interval]),
            pending=Pending(),
            allowance_months=0,
            reminded=(),
        )
        lines = period_lines(upgraded, catalogue)
        effective = today
    account = replace(account, subscription=upgraded)
    effects: list[Effect] = [
        PlanChanged(upgraded, sub.plan, sub.seats, code, seats, interval, effective, scheduled=False)
    ]
    invoice = _invoice(account, upgraded, catalogue, reason="upgrade", key=key, lines=lines, on=today)
    if invoice is not None:
        effects.append(InvoiceDrafted(invoice))
    outcome = _allowances(account, today, catalogue)
    return Outcome(outcome.account, effects + outcome.effects)


def _change_plan(
    account: Account, sub: Subscription, command: wire.ChangePlan, today: date, catalogue: Catalogue
) -> Outcome:
    """The plan (an upgrade now, prorated; a downgrade at the renewal), then the users and the billing period
    if the command names them, each as its own command would."""
    unchanged_terms = command.seats in (None, sub.seats) and command.interval in (None, sub.interval)
    if command.plan == sub.plan and sub.pending.plan is None and unchanged_terms:
        return _refuse(account, "same_plan", f"the plan is already {command.plan}")
    outcome = _plan_only(account, sub, command.plan, today, catalogue, key=command.command_id)
    if command.seats is not None and command.seats != sub.seats and not _refused(outcome):
        current = outcome.account.subscription
        assert current is not None
        if command.seats > current.seats:
            step = _more_seats(outcome.account, current, command.seats, today, catalogue, key=command.command_id)
        else:
            step = _scheduled(outcome.account, current, replace(current.pending, seats=command.seats))
        outcome = Outcome(step.account, outcome.effects + step.effects)
    if command.interval is not None and command.interval != sub.interval and not _refused(outcome):
        current = outcome.account.subscription
        assert current is not None
        step = _scheduled(outcome.account, current, replace(current.pending, interval=command.interval))
        outcome = Outcome(step.account, outcome.effects + step.effects)
    return outcome


def _refused(outcome: Outcome) -> bool:
    return any(isinstance(e, Refused) for e in outcome.effects)


def _plan_only(
    account: Account, sub: Subscription, code: str, today: date, catalogue: Catalogue, *, key: str
) -> Outcome:
    if code not in catalogue.plans:
        return _refuse(account, "unknown_plan", f"no plan {code!r} in the catalogue")
    if code == sub.plan and sub.pending.plan is None:
        return Outcome(account, [])
    old, new = catalogue.plans[sub.plan], catalogue.plans[code]
    if new.rank <= old.rank:  # a downgrade (or undoing a scheduled one) waits for the renewal
        return _scheduled(account, sub, replace(sub.pending, plan=None if code == sub.plan else code))
    upgraded = replace(sub, plan=code, pending=replace(sub.pending, plan=None))
    note = _days_note(sub, today)
    lines = [
        InvoiceLine(f"Unused {old.name} ({note})", -_prorated(old.price(sub.interval, sub.seats), sub, today)),
        InvoiceLine(f"{new.name} ({note})", _prorated(new.price(sub.interval, sub.seats), sub, today)),
    ]
    account = replace(account, subscription=upgraded)
    effects: list[Effect] = [
        PlanChanged(upgraded, sub.plan, sub.seats, code, sub.seats, sub.interval, today, scheduled=False)
    ]
    invoice = _invoice(account, upgraded, catalogue, reason="upgrade", key=key, lines=lines, on=today)
    if invoice is not None:
        effects.append(InvoiceDrafted(invoice))
    return Outcome(account, effects)


def _more_seats(
    account: Account, sub: Subscription, seats: int, today: date, catalogue: Catalogue, *, key: str
) -> Outcome:
    """Adding users is allowed at any time and applies at once, prorated for the rest of the period."""
    plan = catalogue.plans[sub.plan]
    added = seats - sub.seats
    grown = replace(sub, seats=seats, pending=replace(sub.pending, seats=None))
    account = replace(account, subscription=grown)
    effects: list[Effect] = [
        PlanChanged(grown, sub.plan, sub.seats, sub.plan, seats, sub.interval, today, scheduled=False)
    ]
    if plan.per_seat:
        line = InvoiceLine(
            f"{plan.name} + {added} users ({_days_note(sub, today)})",
            _prorated(plan.price(sub.interval, added), sub, today),
        )
        invoice = _invoice(account, grown, catalogue, reason="seats", key=key, lines=[line], on=today)
        if invoice is not None:
            effects.append(InvoiceDrafted(invoice))
    return Outcome(account, effects)


def _fewer_seats_or_addon_seats(
    account: Account, sub: Subscription, command: wire.ChangeSeats, today: date, catalogue: Catalogue
) -> Outcome:
    if command.addon is None:
        if command.seats == sub.seats:
            return _scheduled(account, sub, replace(sub.pending, seats=None))
        return _scheduled(account, sub, replace(sub.pending, seats=command.seats))
    current = next((a for a in sub.addons if a.addon == command.addon), None)
    if current is None:
        return _refuse(account, "unknown_addon", f"the subscription has no add-on {command.addon!r}")
    wire_change = wire.ChangeAddOn(
        command_id=command.command_id,
        tenant_id=command.tenant_id,
        issued_at=command.issued_at,
        by=command.by,
        addon=command.addon,
        plan=current.plan,
        seats=command.seats,
    )
    return _change_addon(account, sub, wire_change, today, catalogue)


def _change_addon(
    account: Account, sub: Subscription, command: wire.ChangeAddOn, today: date, catalogue: Catalogue
) -> Outcome:
    addon = catalogue.addons.get(command.addon)
    if addon is None or (command.plan is not None and command.plan not in addon.plans):
        return _refuse(account, "unknown_addon", f"no add-on plan {command.addon}/{command.plan}")
    current = next((a for a in sub.addons if a.addon == command.addon), None)
    others = tuple(a for a in sub.addons if a.addon != command.addon)
    if command.plan is None:  # removal: at the renewal
        if current is None:
            return _refuse(account, "unknown_addon", f"the subscription has no add-on {command.addon!r}")
        return _scheduled(account, sub, replace(sub.pending, addons=others))
    wanted = AddOnState(command.addon, command.plan, command.seats)
    new_plan = addon.plans[command.plan]
    old_price = _addon_plan(catalogue, current).price(sub.interval, current.seats) if current else 0
    new_price = new_plan.price(sub.interval, wanted.seats)
    if new_price <= old_price:  # cheaper: at the renewal
        return _scheduled(account, sub, replace(sub.pending, addons=(*others, wanted)))
    changed = replace(sub, addons=(*others, wanted))
    account = replace(account, subscription=changed)
    note = _days_note(sub, today)
    lines = [InvoiceLine(f"{addon.name} {new_plan.name} ({note})", _prorated(new_price, sub, today))]
    if current is not None:
        lines.insert(0, InvoiceLine(f"Unused {addon.name} ({note})", -_prorated(old_price, sub, today)))
    effects: list[Effect] = [
        PlanChanged(changed, sub.plan, sub.seats, sub.plan, sub.seats, sub.interval, today, scheduled=False)
    ]
    invoice = _invoice(account, changed, catalogue, reason="addon", key=command.command_id, lines=lines, on=today)
    if invoice is not None:
        effects.append(InvoiceDrafted(invoice))
    return Outcome(account, effects)


def _billing_info(account: Account, command: wire.SetBillingInfo) -> Outcome:
    info = command.billing_info
    vat = info.vat_number.replace(" ", "").replace(".", "").upper() if info.vat_number else None
    if vat is not None and (not _VAT_NUMBER.match(vat) or not vat.startswith(info.country)):
        return _refuse(account, "billing_info_invalid", f"{info.vat_number!r} is not a {info.country} VAT number")
    billing = BillingInfo(
        info.company_name,
        info.address_line1,
        info.postal_code,
        info.city,
        info.country,
        info.address_line2,
        vat,
        info.email,
    )
    return Outcome(replace(account, billing_info=billing), [])


def _payment_method(account: Account, command: wire.SetPaymentMethod, today: date) -> Outcome:
    if command.method == "card":
        card = command.card
        if card is None:
            return _refuse(account, "payment_method_refused", "card details are missing")
        if card.funding == "prepaid":
            return _refuse(account, "payment_method_refused", "prepaid cards are not accepted")
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            return _refuse(
                account, "payment_method_refused", f"the card expired in {card.exp_month:02d}/{card.exp_year}"
            )
        label = f"{card.brand} **** {card.last4} ({card.exp_month:02d}/{card.exp_year})"
    else:
        if command.iban_last4 is None:
            return _refuse(account, "payment_method_refused", "a SEPA mandate needs the IBAN's last four characters")
        label = f"SEPA **** {command.iban_last4}"
    method = PaymentMethod(command.method, label, command.provider_reference)
    return Outcome(replace(account, payment_method=method), [])


# --- ticks -------------------------------------------------------------------------------------------------


def next_due(account: Account) -> date | None:
    """The first day on which `on_day` has something to do (a renewal or the end of a cancelled subscription,
    a monthly allowance, a renewal reminder), or None if it never will. Before that day, `on_day` changes
    nothing: a day tick need not look at the account."""
    sub = account.subscription
    if sub is None or sub.status == "ended":
        return None
    due = min(sub.period_end, add_months(sub.anchor, sub.allowance_months))
    unreminded = [d for d in REMINDER_DAYS if d not in sub.reminded]
    if sub.status == "active" and INTERVAL_MONTHS[sub.interval] > 1 and unreminded:
        due = min(due, sub.period_end - timedelta(days=max(unreminded)))
    return due


def on_day(account: Account, day: date, catalogue: Catalogue) -> Outcome:
    """Everything due by `day`, in order: renewals (or the end of a cancelled subscription), monthly
    allowances and renewal reminders. Catching up several days at once gives the same result."""
    sub = account.subscription
    if sub is None or sub.status == "ended":
        return Outcome(account, [])
    effects: list[Effect] = []
    while sub.period_end <= day:
        # allowances of the ending period first, so that they come in date order
        before = _allowances(
            replace(account, subscription=sub), sub.period_end - timedelta(days=1), catalogue, today=day
        )
        sub = before.account.subscription or sub
        effects += before.effects
        if sub.status == "cancelling":
            sub = replace(sub, status="ended")
            effects.append(Ended(sub, sub.last_day))
            return Outcome(replace(account, subscription=sub), effects)
        renewed = _apply_pending(sub)
        start = sub.period_end
        months = months_between(sub.anchor, start) + INTERVAL_MONTHS[renewed.interval]
        sub = replace(renewed, period_start=start, period_end=add_months(sub.anchor, months), reminded=())
        effects.append(Renewed(sub))
        account = replace(account, subscription=sub)
        invoice = _invoice(
            account,
            sub,
            catalogue,
            reason="renewal",
            key=start.isoformat(),
            lines=period_lines(sub, catalogue),
            on=start,
        )
        if invoice is not None:
            effects.append(InvoiceDrafted(invoice))
    outcome = _allowances(replace(account, subscription=sub), day, catalogue)
    account, effects = outcome.account, effects + outcome.effects
    sub = account.subscription
    assert sub is not None
    if sub.status == "active" and INTERVAL_MONTHS[sub.interval] > 1:
        days_left = (sub.period_end - day).days
        due = [d for d in REMINDER_DAYS if days_left <= d and d not in sub.reminded]
        if due:
            effects.append(ReminderDue(sub, days_left, renewal_amount(sub, catalogue)))
            sub = replace(sub, reminded=tuple(sorted({*sub.reminded, *due})))
            account = replace(account, subscription=sub)
    return Outcome(account, effects)


def _allowances(account: Account, day: date, catalogue: Catalogue, *, today: date | None = None) -> Outcome:
    """The plan's included credits on each monthly anniversary up to `day`, as a bucket expiring at the next
    one. An anniversary whose month is already over by `today` is skipped (it would expire at once)."""
    today = today or day
    sub = account.subscription
    if sub is None or sub.status == "ended":
        return Outcome(account, [])
    effects: list[Effect] = []
    months = sub.allowance_months
    credits = catalogue.plans[sub.plan].included_credits
    while (granted_on := add_months(sub.anchor, months)) <= day:
        expires_on = add_months(sub.anchor, months + 1)
        if credits > 0 and expires_on > today:
            effects.append(AllowanceDue(sub.subscription_id, credits, granted_on, expires_on))
        months += 1
    if months == sub.allowance_months:
        return Outcome(account, [])
    return Outcome(replace(account, subscription=replace(sub, allowance_months=months)), effects)


def month_end(account: Account, month: str, catalogue: Catalogue) -> Outcome:
    """One fee per user of each app for `month` (YYYY-MM), debited from credits; a user given the app after the
    month ended (a late month-end tick) owes nothing for it."""
    year, number = (int(x) for x in month.split("-"))
    last_day = add_months(date(year, number, 1), 1) - timedelta(days=1)
    effects: list[Effect] = []
    for code, users in account.apps:
        app = catalogue.apps.get(code)
        if app is None:
            continue
        effects += [FeeDue(code, app, user, month) for user in users if user.since is None or user.since <= last_day]
    return Outcome(account, effects)
