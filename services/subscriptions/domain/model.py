"""What subscriptions keeps per tenant: the subscription (plan, seats, add-ons, period, scheduled changes),
billing information, payment method and app users; and the invoices it issues. Money in integer cents."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from .catalogue import Seller

Status = Literal["active", "cancelling", "ended"]
InvoiceReason = Literal["start", "renewal", "upgrade", "seats", "addon"]


@dataclass(frozen=True)
class AddOnState:
    addon: str
    plan: str
    seats: int = 1


@dataclass(frozen=True)
class Pending:
    """Changes that take effect at the next renewal (downgrades, fewer seats, billing period, add-ons)."""

    plan: str | None = None
    seats: int | None = None
    interval: str | None = None
    addons: tuple[AddOnState, ...] | None = None

    @property
    def empty(self) -> bool:
        return self == Pending()


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    plan: str
    interval: str
    seats: int
    anchor: date
    """The start date: periods and monthly allowances run from its day of the month."""
    period_start: date
    period_end: date
    """Exclusive: the renewal day."""
    status: Status = "active"
    addons: tuple[AddOnState, ...] = ()
    pending: Pending = field(default_factory=Pending)
    allowance_months: int = 0
    """Monthly allowances granted so far: the next one is due on add_months(anchor, allowance_months)."""
    reminded: tuple[int, ...] = ()
    """Renewal reminders (days before) already sent for the current period."""

    @property
    def last_day(self) -> date:
        """The period's last day, inclusive: a cancelled subscription gives access until the end of it."""
        return self.period_end - timedelta(days=1)


@dataclass(frozen=True)
class PaymentMethod:
    method: Literal["card", "sepa"]
    label: str
    provider_reference: str | None = None


@dataclass(frozen=True)
class BillingInfo:
    company_name: str
    address_line1: str
    postal_code: str
    city: str
    country: str
    address_line2: str | None = None
    vat_number: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class AppUser:
    """A user who pays an app's monthly fee: a stable id (the fee's idempotency key) and the name people read."""

    user_id: str
    name: str | None = None
    since: date | None = None
    """The day the user was given the app: no fee is due for a month that ended before it."""

    @property
    def display_name(self) -> str:
        return self.name or self.user_id


@dataclass(frozen=True)
class Account:
    tenant_id: str
    subscription: Subscription | None = None
    billing_info: BillingInfo | None = None
    payment_method: PaymentMethod | None = None
    apps: tuple[tuple[str, tuple[AppUser, ...]], ...] = ()
    """(app code, users) pairs: each user pays the app's monthly fee in credits at month end."""
    version: int = 0


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    amount: int
    """Cents, negative for a credit (the unused part of a replaced plan)."""


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    tenant_id: str
    subscription_id: str
    plan_name: str
    reason: InvoiceReason
    lines: tuple[InvoiceLine, ...]
    subtotal: int
    vat_rate: Decimal
    vat: int
    total: int
    issued_on: date
    due_on: date
    period_start: date
    period_end: date
    vat_note: str | None = None
    number: str | None = None
    """Sequential per seller, given when the invoice is stored."""
    status: Literal["open", "paid", "payment_failed", "void"] = "open"
    seller: Seller | None = None
    buyer: BillingInfo | None = None
    """Who sold and who bought, as they were on the day of issue: an issued invoice is a record, and a later
    change of billing information or catalogue never changes it. (None only on invoices stored before.)"""
