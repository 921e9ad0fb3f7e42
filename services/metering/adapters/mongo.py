"""Metering's MongoDB collections: usage records (the dedup records), usage aggregates per tenant, meter and
billing period, and the distinct values the aggregates count."""

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from schemas.money import display, from_micros, to_micros
from schemas.usage import UsageEvent
from shared.idempotency import is_duplicate_key
from shared.mongo import AsyncMongoClient, Document, in_transaction

from ..domain.model import Period, Priced
from ..ports import Recorded


def _quantity_micros(value: Decimal) -> int:
    return to_micros(value)


class MongoUsageStore:
    def __init__(
        self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document], *, dedup_window: timedelta
    ) -> None:
        self._client = client
        self._records = db["usage_records"]
        self._aggregates = db["usage_aggregates"]
        self._distinct = db["usage_distinct"]
        self._window = dedup_window

    async def create_indexes(self) -> None:
        # Records expire after the dedup window (counted from when they were received).
        await self._records.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self._records.create_index([("tenant_id", ASCENDING), ("period", ASCENDING)])
        await self._aggregates.create_index([("tenant_id", ASCENDING), ("period", ASCENDING)])
        await self._distinct.create_index([("tenant_id", ASCENDING), ("meter", ASCENDING), ("period", ASCENDING)])

    async def _seen(self, record_id: str, fingerprint: str) -> Recorded | None:
        doc = await self._records.find_one({"_id": record_id})
        if doc is None:
            return None
        if doc["fingerprint"] != fingerprint:
            return Recorded("conflict", Decimal(0), doc["entry_type"])
        return Recorded("duplicate", from_micros(doc["amount"]), doc["entry_type"])

    async def record(
        self,
        event: UsageEvent,
        fingerprint: str,
        period: Period,
        pricing: Callable[[Decimal], Priced],
        *,
        at: datetime,
    ) -> Recorded:
        record_id = f"{event.tenant_id}|{event.event_id}"
        if (seen := await self._seen(record_id, fingerprint)) is not None:
            return seen
        aggregate_id = f"{event.tenant_id}|{event.type}|{period.key}"

        async def work(session: AsyncClientSession) -> Recorded:
            aggregate = await self._aggregates.find_one({"_id": aggregate_id}, {"units": 1}, session=session)
            priced = pricing(from_micros(aggregate["units"]) if aggregate else Decimal(0))
            amount = to_micros(priced.amount)
            await self._records.insert_one(
                {
                    "_id": record_id,
                    "tenant_id": event.tenant_id,
                    "event_id": event.event_id,
                    "fingerprint": fingerprint,
                    "meter": event.type,
                    "entry_type": priced.entry_type,
                    "quantity": str(event.quantity),
                    "amount": amount,
                    "period": period.key,
                    "occurred_at": event.occurred_at,
                    "received_at": at,
                    "expires_at": at + self._window,
                },
                session=session,
            )
            await self._aggregates.update_one(
                {"_id": aggregate_id},
                {
                    "$inc": {
                        "count": 1,
                        "amount": amount,
                        "quantity": _quantity_micros(event.quantity),
                        "units": _quantity_micros(priced.units),
                    },
                    "$max": {"max_quantity": _quantity_micros(event.quantity)},
                    "$setOnInsert": {
                        "tenant_id": event.tenant_id,
                        "meter": event.type,
                        "period": period.key,
                        "period_start": period.start,
                        "period_end": period.end,
                        "rejected_count": 0,
                        "rejected_amount": 0,
                    },
                },
                upsert=True,
                session=session,
            )
            for name, value in priced.distinct.items():
                await self._distinct.update_one(
                    {"_id": f"{aggregate_id}|{name}|{value}"},
                    {
                        "$setOnInsert": {
                            "tenant_id": event.tenant_id,
                            "meter": event.type,
                            "period": period.key,
                            "name": name,
                        }
                    },
                    upsert=True,
                    session=session,
                )
            return Recorded("new", priced.amount, priced.entry_type)

        try:
            return await in_transaction(self._client, work)
        except Exception as exc:
            if is_duplicate_key(exc) and (seen := await self._seen(record_id, fingerprint)) is not None:
                return seen
            raise

    async def mark_rejected(self, tenant_id: str, event_id: str) -> bool:
        """The wallet refused the debit of this event (hard policy, not enough credits): count it as
        rejected in its period, once. Returns whether this call marked it."""
        record_id = f"{tenant_id}|{event_id}"

        async def work(session: AsyncClientSession) -> bool:
            record = await self._records.find_one_and_update(
                {"_id": record_id, "rejected": {"$ne": True}}, {"$set": {"rejected": True}}, session=session
            )
            if record is None:
                return False
            await self._aggregates.update_one(
                {"_id": f"{tenant_id}|{record['meter']}|{record['period']}"},
                {"$inc": {"rejected_count": 1, "rejected_amount": record["amount"]}},
                session=session,
            )
            return True

        return await in_transaction(self._client, work)

    async def recorded_amounts(self, tenant_id: str) -> dict[str, int]:
        """Event id -> priced micro-credits of every usage record of a tenant still in the dedup window."""
        return {d["event_id"]: d["amount"] async for d in self._records.find({"tenant_id": tenant_id})}

    async def usage(self, tenant_id: str, period: str | None = None) -> list[dict[str, Any]]:
        """Usage per meter and period. `period` is a period key (YYYY-MM-DD) or a month (YYYY-MM): the periods
        starting in it."""
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if period:
            query["period"] = period if len(period) > 7 else {"$regex": f"^{period}-"}
        distinct: dict[tuple[str, str], dict[str, int]] = {}
        pipeline: list[dict[str, Any]] = [
            {"$match": query},
            {"$group": {"_id": {"meter": "$meter", "period": "$period", "name": "$name"}, "n": {"$sum": 1}}},
        ]
        async for row in await self._distinct.aggregate(pipeline):
            key = (row["_id"]["meter"], row["_id"]["period"])
            distinct.setdefault(key, {})[row["_id"]["name"]] = row["n"]
        rows = []
        async for d in self._aggregates.find(query).sort([("period", ASCENDING), ("meter", ASCENDING)]):
            rejected = d.get("rejected_amount", 0)
            rows.append(
                {
                    "meter": d["meter"],
                    "period": d["period"],
                    "period_start": d.get("period_start"),
                    "period_end": d.get("period_end"),
                    "count": d["count"],
                    "quantity": display(d.get("quantity", 0)),
                    "max_quantity": display(d.get("max_quantity", 0)),
                    "units": display(d.get("units", 0)),
                    "credits": display(d["amount"]),
                    "charged": display(d["amount"] - rejected),
                    "rejected_count": d.get("rejected_count", 0),
                    "distinct": distinct.get((d["meter"], d["period"]), {}),
                }
            )
        return rows
