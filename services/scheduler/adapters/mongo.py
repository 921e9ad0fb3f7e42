"""The scheduler's lease (one active scheduler among replicas) and the last day it emitted."""

from datetime import date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.idempotency import is_duplicate_key


class MongoLease:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], name: str = "scheduler") -> None:
        self._leases = db["leases"]
        self._state = db["scheduler_state"]
        self._name = name

    async def acquire(self, holder: str, *, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease. Another holder's lease is taken only once it has expired."""
        try:
            await self._leases.update_one(
                {"_id": self._name, "$or": [{"holder": holder}, {"expires_at": {"$lt": now}}]},
                {"$set": {"holder": holder, "expires_at": now + ttl}},
                upsert=True,
            )
        except Exception as exc:
            if is_duplicate_key(exc):  # someone else holds a live lease
                return False
            raise
        return True

    async def release(self, holder: str) -> None:
        await self._leases.delete_one({"_id": self._name, "holder": holder})

    async def last_emitted(self) -> date | None:
        doc = await self._state.find_one({"_id": self._name})
        return date.fromisoformat(doc["last_day"]) if doc else None

    async def record_emitted(self, day: date) -> None:
        await self._state.update_one({"_id": self._name}, {"$set": {"last_day": day.isoformat()}}, upsert=True)
