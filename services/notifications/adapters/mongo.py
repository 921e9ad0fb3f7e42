"""The notification log: one document per (event, recipient), the unit of exactly-once delivery."""

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from schemas.money import from_micros, to_micros
from shared.idempotency import is_duplicate_key
from shared.mongo import Document, in_transaction

from ..domain.model import Delivery, Fact, Notice, Recipient
from ..ports import Merged


def _doc(delivery: Delivery) -> Document:
    return {"notice": asdict(delivery.notice), "recipient": asdict(delivery.recipient)}


def delivery_from(doc: Document) -> Delivery:
    n = doc["notice"]
    facts = tuple(Fact(**f) for f in n.get("facts", ()))
    digest = doc.get("digest")
    if digest:  # the figures of a digest are the sums kept on the document
        sums = {
            "count": Fact("count", "count", str(digest["count"])),
            "amount": Fact("amount", "credits", str(from_micros(digest["amount_micros"]))),
            "balance": Fact("balance", "credits", digest["balance"]),
        }
        facts = tuple(sums.get(f.name, f) for f in facts)
    notice = Notice(
        event_id=n["event_id"],
        tenant_id=n["tenant_id"],
        tenant_name=n["tenant_name"],
        template=n["template"],
        facts=facts,
        digest=n.get("digest", False),
    )
    return Delivery(doc["_id"], notice, Recipient(**doc["recipient"]))


class MongoNotificationLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._log = db["notification_log"]
        self._digested = db["digested_events"]

    async def create_indexes(self) -> None:
        await self._log.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self._log.create_index([("tenant_id", ASCENDING), ("created_at", DESCENDING)])
        await self._log.create_index([("tenant_id", ASCENDING), ("to", ASCENDING), ("sent_at", DESCENDING)])

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
                    **_doc(delivery),
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

    async def merge(self, delivery: Delivery, *, at: datetime, due_at: datetime) -> Merged:
        """Add one event to a digest delivery (created if new, sent at `due_at`), once per (event, recipient).

        `already`: this event was counted for this recipient before; `closed`: that digest has been claimed
        for sending, or sent (the caller tries the next window)."""
        notice = delivery.notice
        marker = f"{notice.tenant_id}|{notice.event_id}|{delivery.recipient.email}"
        amount = to_micros(Decimal(notice.fact("amount") or "0"))

        async def work(session: AsyncClientSession) -> Merged:
            await self._digested.insert_one({"_id": marker, "digest": delivery.delivery_id, "at": at}, session=session)
            # Only into a digest no sender has claimed (a claim counts an attempt): the sender renders the
            # document it claimed, so an event counted in after that would be marked sent, yet not be in the mail.
            result = await self._log.update_one(
                {"_id": delivery.delivery_id, "status": "pending", "attempts": 0},
                {
                    "$inc": {"digest.count": 1, "digest.amount_micros": amount},
                    "$set": {"digest.balance": notice.fact("balance") or "0"},
                    "$setOnInsert": {
                        "tenant_id": notice.tenant_id,
                        "event_id": notice.event_id,
                        "to": delivery.recipient.email,
                        "template": notice.template,
                        "language": delivery.recipient.language,
                        **_doc(delivery),
                        "attempts": 0,
                        "created_at": at,
                        "next_attempt_at": due_at,
                        "subject": None,
                        "sent_at": None,
                        "last_error": None,
                    },
                },
                upsert=True,
                session=session,
            )
            return "merged" if result.modified_count > 0 or result.upserted_id is not None else "closed"

        try:
            return await in_transaction(self._db.client, work)
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        notice = delivery.notice
        return (
            "already"
            if await self.already_digested(notice.tenant_id, notice.event_id, delivery.recipient.email)
            else "closed"
        )

    async def already_digested(self, tenant_id: str, event_id: str, email: str) -> bool:
        return await self._digested.find_one({"_id": f"{tenant_id}|{event_id}|{email}"}) is not None

    async def sent_since(self, tenant_id: str, email: str, since: datetime) -> int:
        return await self._log.count_documents(
            {"tenant_id": tenant_id, "to": email, "status": "sent", "sent_at": {"$gte": since}}
        )

    async def defer(self, delivery_id: str, *, until: datetime) -> None:
        """Hold a claimed delivery back (rate limit) without counting it as an attempt."""
        await self._log.update_one({"_id": delivery_id}, {"$set": {"next_attempt_at": until}, "$inc": {"attempts": -1}})

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
