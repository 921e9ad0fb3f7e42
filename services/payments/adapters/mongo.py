"""The sandbox's record of charges: one per payment id, so a redelivered request is never charged twice."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.idempotency import is_duplicate_key


class MongoCharges:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._charges = db["charges"]

    async def record_once(self, payment_id: str, tenant_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
        """Store `outcome` as the charge of `payment_id` unless one exists; return the stored outcome."""
        try:
            await self._charges.insert_one({"_id": payment_id, "tenant_id": tenant_id, "outcome": outcome})
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            existing = await self._charges.find_one({"_id": payment_id, "tenant_id": tenant_id})
            if existing is None:
                raise
            stored: dict[str, Any] = existing["outcome"]
            return stored
        return outcome
