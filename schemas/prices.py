"""Price changes (on the compacted `metering.prices` topic, keyed by `<tenant>|<meter>|<effective_from>`, so
compaction keeps every version).

A tenant's price for a meter from `effective_from` on; usage is priced by the version in effect at the
event's `occurred_at`. Versions accumulate: a later `effective_from` takes over from that instant, and
republishing the same change is harmless (its key is tenant, meter and effective_from).
"""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .common import EventId, TenantId, UtcDatetime, WireModel
from .usage import MeterCode

UnitPrice = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6, allow_inf_nan=False)]


class PriceTier(WireModel):
    up_to: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)] | None = Field(
        description="Units of the billing period this tier covers up to; null for the last tier."
    )
    unit_price: UnitPrice


class PriceSet(WireModel):
    schema_version: Literal[1] = 1
    kind: Literal["price.set"] = "price.set"
    change_id: EventId
    tenant_id: TenantId
    meter: MeterCode
    effective_from: UtcDatetime
    unit_price: UnitPrice | None = None
    tiers: Annotated[list[PriceTier], Field(max_length=20)] | None = Field(
        default=None, description="Graduated tiers within the billing period, in increasing up_to."
    )
    entry_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")] | None = Field(
        default=None, description="What the ledger shows; defaults to the meter code."
    )
    per_property: Annotated[str, Field(max_length=64)] | None = None
    distinct: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=8)] | None = None
    issued_at: UtcDatetime

    @model_validator(mode="after")
    def _one_way_to_price(self) -> "PriceSet":
        if (self.unit_price is None) == (self.tiers is None):
            raise ValueError("give either unit_price or tiers")
        if self.tiers is not None:
            bounds = [t.up_to for t in self.tiers]
            if not bounds or bounds[-1] is not None or None in bounds[:-1]:
                raise ValueError("tiers need up_to on every tier but the last, which has none")
            finite = [b for b in bounds[:-1] if b is not None]
            if finite != sorted(finite) or len(set(finite)) != len(finite):
                raise ValueError("tiers must be in strictly increasing up_to")
        return self


def price_key(change: PriceSet) -> str:
    return f"{change.tenant_id}|{change.meter}|{change.effective_from.isoformat()}"
