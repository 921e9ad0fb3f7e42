"""Read models as plain data: what the CLI prints (text or `--json`) and what the HTTP API returns. Every view is
made of dicts, lists, strings, numbers, booleans and None only, so `json.dumps` needs no `default=`.

Dates: a period is shown by its first and last day, both inclusive; `renews_on` is the first day of the next
period; `last_day_of_access` is the last day a cancelled subscription can still be used, inclusive."""

from decimal import Decimal
from typing import Any

from schemas.money import display
from services.subscriptions.domain.catalogue import Catalogue
from services.subscriptions.domain.model import Account, AddOnState, Invoice
from services.subscriptions.domain.rules import renewal_amount
from services.wallet.domain.describe import Language, describe
from services.wallet.domain.model import LedgerEntry, Wallet, draw_order

JSON = dict[str, Any]


def euros(cents: int) -> str:
    """Cents as a plain decimal string of euros: 4500 -> "45.00"."""
    return f"{Decimal(cents) / 100:.2f}"


def _addon(choice: AddOnState, catalogue: Catalogue | None) -> JSON:
    addon = catalogue.addons.get(choice.addon) if catalogue else None
    plan = addon.plans.get(choice.plan) if addon else None
    return {
        "addon": choice.addon,
        "name": addon.name if addon else choice.addon,
        "plan": choice.plan,
        "plan_name": plan.name if plan else choice.plan,
        "seats": choice.seats,
    }


def plan_view(account: Account, catalogue: Catalogue | None) -> JSON:
    """The subscription (or that there is none), its period, what is scheduled, the next invoice and the apps."""
    apps = [
        {
            "app": code,
            "name": catalogue.apps[code].name if catalogue and code in catalogue.apps else code,
            "users": [{"user_id": u.user_id, "name": u.display_name} for u in users],
        }
        for code, users in account.apps
    ]
    view: JSON = {
        "tenant_id": account.tenant_id,
        "subscription": None,
        "payment_method": account.payment_method.label if account.payment_method else None,
        "apps": apps,
    }
    sub = account.subscription
    if sub is None or sub.status == "ended":
        return view
    plan = catalogue.plans.get(sub.plan) if catalogue else None
    pending = sub.pending
    scheduled: JSON = {}
    if pending.plan is not None:
        scheduled["plan"] = pending.plan
    if pending.seats is not None:
        scheduled["seats"] = pending.seats
    if pending.interval is not None:
        scheduled["interval"] = pending.interval
    if pending.addons is not None:
        scheduled["addons"] = [_addon(a, catalogue) for a in pending.addons]
    active = sub.status == "active"
    view["subscription"] = {
        "subscription_id": sub.subscription_id,
        "plan": sub.plan,
        "plan_name": plan.name if plan else sub.plan,
        "status": sub.status,
        "interval": sub.interval,
        "seats": sub.seats,
        "addons": [_addon(a, catalogue) for a in sub.addons],
        "current_period": {"first_day": sub.period_start.isoformat(), "last_day": sub.last_day.isoformat()},
        "renews_on": sub.period_end.isoformat() if active else None,
        "last_day_of_access": None if active else sub.last_day.isoformat(),
        "scheduled": scheduled,
        "scheduled_on": sub.period_end.isoformat() if scheduled else None,
        "next_invoice": {
            "on": sub.period_end.isoformat(),
            "amount_before_vat_eur": euros(renewal_amount(sub, catalogue)),
        }
        if active and catalogue is not None
        else None,
    }
    return view


def plan_text(view: JSON) -> list[str]:
    lines = [f"tenant: {view['tenant_id']}"]
    sub = view["subscription"]
    if sub is None:
        lines.append("plan: none (no subscription)")
    else:
        period = sub["current_period"]
        lines += [
            f"plan: {sub['plan_name']} ({sub['plan']}), {sub['interval']}, {sub['seats']} user(s)",
            f"status: {sub['status']}",
            f"current period: {period['first_day']} to {period['last_day']} (both days included)",
        ]
        if sub["renews_on"]:
            lines.append(f"renews on: {sub['renews_on']}")
        if sub["last_day_of_access"]:
            lines.append(f"last day of access: {sub['last_day_of_access']} (included)")
        for addon in sub["addons"]:
            lines.append(f"add-on: {addon['name']} {addon['plan_name']}, {addon['seats']} user(s)")
        if sub["scheduled"]:
            changes = ", ".join(
                f"{k} {v}"
                if k != "addons"
                else "add-ons " + (", ".join(f"{a['name']} {a['plan_name']} x{a['seats']}" for a in v) or "none")
                for k, v in sub["scheduled"].items()
            )
            lines.append(f"scheduled for {sub['scheduled_on']}: {changes}")
        if sub["next_invoice"]:
            nxt = sub["next_invoice"]
            lines.append(f"next invoice: {nxt['on']}, {nxt['amount_before_vat_eur']} EUR before VAT")
    if view["payment_method"]:
        lines.append(f"payment method: {view['payment_method']}")
    for app in view["apps"]:
        lines.append(f"app {app['name']} ({app['app']}): {', '.join(u['name'] for u in app['users'])}")
    return lines


def wallet_view(wallet: Wallet) -> JSON:
    """The balance, the buckets in the order debits draw them (with expiries) and the wallet's settings."""
    buckets = [
        {
            "bucket_id": b.bucket_id,
            "kind": b.kind,
            "remaining": display(b.remaining),
            "priority": b.priority,
            "expires_at": b.expires_at.isoformat() if b.expires_at else None,
        }
        for b in sorted(wallet.buckets, key=draw_order)
    ]
    rule = wallet.auto_recharge
    return {
        "tenant_id": wallet.tenant_id,
        "balance": display(wallet.balance),
        "version": wallet.version,
        "policy": wallet.policy.kind,
        "floor": display(wallet.policy.floor),
        "thresholds": [display(t) for t in wallet.thresholds],
        "credit_price_eur": display(wallet.credit_price),
        "buckets": buckets,
        "pending_payments": [p.payment_id for p in wallet.pending],
        "auto_recharge": None
        if rule is None
        else {
            "enabled": rule.enabled,
            "below": display(rule.trigger),
            "mode": rule.mode,
            "amount": display(rule.amount),
            "monthly_cap": display(rule.monthly_cap),
            "consecutive_failures": wallet.recharge_failures,
        },
    }


def ledger_row(entry: LedgerEntry, language: Language) -> JSON:
    return {
        "datetime": entry.occurred_at.isoformat(),
        "site": entry.site or "",
        "personnel": entry.personnel or "",
        "description": describe(entry, language),
        "type": entry.entry_type,
        "value": display(entry.amount),
        "balance_after": display(entry.balance_after),
        "entry_id": entry.entry_id,
        "buckets": " ".join(f"{m.bucket_id}:{display(m.amount)}" for m in entry.movements),
        "reference": entry.reference or "",
        "sequence": entry.sequence,
    }


def invoice_row(invoice: Invoice) -> JSON:
    return {
        "number": invoice.number,
        "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "reason": invoice.reason,
        "total_eur": euros(invoice.total),
        "status": invoice.status,
    }


LEDGER_COLUMNS = [
    "datetime",
    "site",
    "personnel",
    "description",
    "type",
    "value",
    "balance_after",
    "entry_id",
    "buckets",
    "reference",
]


def ledger_table(rows: list[JSON]) -> list[str]:
    """The ledger as a text table, each column as wide as its longest value: nothing is cut, so two different
    values never print alike."""
    from datetime import datetime

    headers = ("Datetime", "Site", "Personnel", "Description", "Type", "Value", "Balance")
    cells = [
        (
            datetime.fromisoformat(r["datetime"]).strftime("%d-%m-%Y %H:%M"),
            r["site"],
            r["personnel"],
            r["description"],
            r["type"],
            r["value"],
            r["balance_after"],
        )
        for r in rows
    ]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    right = {5, 6}

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return [line(headers), *(line(c) for c in cells)]


_FAILED = {
    "command.refused": "refused",
    "subscription.change_refused": "refused",
    "debit.rejected": "rejected",
    "topup.failed": "failed",
}


def command_status(command_id: str, events: list[JSON] | None, *, processing: bool = False) -> JSON:
    """A command's outcome from the events it caused (None: not applied yet)."""
    if events is None:
        return {"command_id": command_id, "status": "pending", "reason": None, "detail": None, "events": []}
    status, reason, detail = ("processing" if processing else "applied"), None, None
    for event in events:
        if event["kind"] in _FAILED:
            status, reason = _FAILED[event["kind"]], event.get("reason")
            detail = event.get("detail")
            break
    return {"command_id": command_id, "status": status, "reason": reason, "detail": detail, "events": events}


def invoice_view(invoice: Invoice) -> JSON:
    """An invoice as issued: seller, buyer, lines, VAT and totals in cents and euros."""
    seller, buyer = invoice.seller, invoice.buyer
    return {
        **invoice_row(invoice),
        "invoice_id": invoice.invoice_id,
        "plan_name": invoice.plan_name,
        "period": {"first_day": invoice.period_start.isoformat(), "renews_on": invoice.period_end.isoformat()},
        "lines": [
            {"description": line.description, "amount_minor": line.amount, "amount_eur": euros(line.amount)}
            for line in invoice.lines
        ],
        "subtotal_minor": invoice.subtotal,
        "vat_rate": str(invoice.vat_rate),
        "vat_minor": invoice.vat,
        "total_minor": invoice.total,
        "vat_note": invoice.vat_note,
        "currency": "EUR",
        "seller": None
        if seller is None
        else {"name": seller.name, "country": seller.country, "vat_number": seller.vat_number},
        "buyer": None
        if buyer is None
        else {
            "company_name": buyer.company_name,
            "address_line1": buyer.address_line1,
            "address_line2": buyer.address_line2,
            "postal_code": buyer.postal_code,
            "city": buyer.city,
            "country": buyer.country,
            "vat_number": buyer.vat_number,
        },
    }
