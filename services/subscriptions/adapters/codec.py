"""How accounts and invoices are stored: dates as ISO strings, money as integer cents."""

from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any

from ..domain.catalogue import Seller
from ..domain.model import (
    Account,
    AddOnState,
    AppUser,
    BillingInfo,
    Invoice,
    InvoiceLine,
    PaymentMethod,
    Pending,
    Subscription,
)
from ..domain.rules import next_due

Document = dict[str, Any]
_DATES = ("anchor", "period_start", "period_end")


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def account_to_doc(account: Account) -> Document:
    doc = _jsonable(asdict(account))
    doc["_id"] = doc.pop("tenant_id")
    doc["status"] = account.subscription.status if account.subscription else None
    due = next_due(account)
    doc["next_due"] = due.isoformat() if due is not None else None  # what the day tick selects on (indexed)
    return doc  # type: ignore[no-any-return]


def _subscription(raw: Document | None) -> Subscription | None:
    if raw is None:
        return None
    fields = dict(raw)
    for name in _DATES:
        fields[name] = date.fromisoformat(fields[name])
    fields["addons"] = tuple(AddOnState(**a) for a in fields.get("addons", ()))
    pending = dict(fields.get("pending") or {})
    if pending.get("addons") is not None:
        pending["addons"] = tuple(AddOnState(**a) for a in pending["addons"])
    fields["pending"] = Pending(**pending)
    fields["reminded"] = tuple(fields.get("reminded", ()))
    return Subscription(**fields)


def _app_user(raw: Any) -> AppUser:
    """Users were stored as plain ids before they had names."""
    if isinstance(raw, str):
        return AppUser(raw)
    since = raw.get("since")
    return AppUser(raw["user_id"], raw.get("name"), date.fromisoformat(since) if since else None)


def account_from_doc(doc: Document | None, tenant_id: str) -> Account:
    if doc is None:
        return Account(tenant_id)
    return Account(
        tenant_id=tenant_id,
        subscription=_subscription(doc.get("subscription")),
        billing_info=BillingInfo(**doc["billing_info"]) if doc.get("billing_info") else None,
        payment_method=PaymentMethod(**doc["payment_method"]) if doc.get("payment_method") else None,
        apps=tuple((app, tuple(_app_user(u) for u in users)) for app, users in doc.get("apps", ())),
        version=doc.get("version", 0),
    )


def invoice_to_doc(invoice: Invoice) -> Document:
    doc = _jsonable(asdict(invoice))
    doc["_id"] = doc.pop("invoice_id")
    return doc  # type: ignore[no-any-return]


def invoice_from_doc(doc: Document) -> Invoice:
    fields = {k: v for k, v in doc.items() if k not in ("_id", "payment_id", "history")}
    for name in ("issued_on", "due_on", "period_start", "period_end"):
        fields[name] = date.fromisoformat(fields[name])
    fields["lines"] = tuple(InvoiceLine(**line) for line in fields["lines"])
    fields["vat_rate"] = Decimal(fields["vat_rate"])
    if fields.get("seller") is not None:
        fields["seller"] = Seller(**{**fields["seller"], "vat_rate": Decimal(fields["seller"]["vat_rate"])})
    if fields.get("buyer") is not None:
        fields["buyer"] = BillingInfo(**fields["buyer"])
    return Invoice(invoice_id=doc["_id"], **fields)
