"""Metering's domain: rejections, price books (versioned, optionally tiered), billing periods and the priced
outcome of one usage event."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from schemas.deadletter import Reason

RejectionReason = Reason
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_DISTINCT: tuple[str, ...] = ("personnel", "site")


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
class Tier:
    """Units of the billing period up to `up_to` (None: no limit) cost `unit_price` each."""

    up_to: Decimal | None
    unit_price: Decimal


@dataclass(frozen=True)
class MeterPrice:
    """The price of one meter from `effective_from` on.

    Each unit costs `unit_price`, or, with `tiers`, the price of the tier that unit falls in counting the
    units already used in the billing period (graduated). With `per_property`, each unit is multiplied by
    that integer property (a document sent to 5 recipients counts 5 per document). `distinct` names what the
    usage report counts unique values of: `personnel`, `site` or a property name.
    """

    unit_price: Decimal
    entry_type: str
    per_property: str | None = None
    tiers: tuple[Tier, ...] = ()
    effective_from: datetime = EPOCH
    distinct: tuple[str, ...] = DEFAULT_DISTINCT


@dataclass(frozen=True)
class PriceBook:
    """Price versions per meter. An event is priced by the newest version in effect at its occurred-at."""

    meters: dict[str, tuple[MeterPrice, ...]] = field(default_factory=dict)

    def price_at(self, meter: str, at: datetime) -> MeterPrice | None:
        """Versions are kept in effective-from order, a tenant's own after the defaults: the last one wins."""
        for version in reversed(self.meters.get(meter, ())):
            if version.effective_from <= at:
                return version
        return None

    def with_versions(self, versions: dict[str, list[MeterPrice]]) -> "PriceBook":
        """This book plus a tenant's own price versions (which win from their effective-from on)."""
        merged = {meter: list(prices) for meter, prices in self.meters.items()}
        for meter, extra in versions.items():
            merged[meter] = [*merged.get(meter, []), *extra]
        return PriceBook({m: tuple(sorted(v, key=lambda p: p.effective_from)) for m, v in merged.items()})


def _flat(unit_price: str, entry_type: str, per_property: str | None = None) -> tuple[MeterPrice, ...]:
    return (MeterPrice(Decimal(unit_price), entry_type, per_property),)


DEFAULT_PRICE_BOOK = PriceBook(
    meters={
        "sms": _flat("0.15", "sms"),
        "apf": _flat("0.10", "apf"),
        "document": _flat("1", "document", per_property="recipients"),
        "data_purchase": _flat("1", "data_purchase"),
        "postal_invoice": _flat("1.50", "postal_invoice"),
    }
)

METER_NAMES: dict[str, dict[str, str]] = {
    "sms": {"fr": "SMS", "en": "SMS"},
    "apf": {"fr": "Commande fournisseur (apf)", "en": "Supplier order (apf)"},
    "document": {"fr": "Document envoyé", "en": "Document sent"},
    "data_purchase": {"fr": "Achat de données", "en": "Data purchase"},
    "postal_invoice": {"fr": "Facture par courrier", "en": "Postal invoice"},
}
"""What the ledger shows a person for each default meter, by language; any other meter shows its code."""


def meter_name(meter: str, language: str) -> str:
    return METER_NAMES.get(meter, {}).get(language, meter)


@dataclass(frozen=True)
class Period:
    """One billing period [start, end). Its key is its start date, e.g. '2026-11-15'."""

    start: datetime
    end: datetime

    @cached_property
    def key(self) -> str:
        return self.start.date().isoformat()


@dataclass(frozen=True)
class Priced:
    amount: Decimal
    units: Decimal
    entry_type: str
    period: Period
    occurred_at: datetime
    distinct: dict[str, str] = field(default_factory=dict)
    tiered: bool = False
    """Priced by tiers: the price depends on the units the period had before (`used_before`)."""
