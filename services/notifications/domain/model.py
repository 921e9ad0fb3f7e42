"""Notifications domain: which e-mail, to whom, in which language, with which figures. No I/O."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Language = Literal["fr", "en"]
Template = Literal[
    "low_balance",
    "depleted",
    "recovered",
    "auto_recharge_succeeded",
    "auto_recharge_failed",
    "purchase_failed",
    "debits_rejected",
    "renewal_upcoming",
    "invoice_issued",
    "invoice_payment_failed",
    "plan_changed",
    "cancellation_scheduled",
    "subscription_ended",
    "webhook_disabled",
]
FactKind = Literal["credits", "money", "date", "text", "count", "flag"]
"""How a figure is formatted for the reader: credits '95,50', money '12,34 €', date '22 novembre 2026'."""


@dataclass(frozen=True)
class Fact:
    name: str
    kind: FactKind
    value: str
    """Exact text: a decimal for credits, integer minor units for money, ISO date, 'true'/'false' for a flag."""


@dataclass(frozen=True)
class Recipient:
    email: str
    language: Language
    name: str | None = None


@dataclass(frozen=True)
class Notice:
    """One e-mail to write: what happened, with the figures that matter.

    A digest notice (`digest=True`) gathers events of one kind over a window into one e-mail per recipient.
    """

    event_id: str
    tenant_id: str
    tenant_name: str
    template: Template
    facts: tuple[Fact, ...] = ()
    digest: bool = False

    def fact(self, name: str) -> str | None:
        return next((f.value for f in self.facts if f.name == name), None)


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    notice: Notice
    recipient: Recipient


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: first retry after `first`, doubling up to `ceiling`, giving up after `give_up`."""

    first: timedelta = timedelta(seconds=2)
    ceiling: timedelta = timedelta(minutes=30)
    give_up: timedelta = timedelta(hours=12)

    def next_attempt(self, attempts: int, first_tried: datetime, now: datetime) -> datetime | None:
        if now - first_tried >= self.give_up:
            return None
        delay = min(self.ceiling, self.first * (2 ** max(0, attempts - 1)))
        return now + timedelta(seconds=delay.total_seconds())


@dataclass(frozen=True)
class RateLimit:
    """At most `per_hour` e-mails to one admin of one tenant in any rolling hour; the rest wait their turn.
    Rejected debits are gathered into one digest per `digest_window` rather than one e-mail each."""

    per_hour: int = 12
    defer_by: timedelta = timedelta(minutes=10)
    digest_window: timedelta = timedelta(minutes=15)

    def digest_window_of(self, at: datetime) -> tuple[datetime, datetime]:
        seconds = int(self.digest_window.total_seconds())
        start = datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, tz=at.tzinfo)
        return start, start + self.digest_window
