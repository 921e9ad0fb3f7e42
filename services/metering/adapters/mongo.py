"""Metering's MongoDB collections: usage records (the dedup records) and usage aggregates."""

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

from ..domain.model import Priced
from ..ports import Recorded


class MongoUsageStore:
    def __init__(
        self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document], *, dedup_window: timedelta
    ) -> None:
        self._client = client
        self._records = db["usage_records"]
        self._aggregates = db["usage_aggregates"]
        self._window = dedup_window

    async def create_indexes(self) -> None:
        # Records expire after the dedup window (counted from when they were received).
        await self._records.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self._records.create_index([("tenant_id", ASCENDING), ("period", ASCENDING)])
        await self._aggregates.create_index([("tenant_id", ASCENDING), ("period", ASCENDING)])

    async def _seen(self, record_id: str, fingerprint: str) -> Recorded | None:
        doc = await self._records.find_one({"_id": record_id})
        if doc is None:
            return None
        if doc["fingerprint"] != fingerprint:
            return Recorded("conflict", Decimal(0), doc["entry_type"])
        return Recorded("duplicate", from_micros(doc["amount"]), doc["entry_type"])

    async def record(self, event: UsageEvent, fingerprint: str, priced: Priced, *, at: datetime) -> Recorded:
        record_id = f"{event.tenant_id}|{event.event_id}"
        if (seen := await self._seen(record_id, fingerprint)) is not None:
            return seen
        amount = to_micros(priced.amount)

        async def work(session: AsyncClientSession) -> Recorded:
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
                    "period": priced.period,
                    "occurred_at": event.occurred_at,
                    "received_at": at,
                    "expires_at": at + self._window,
                },
                session=session,
            )
            await self._aggregates.update_one(
                {"_id": f"{event.tenant_id}|{event.type}|{priced.period}"},
                {
                    "$inc": {"count": 1, "amount": amount},
                    "$setOnInsert": {"tenant_id": event.tenant_id, "meter": event.type, "period": priced.period},
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

    async def usage(self, tenant_id: str, period: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if period:
            query["period"] = period
        return [
            {"meter": d["meter"], "period": d["period"], "count": d["count"], "credits": display(d["amount"])}
            async for d in self._aggregates.find(query).sort([("period", ASCENDING), ("meter", ASCENDING)])
        ]
