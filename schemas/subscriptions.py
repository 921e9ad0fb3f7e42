"""Subscription events (on `subscriptions.events`, keyed by tenant id): what happened to a tenant's plan and
its invoices. Amounts are integer minor units (cents) of `currency`; dates are calendar dates (UTC)."""

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from .common import EventId, Label, TenantId, UtcDatetime, WireModel

Minor = Annotated[int, Field(description="Integer minor units (cents) of the currency.")]

LastDayOfAccess = Annotated[
    date, Field(description="The licence's last day, inclusive: access continues until the end of that day.")
]
PeriodStart = Annotated[date, Field(description="The period's first day, inclusive.")]
PeriodLastDay = Annotated[date, Field(description="The period's last day, inclusive.")]
RenewsOn = Annotated[date, Field(description="The renewal day: the first day of the next period.")]


class _SubscriptionEvent(WireModel):
    schema_version: Literal[1] = 1
    event_id: EventId
    tenant_id: TenantId
    occurred_at: UtcDatetime
    subscription_id: str
    plan_name: Label


class RenewalUpcoming(_SubscriptionEvent):
    """Sent 30 and 15 days before a renewal: after the second, only seats can still change (15-day rule)."""

    kind: Literal["subscription.renewal_upcoming"] = "subscription.renewal_upcoming"
    renews_on: RenewsOn
    days_before: int
    amount_minor: Minor
    currency: Literal["EUR"] = "EUR"


class InvoiceIssued(_SubscriptionEvent):
    kind: Literal["invoice.issued"] = "invoice.issued"
    invoice_id: str
    invoice_number: str
    total_minor: Minor
    currency: Literal["EUR"] = "EUR"
    issued_on: date
    due_on: date


class InvoicePaymentFailed(_SubscriptionEvent):
    kind: Literal["invoice.payment_failed"] = "invoice.payment_failed"
    invoice_id: str
    invoice_number: str
    total_minor: Minor
    currency: Literal["EUR"] = "EUR"
    reason: Annotated[str, Field(max_length=200)]


class InvoicePaid(_SubscriptionEvent):
    kind: Literal["invoice.paid"] = "invoice.paid"
    invoice_id: str
    invoice_number: str
    total_minor: Minor
    currency: Literal["EUR"] = "EUR"


class PlanChanged(_SubscriptionEvent):
    """The plan, seats or billing period changed (now, or scheduled for `effective_on`)."""

    kind: Literal["subscription.plan_changed"] = "subscription.plan_changed"
    previous_plan_name: Label
    seats: int
    previous_seats: int
    interval: Literal["monthly", "quarterly", "annual"]
    effective_on: date
    scheduled: bool


class CancellationScheduled(_SubscriptionEvent):
    kind: Literal["subscription.cancellation_scheduled"] = "subscription.cancellation_scheduled"
    last_day_of_access: LastDayOfAccess


class SubscriptionReactivated(_SubscriptionEvent):
    kind: Literal["subscription.reactivated"] = "subscription.reactivated"
    renews_on: RenewsOn


class SubscriptionEnded(_SubscriptionEvent):
    kind: Literal["subscription.ended"] = "subscription.ended"
    last_day_of_access: LastDayOfAccess


class SubscriptionStarted(_SubscriptionEvent):
    kind: Literal["subscription.started"] = "subscription.started"
    seats: int
    interval: Literal["monthly", "quarterly", "annual"]
    period_start: PeriodStart
    period_last_day: PeriodLastDay
    renews_on: RenewsOn


class SubscriptionRenewed(_SubscriptionEvent):
    kind: Literal["subscription.renewed"] = "subscription.renewed"
    seats: int
    interval: Literal["monthly", "quarterly", "annual"]
    period_start: PeriodStart
    period_last_day: PeriodLastDay
    renews_on: RenewsOn


class ChangeRefused(_SubscriptionEvent):
    """A command the subscription rules refuse, with the reason (e.g. the 15-day rule)."""

    kind: Literal["subscription.change_refused"] = "subscription.change_refused"
    command_id: str
    reason: Literal[
        "within_15_days_of_renewal",
        "unknown_plan",
        "unknown_addon",
        "no_subscription",
        "already_subscribed",
        "not_active",
        "not_cancelled",
        "invalid_seats",
        "payment_method_refused",
        "billing_info_invalid",
        "not_an_admin",
        "same_plan",
        "unknown_app",
    ]
    detail: str


SubscriptionEvent = Annotated[
    RenewalUpcoming
    | InvoiceIssued
    | InvoicePaymentFailed
    | InvoicePaid
    | PlanChanged
    | CancellationScheduled
    | SubscriptionEnded
    | SubscriptionStarted
    | SubscriptionRenewed
    | SubscriptionReactivated
    | ChangeRefused,
    Field(discriminator="kind"),
]


# --- commands, on `subscriptions.commands` (keyed by tenant id), each applied once per command id ---------

Interval = Literal["monthly", "quarterly", "annual"]
Code = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")]


class _Command(WireModel):
    schema_version: Literal[1] = 1
    command_id: EventId
    tenant_id: TenantId
    issued_at: UtcDatetime
    by: Annotated[str, Field(max_length=254)] | None = Field(default=None, description="The admin who asks.")


class AddOnChoice(WireModel):
    addon: Code
    plan: Code
    seats: Annotated[int, Field(ge=1, le=100_000)] = 1


class Start(_Command):
    kind: Literal["start"] = "start"
    plan: Code
    interval: Interval = "monthly"
    seats: Annotated[int, Field(ge=1, le=100_000)] = 1
    addons: Annotated[list[AddOnChoice], Field(max_length=10)] = Field(default_factory=list)
    start_on: date | None = Field(default=None, description="Default: the day the command is applied.")


class ChangePlan(_Command):
    """Upgrade now (prorated) or downgrade at the next renewal; refused within 15 days of it, except when leaving
    a free plan (any day). `seats` and `interval` may come with it: from a free plan, monthly keeps the billing
    day (prorated to it) and quarterly or annual starts that period on the day of the upgrade, invoiced in full;
    on a paid plan they apply as their own commands would (more users now, fewer and a new period at the
    renewal)."""

    kind: Literal["change_plan"] = "change_plan"
    plan: Code
    seats: Annotated[int, Field(ge=1, le=100_000)] | None = None
    interval: Interval | None = None


class ChangeSeats(_Command):
    """More seats now (prorated); fewer at the next renewal. `addon` targets an add-on's own seats."""

    kind: Literal["change_seats"] = "change_seats"
    seats: Annotated[int, Field(ge=1, le=100_000)]
    addon: Code | None = None


class ChangeInterval(_Command):
    """The billing period changes from the next period on."""

    kind: Literal["change_interval"] = "change_interval"
    interval: Interval


class ChangeAddOn(_Command):
    """Add an add-on or change its plan (`plan`), or remove it (`plan` null, at the next renewal)."""

    kind: Literal["change_addon"] = "change_addon"
    addon: Code
    plan: Code | None
    seats: Annotated[int, Field(ge=1, le=100_000)] = 1


class Cancel(_Command):
    kind: Literal["cancel"] = "cancel"


class Reactivate(_Command):
    kind: Literal["reactivate"] = "reactivate"


class BillingInfo(WireModel):
    company_name: Annotated[str, Field(min_length=1, max_length=200)]
    address_line1: Annotated[str, Field(min_length=1, max_length=200)]
    address_line2: Annotated[str, Field(max_length=200)] | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    vat_number: Annotated[str, Field(max_length=20)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None


class SetBillingInfo(_Command):
    kind: Literal["set_billing_info"] = "set_billing_info"
    billing_info: BillingInfo


class Card(WireModel):
    brand: Annotated[str, Field(max_length=20)]
    last4: Annotated[str, Field(pattern=r"^[0-9]{4}$")]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: Annotated[int, Field(ge=2000, le=2100)]
    funding: Literal["credit", "debit", "prepaid"]


class SetPaymentMethod(_Command):
    """Card or SEPA direct debit. Expired and prepaid cards are refused (Teamleader)."""

    kind: Literal["set_payment_method"] = "set_payment_method"
    method: Literal["card", "sepa"]
    card: Card | None = None
    iban_last4: Annotated[str, Field(pattern=r"^[0-9A-Z]{4}$")] | None = None
    provider_reference: Annotated[str, Field(max_length=100)] | None = Field(
        default=None, description="The payment method's id at the provider, e.g. a Stripe pm_… id."
    )


UserId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._@+-]{1,100}$")]


class AppUser(WireModel):
    user_id: UserId = Field(description="Stable: the fee's idempotency key (e.g. an e-mail address).")
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description='What the ledger shows, e.g. "Philippe Lemaire".'
    )


class AssignApp(_Command):
    """The users of an app; each is charged the app's monthly fee from credits at month end."""

    kind: Literal["assign_app"] = "assign_app"
    app: Code
    users: Annotated[list[UserId | AppUser], Field(max_length=10_000)] = Field(
        description="The users (an id, or an id with a display name); an empty list removes the app."
    )


SubscriptionCommand = Annotated[
    Start
    | ChangePlan
    | ChangeSeats
    | ChangeInterval
    | ChangeAddOn
    | Cancel
    | Reactivate
    | SetBillingInfo
    | SetPaymentMethod
    | AssignApp,
    Field(discriminator="kind"),
]


# --- scheduler ticks, on `scheduler.ticks` (one partition, keyed by tick id) -------------------------------


class Tick(WireModel):
    """A period event. `tick_id` is deterministic (`day:2026-11-22`, `month-end:2026-11`): a rerun or a second
    scheduler publishes the same id, and everything it causes is keyed by it, so nothing happens twice."""

    schema_version: Literal[1] = 1
    kind: Literal["tick.day", "tick.month_end"]
    tick_id: EventId
    day: date = Field(description="The day (tick.day) or the month's last day (tick.month_end).")
    period: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}$")] | None = None
    emitted_at: UtcDatetime


# --- the catalogue, on the compacted `subscriptions.catalogue` topic (key `catalogue`) ---------------------

Euros = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]{1,2})?$")]
Credits = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]{1,6})?$")]


class CataloguePlan(WireModel):
    code: Code
    name: Label
    rank: int = Field(description="Higher is a bigger plan: moving up is an upgrade (now), down a downgrade.")
    per_seat: bool
    included_credits: Credits = "0"
    prices: dict[Interval, Euros] = Field(description="Price per period (per seat when per_seat), in euros.")


class CatalogueApp(WireModel):
    code: Code
    name: Label
    monthly_fee: Credits = Field(description="Credits debited per user at each month end.")
    fee_label: dict[Literal["fr", "en"], Label] | None = Field(
        default=None,
        description='What the ledger shows for the fee, per language; default "<name> frais mensuels" / '
        '"<name> monthly fee".',
    )


class CatalogueAddOn(WireModel):
    code: Code
    name: Label
    plans: list[CataloguePlan]


class CatalogueSeller(WireModel):
    name: Label
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    vat_number: Annotated[str, Field(max_length=20)]
    invoice_prefix: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,8}$")]
    vat_rate: Annotated[str, Field(pattern=r"^[0-9]{1,2}(\.[0-9]{1,2})?$")]


class CatalogueDocument(WireModel):
    """A whole catalogue. The subscriptions service keeps the highest `version` it has seen."""

    version: Annotated[int, Field(ge=1)]
    currency: Literal["EUR"] = "EUR"
    seller: CatalogueSeller
    plans: list[CataloguePlan]
    apps: list[CatalogueApp] = Field(default_factory=list)
    addons: list[CatalogueAddOn] = Field(default_factory=list)
