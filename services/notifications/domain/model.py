"""Notifications domain: which e-mail, to whom, in which language. No I/O."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

Language = Literal["fr", "en"]
Template = Literal["low_balance", "depleted", "recovered"]


@dataclass(frozen=True)
class Recipient:
    email: str
    language: Language
    name: str | None = None


@dataclass(frozen=True)
class Notice:
    """One e-mail to write: what happened, with the figures that matter."""

    event_id: str
    tenant_id: str
    tenant_name: str
    template: Template
    balance: Decimal
    threshold: Decimal | None = None
    amount: Decimal | None = None


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
