"""The notification log: one document per (event, recipient), the unit of exactly-once delivery."""

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.idempotency import is_duplicate_key
from shared.mongo import Document

from ..domain.model import Delivery, Notice, Recipient


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def delivery_from(doc: Document) -> Delivery:
    n = doc["notice"]
    notice = Notice(
        event_id=n["event_id"],
        tenant_id=n["tenant_id"],
        tenant_name=n["tenant_name"],
        template=n["template"],
        balance=Decimal(n["balance"]),
        threshold=Decimal(n["threshold"]) if n.get("threshold") is not None else None,
        amount=Decimal(n["amount"]) if n.get("amount") is not None else None,
    )
    return Delivery(doc["_id"], notice, Recipient(**doc["recipient"]))


class MongoNotificationLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._log = db["notification_log"]

    async def create_indexes(self) -> None:
        await self._log.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self._log.create_index([("tenant_id", ASCENDING), ("created_at", DESCENDING)])

    async def add(self, delivery: Delivery, *, at: datetime) -> bool:
        """Record a delivery to make, once. False if this (event, recipient) is already in the log."""
        try:
            await self._log.insert_one(
                {
                    "_id": delivery.delivery_id,
                    "tenant_id": delivery.notice.tenant_id,
                    "event_id": delivery.notice.event_id,
                    "to": delivery.recipient.email,
                    "template": delivery.notice.template,
                    "language": delivery.recipient.language,
                    "notice": _plain(asdict(delivery.notice)),
                    "recipient": asdict(delivery.recipient),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": at,
                    "next_attempt_at": at,
                    "subject": None,
                    "sent_at": None,
                    "last_error": None,
                }
            )
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return True

    async def claim_due(self, *, now: datetime, lease_until: datetime) -> Delivery | None:
        """Take one due delivery, pushing its next attempt to `lease_until` so no other sender takes it."""
        doc = await self._log.find_one_and_update(
            {"status": {"$in": ["pending", "retrying"]}, "next_attempt_at": {"$lte": now}},
            {"$set": {"next_attempt_at": lease_until}, "$inc": {"attempts": 1}},
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return delivery_from(doc) if doc else None

    async def attempts(self, delivery_id: str) -> tuple[int, datetime]:
        doc = await self._log.find_one({"_id": delivery_id}, {"attempts": 1, "created_at": 1})
        assert doc is not None
        return doc["attempts"], doc["created_at"]

    async def mark_sent(self, delivery_id: str, *, subject: str, at: datetime) -> None:
        await self._log.update_one(
            {"_id": delivery_id}, {"$set": {"status": "sent", "sent_at": at, "subject": subject, "last_error": None}}
        )

    async def mark_retry(self, delivery_id: str, *, error: str, next_attempt_at: datetime) -> None:
        await self._log.update_one(
            {"_id": delivery_id},
            {"$set": {"status": "retrying", "last_error": error[:500], "next_attempt_at": next_attempt_at}},
        )

    async def mark_failed(self, delivery_id: str, *, error: str) -> None:
        await self._log.update_one({"_id": delivery_id}, {"$set": {"status": "failed", "last_error": error[:500]}})

    async def list(self, tenant_id: str, *, limit: int = 50) -> list[Document]:
        cursor = self._log.find({"tenant_id": tenant_id}, {"notice": 0, "recipient": 0})
        return [d async for d in cursor.sort([("created_at", DESCENDING)]).limit(limit)]
