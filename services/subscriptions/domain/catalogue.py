"""The catalogue: plans (price per period, per seat or flat, included monthly credits), apps with a monthly
fee per user, add-ons with their own plans. Loaded from a versioned JSON file; the newest version wins."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

Interval = Literal["monthly", "quarterly", "annual"]
INTERVAL_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "annual": 12}


def cents(euros: Decimal) -> int:
    value = euros * 100
    if value != value.to_integral_value():
        raise ValueError(f"{euros} has fractions of a cent")
    return int(value)


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    rank: int
    per_seat: bool
    prices: dict[str, int]
    """Price per period (and per seat when `per_seat`), in cents, by interval."""
    included_credits: Decimal

    def price(self, interval: str, seats: int) -> int:
        return self.prices[interval] * (seats if self.per_seat else 1)


@dataclass(frozen=True)
class App:
    code: str
    name: str
    monthly_fee: Decimal
    """Credits debited per user at each month end."""
    fee_label: tuple[tuple[str, str], ...] = ()
    """(language, text) pairs: what the ledger shows for the fee, e.g. ("fr", "App d'inspecteur frais mensuels")."""

    def fee_description(self, language: str) -> str:
        """The ledger's words for this app's monthly fee, in `language` (French and English by default)."""
        labels = dict(self.fee_label)
        if language in labels:
            return labels[language]
        return f"{self.name} monthly fee" if language == "en" else f"{self.name} frais mensuels"


@dataclass(frozen=True)
class AddOn:
    code: str
    name: str
    plans: dict[str, Plan]


@dataclass(frozen=True)
class Seller:
    name: str
    country: str
    vat_number: str
    invoice_prefix: str
    vat_rate: Decimal


@dataclass(frozen=True)
class Catalogue:
    version: int
    currency: str
    seller: Seller
    plans: dict[str, Plan]
    apps: dict[str, App]
    addons: dict[str, AddOn]


def _plan(raw: dict[str, Any]) -> Plan:
    return Plan(
        code=raw["code"],
        name=raw["name"],
        rank=int(raw["rank"]),
        per_seat=bool(raw["per_seat"]),
        prices={interval: cents(Decimal(raw["prices"][interval])) for interval in INTERVAL_MONTHS},
        included_credits=Decimal(raw.get("included_credits", "0")),
    )


def catalogue_from(raw: dict[str, Any]) -> Catalogue:
    """Parse and check a catalogue document; raises ValueError (or KeyError) when it is not one."""
    seller = raw["seller"]
    catalogue = Catalogue(
        version=int(raw["version"]),
        currency=raw.get("currency", "EUR"),
        seller=Seller(
            seller["name"],
            seller["country"],
            seller["vat_number"],
            seller["invoice_prefix"],
            Decimal(seller["vat_rate"]),
        ),
        plans={p["code"]: _plan(p) for p in raw["plans"]},
        apps={
            a["code"]: App(
                a["code"], a["name"], Decimal(a["monthly_fee"]), tuple(sorted((a.get("fee_label") or {}).items()))
            )
            for a in raw.get("apps", [])
        },
        addons={
            a["code"]: AddOn(a["code"], a["name"], {p["code"]: _plan(p) for p in a["plans"]})
            for a in raw.get("addons", [])
        },
    )
    if catalogue.currency != "EUR":
        raise ValueError("only EUR catalogues are supported")
    return catalogue
