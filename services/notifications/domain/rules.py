"""Who is told, and about what: the e-mail each wallet or subscription event deserves, if any."""

from decimal import Decimal
from typing import Any

from schemas.tenants import TenantUpserted

from .model import Delivery, Fact, Notice, Recipient, Template


def _credits(name: str, value: Any) -> Fact:
    return Fact(name, "credits", str(Decimal(str(value))))


def _money(name: str, minor: Any) -> Fact:
    return Fact(name, "money", str(int(minor)))


def _date(name: str, value: Any) -> Fact:
    return Fact(name, "date", str(value)[:10])


def _text(name: str, value: Any) -> Fact:
    return Fact(name, "text", str(value))


def _notice(event: dict[str, Any], tenant_name: str, template: Template, *facts: Fact) -> Notice:
    return Notice(event["event_id"], event["tenant_id"], tenant_name, template, tuple(facts))


def notice_for(event: dict[str, Any], tenant_name: str) -> Notice | None:
    """The e-mail an event deserves, if any. Ledger entries and routine events are not e-mailed; rejected
    debits are (as a digest, see `is_digest`)."""
    kind = event.get("kind")
    match kind:
        case "threshold.crossed":
            threshold = Decimal(str(event["threshold"]))
            template: Template = "depleted" if threshold <= 0 else "low_balance"
            return _notice(
                event, tenant_name, template, _credits("balance", event["balance"]), _credits("threshold", threshold)
            )
        case "threshold.recovered" if Decimal(str(event["threshold"])) <= 0:
            return _notice(event, tenant_name, "recovered", _credits("balance", event["balance"]))
        case "topup.succeeded" if event.get("purpose") == "auto_recharge":
            return _notice(
                event,
                tenant_name,
                "auto_recharge_succeeded",
                _credits("credits", event["credits"]),
                _money("amount", event["amount_minor"]),
                _credits("balance", event["balance_after"]),
            )
        case "topup.failed":
            auto = event.get("purpose") == "auto_recharge"
            return _notice(
                event,
                tenant_name,
                "auto_recharge_failed" if auto else "purchase_failed",
                _credits("credits", event["credits"]),
                _text("reason", event["reason"]),
                Fact("failures", "count", str(event.get("consecutive_failures", 0))),
                Fact("disabled", "flag", "true" if event.get("auto_recharge_disabled") else "false"),
            )
        case "debit.rejected":
            return Notice(
                event["event_id"],
                event["tenant_id"],
                tenant_name,
                "debits_rejected",
                (
                    Fact("count", "count", "1"),
                    _credits("amount", event["amount"]),
                    _credits("balance", event["balance"]),
                ),
                digest=True,
            )
        case "subscription.renewal_upcoming":
            return _notice(
                event,
                tenant_name,
                "renewal_upcoming",
                _text("plan", event["plan_name"]),
                _date("renews_on", event["renews_on"]),
                Fact("days", "count", str(event["days_before"])),
                _money("amount", event["amount_minor"]),
            )
        case "invoice.issued":
            return _notice(
                event,
                tenant_name,
                "invoice_issued",
                _text("plan", event["plan_name"]),
                _text("number", event["invoice_number"]),
                _money("amount", event["total_minor"]),
                _date("due_on", event["due_on"]),
            )
        case "invoice.payment_failed":
            return _notice(
                event,
                tenant_name,
                "invoice_payment_failed",
                _text("number", event["invoice_number"]),
                _money("amount", event["total_minor"]),
                _text("reason", event["reason"]),
            )
        case "subscription.plan_changed":
            return _notice(
                event,
                tenant_name,
                "plan_changed",
                _text("plan", event["plan_name"]),
                _text("previous_plan", event["previous_plan_name"]),
                Fact("seats", "count", str(event["seats"])),
                _date("effective_on", event["effective_on"]),
                Fact("scheduled", "flag", "true" if event.get("scheduled") else "false"),
            )
        case "subscription.cancellation_scheduled":
            return _notice(
                event,
                tenant_name,
                "cancellation_scheduled",
                _text("plan", event["plan_name"]),
                _date("last_day_of_access", event["last_day_of_access"]),
            )
        case "subscription.ended":
            return _notice(
                event,
                tenant_name,
                "subscription_ended",
                _text("plan", event["plan_name"]),
                _date("last_day_of_access", event["last_day_of_access"]),
            )
    return None


def recipients(tenant: TenantUpserted) -> list[Recipient]:
    """The tenant's admins only, each in their own language or else the tenant's."""
    return [Recipient(email=m.email, language=m.language or tenant.language, name=m.name) for m in tenant.admins()]


def deliveries(notice: Notice, tenant: TenantUpserted, *, digest_key: str | None = None) -> list[Delivery]:
    """One delivery per admin. A digest's delivery id names its window instead of the event."""
    if notice.tenant_id != tenant.tenant_id:
        raise ValueError("a notice is only ever sent to its own tenant's admins")
    key = digest_key if notice.digest and digest_key else notice.event_id
    return [Delivery(f"{tenant.tenant_id}|{key}|{r.email}", notice, r) for r in recipients(tenant)]
