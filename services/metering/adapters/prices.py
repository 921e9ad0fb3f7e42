"""Metering's copy of the tenants' price versions, projected from the compacted `metering.prices` topic."""

from decimal import Decimal
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from schemas.prices import PriceSet, price_key

from ..domain.model import DEFAULT_DISTINCT, MeterPrice, Tier


def meter_price_from(change: PriceSet) -> MeterPrice:
    tiers = tuple(Tier(t.up_to, t.unit_price) for t in change.tiers or ())
    return MeterPrice(
        unit_price=change.unit_price if change.unit_price is not None else Decimal(0),
        entry_type=change.entry_type or change.meter,
        per_property=change.per_property,
        tiers=tiers,
        effective_from=change.effective_from,
        distinct=tuple(change.distinct) if change.distinct is not None else DEFAULT_DISTINCT,
    )


class MongoPriceStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._prices = db["prices"]

    async def create_indexes(self) -> None:
        await self._prices.create_index([("tenant_id", ASCENDING)])

    async def upsert(self, change: PriceSet) -> None:
        """Idempotent: the same version (tenant, meter, effective_from) is stored once, the latest wins."""
        await self._prices.replace_one(
            {"_id": price_key(change)},
            {"tenant_id": change.tenant_id, "meter": change.meter, "change": change.model_dump(mode="json")},
            upsert=True,
        )

    async def versions(self, tenant_id: str) -> dict[str, list[MeterPrice]]:
        return (await self.versions_of([tenant_id]))[tenant_id]

    async def versions_of(self, tenant_ids: list[str]) -> dict[str, dict[str, list[MeterPrice]]]:
        """Each tenant's price versions per meter, in one read for a whole batch."""
        found: dict[str, dict[str, list[MeterPrice]]] = {t: {} for t in tenant_ids}
        async for doc in self._prices.find({"tenant_id": {"$in": list(found)}}):
            change = PriceSet.model_validate(doc["change"])
            found[change.tenant_id].setdefault(change.meter, []).append(meter_price_from(change))
        return found

    async def changes(self, tenant_id: str) -> list[PriceSet]:
        cursor = self._prices.find({"tenant_id": tenant_id}).sort([("meter", ASCENDING), ("_id", ASCENDING)])
        return [PriceSet.model_validate(doc["change"]) async for doc in cursor]
