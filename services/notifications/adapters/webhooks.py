"""Webhook endpoints, their deliveries and the commands applied, in the notifications database.

`webhook_deliveries` holds one document per (endpoint, event): the unit of at-least-once delivery. Its body is
written once, so every attempt and replay sends the same bytes with the same event id; its `log` keeps the last
attempts (when, HTTP status or error, duration)."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.idempotency import is_duplicate_key
from shared.mongo import Document, in_transaction

from ..domain.webhooks import Endpoint, Refused

LOG_KEPT = 25
"""Attempts kept in a delivery's log (the newest)."""


def endpoint_from(doc: Document) -> Endpoint:
    return Endpoint(
        endpoint_id=doc["_id"],
        url=doc["url"],
        event_types=tuple(doc["event_types"]),
        tenant_ids=tuple(doc["tenant_ids"]) if doc.get("tenant_ids") is not None else None,
        alert_emails=tuple(doc.get("alert_emails", ())),
        salt=doc["salt"],
        description=doc.get("description"),
        enabled=doc.get("enabled", True),
        disabled_reason=doc.get("disabled_reason"),
        created_at=doc.get("created_at"),
    )


def _endpoint_doc(endpoint: Endpoint) -> Document:
    doc = asdict(endpoint)
    doc["_id"] = doc.pop("endpoint_id")
    for name in ("event_types", "alert_emails"):
        doc[name] = list(doc[name])
    doc["tenant_ids"] = list(endpoint.tenant_ids) if endpoint.tenant_ids is not None else None
    return doc


class MongoWebhookStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._endpoints = db["webhook_endpoints"]
        self._deliveries = db["webhook_deliveries"]
        self._applied = db["webhook_commands"]

    async def create_indexes(self) -> None:
        await self._deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self._deliveries.create_index([("endpoint_id", ASCENDING), ("created_at", DESCENDING)])

    # -- endpoints -------------------------------------------------------------------------------------------

    async def endpoints(self) -> list[Endpoint]:
        return [endpoint_from(d) async for d in self._endpoints.find({}).sort("_id", ASCENDING)]

    async def endpoint(self, endpoint_id: str) -> Endpoint | None:
        doc = await self._endpoints.find_one({"_id": endpoint_id})
        return endpoint_from(doc) if doc else None

    async def endpoint_docs(self) -> list[Document]:
        return [d async for d in self._endpoints.find({}).sort("_id", ASCENDING)]

    async def endpoint_doc(self, endpoint_id: str) -> Document | None:
        return await self._endpoints.find_one({"_id": endpoint_id})

    async def endpoint_health(self, endpoint_id: str) -> Document | None:
        """What the sender knows of an endpoint: since when it fails, when it last succeeded."""
        return await self._endpoints.find_one(
            {"_id": endpoint_id}, {"failing_since": 1, "last_success_at": 1, "disabled_at": 1}
        )

    async def applied(self, command_id: str) -> Document | None:
        return await self._applied.find_one({"_id": command_id})

    async def apply(
        self,
        command_id: str,
        endpoint_id: str,
        decide: Any,
        *,
        at: datetime,
        replay: dict[str, Any] | None = None,
    ) -> Document:
        """Apply one command once: read the endpoint, `decide(endpoint)` -> Endpoint | None (deleted) | Refused,
        write it, and the command's outcome, in one transaction. A command applied before answers its outcome."""

        async def work(session: AsyncClientSession) -> Document:
            done = await self._applied.find_one({"_id": command_id}, session=session)
            if done is not None:
                return dict(done)
            doc = await self._endpoints.find_one({"_id": endpoint_id}, session=session)
            outcome: Document = {"_id": command_id, "endpoint_id": endpoint_id, "at": at}
            decided = decide(endpoint_from(doc) if doc else None)
            if isinstance(decided, Refused):
                outcome |= {"status": "refused", "reason": decided.reason, "detail": decided.detail}
            elif decided is None:
                await self._endpoints.delete_one({"_id": endpoint_id}, session=session)
                outcome |= {"status": "applied", "deleted": True}
            else:
                fields = _endpoint_doc(decided)
                if decided.enabled and doc is not None and not doc.get("enabled", True):
                    fields |= {"failing_since": None, "disabled_at": None}  # re-enabled: its failures are forgotten
                await self._endpoints.update_one({"_id": endpoint_id}, {"$set": fields}, upsert=True, session=session)
                if not decided.enabled and (doc is None or doc.get("enabled", True)):
                    await self._deliveries.update_many(
                        {"endpoint_id": endpoint_id, "status": "pending"}, {"$set": {"status": "held"}}, session=session
                    )
                outcome |= {"status": "applied"}
                if replay is not None:
                    outcome["replayed"] = await self._replay(endpoint_id, replay, at, session)
            await self._applied.insert_one(outcome, session=session)
            return outcome

        return await in_transaction(self._db.client, work)

    async def _replay(self, endpoint_id: str, which: dict[str, Any], at: datetime, session: AsyncClientSession) -> int:
        query: Document = {"endpoint_id": endpoint_id}
        if which.get("delivery_id"):
            query["_id"] = which["delivery_id"]
        span = {k: v for k, v in (("$gte", which.get("since")), ("$lt", which.get("until"))) if v is not None}
        if span:
            query["created_at"] = span
        result = await self._deliveries.update_many(
            query,
            {
                "$set": {"status": "pending", "next_attempt_at": at, "first_attempt_at": None, "attempts": 0},
                "$inc": {"replays": 1},
            },
            session=session,
        )
        return int(result.modified_count)

    async def disable(self, endpoint_id: str, *, reason: str, at: datetime) -> bool:
        """Disable a failing endpoint and hold its pending deliveries. True if this call disabled it."""
        result = await self._endpoints.update_one(
            {"_id": endpoint_id, "enabled": True},
            {"$set": {"enabled": False, "disabled_reason": reason, "disabled_at": at}},
        )
        if result.modified_count == 0:
            return False
        await self._deliveries.update_many(
            {"endpoint_id": endpoint_id, "status": "pending"}, {"$set": {"status": "held"}}
        )
        return True

    # -- deliveries ------------------------------------------------------------------------------------------

    async def add(self, deliveries: list[Document]) -> int:
        """Record deliveries once each (by id): a redelivered event adds nothing. Returns how many are new."""
        if not deliveries:
            return 0
        try:
            result = await self._deliveries.insert_many(deliveries, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            if not is_duplicate_key(exc):
                raise
            return int(exc.details.get("nInserted", 0))

    async def claim_due(self, *, now: datetime, lease_until: datetime) -> Document | None:
        """Take one due delivery, pushing its next attempt to `lease_until` so that no other sender takes it (and
        a sender that dies mid-send leaves it to be sent again then: at least once)."""
        doc = await self._deliveries.find_one_and_update(
            {"status": "pending", "next_attempt_at": {"$lte": now}},
            {"$set": {"next_attempt_at": lease_until}, "$inc": {"attempts": 1}},
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None and doc.get("first_attempt_at") is None:
            await self._deliveries.update_one({"_id": doc["_id"]}, {"$set": {"first_attempt_at": now}})
            doc["first_attempt_at"] = now
        return doc

    async def record(
        self,
        delivery_id: str,
        endpoint_id: str,
        *,
        at: datetime,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        outcome: str,
        next_attempt_at: datetime | None = None,
    ) -> datetime | None:
        """Log one attempt and its outcome (`delivered`, `pending` with the next attempt, or `failed`), and keep
        the endpoint's health. Returns since when the endpoint has been failing (None: it just succeeded)."""
        entry = {"at": at, "status_code": status_code, "error": error, "duration_ms": duration_ms}
        fields: Document = {"status": outcome, "last_status_code": status_code, "last_error": error}
        if outcome == "delivered":
            fields["delivered_at"] = at
        if next_attempt_at is not None:
            fields["next_attempt_at"] = next_attempt_at
        await self._deliveries.update_one(
            {"_id": delivery_id}, {"$set": fields, "$push": {"log": {"$each": [entry], "$slice": -LOG_KEPT}}}
        )
        if outcome == "delivered":
            await self._endpoints.update_one(
                {"_id": endpoint_id}, {"$set": {"failing_since": None, "last_success_at": at}}
            )
            return None
        await self._endpoints.update_one({"_id": endpoint_id, "failing_since": None}, {"$set": {"failing_since": at}})
        health = await self.endpoint_health(endpoint_id)
        return health.get("failing_since") if health else None

    async def deliveries(
        self, endpoint_id: str, *, status: str | None = None, limit: int = 50, before: tuple[Any, str] | None = None
    ) -> list[Document]:
        """An endpoint's deliveries, newest first; `before` is the (created_at, id) of the previous page's last."""
        query: Document = {"endpoint_id": endpoint_id}
        if status:
            query["status"] = status
        if before is not None:
            query["$or"] = [
                {"created_at": {"$lt": before[0]}},
                {"created_at": before[0], "_id": {"$lt": before[1]}},
            ]
        cursor = self._deliveries.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [d async for d in cursor]

    async def delivery(self, delivery_id: str) -> Document | None:
        return await self._deliveries.find_one({"_id": delivery_id})
