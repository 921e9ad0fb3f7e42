"""Metering's domain: rejections, prices and the priced outcome of one usage event."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from schemas.deadletter import Reason

RejectionReason = Reason


@dataclass(frozen=True)
class Rejection:
    reason: RejectionReason
    detail: str


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 16 * 1024
    max_future: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=35)


@dataclass(frozen=True)
class MeterPrice:
    """Price of one unit of a meter. With `per_property`, each unit is also multiplied by that integer
    property (a document sent to 5 recipients counts 5 per document)."""

    unit_price: Decimal
    entry_type: str
    per_property: str | None = None


@dataclass(frozen=True)
class PriceBook:
    meters: dict[str, MeterPrice] = field(default_factory=dict)


DEFAULT_PRICE_BOOK = PriceBook(
    meters={
        "sms": MeterPrice(Decimal("0.15"), "sms"),
        "apf": MeterPrice(Decimal("0.10"), "apf"),
        "document": MeterPrice(Decimal("1"), "document", per_property="recipients"),
        "data_purchase": MeterPrice(Decimal("1"), "data_purchase"),
        "postal_invoice": MeterPrice(Decimal("1.50"), "postal_invoice"),
    }
)


@dataclass(frozen=True)
class Priced:
    amount: Decimal
    units: Decimal
    entry_type: str
    period: str
    occurred_at: datetime
