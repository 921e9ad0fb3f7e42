"""What the subscription rules decided; the service gives each a deterministic id and a wire shape."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .catalogue import App
from .model import AppUser, Invoice, Subscription


@dataclass(frozen=True)
class Started:
    subscription: Subscription


@dataclass(frozen=True)
class Renewed:
    subscription: Subscription


@dataclass(frozen=True)
class PlanChanged:
    subscription: Subscription
    previous_plan: str
    previous_seats: int
    plan: str
    seats: int
    interval: str
    effective_on: date
    scheduled: bool


@dataclass(frozen=True)
class Refused:
    reason: str
    detail: str


@dataclass(frozen=True)
class ReminderDue:
    subscription: Subscription
    days_before: int
    amount: int


@dataclass(frozen=True)
class CancellationScheduled:
    subscription: Subscription


@dataclass(frozen=True)
class Reactivated:
    subscription: Subscription


@dataclass(frozen=True)
class Ended:
    subscription: Subscription
    last_day_of_access: date


@dataclass(frozen=True)
class InvoiceDrafted:
    invoice: Invoice


@dataclass(frozen=True)
class AllowanceDue:
    """Grant the plan's included credits for one month, expiring at the next monthly anniversary."""

    subscription_id: str
    credits: Decimal
    granted_on: date
    expires_on: date


@dataclass(frozen=True)
class FeeDue:
    app_code: str
    app: App
    user: AppUser
    month: str

    @property
    def amount(self) -> Decimal:
        return self.app.monthly_fee


Effect = (
    Started
    | Renewed
    | PlanChanged
    | Refused
    | ReminderDue
    | CancellationScheduled
    | Reactivated
    | Ended
    | InvoiceDrafted
    | AllowanceDue
    | FeeDue
)
