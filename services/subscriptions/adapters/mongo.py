"""The subscriptions service's collections: accounts, invoices, the invoice-number counters, applied-command
and tick markers, the catalogue, and an outbox of messages to publish.

Every change is one transaction: the new account (guarded by its version), the invoices it issues (each
numbered from the seller's counter, so numbers are sequential without gaps), the messages it causes (in
the outbox) and the marker of what was applied. Messages are published after the commit and marked sent;
anything left unsent by a crash is published again by the outbox relay, and every consumer is idempotent.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.idempotency import is_duplicate_key
from shared.mongo import AsyncMongoClient, Document, in_transaction

from ..domain.model import Account, Invoice
from ..domain.rules import Outcome
from .codec import account_from_doc, account_to_doc, invoice_from_doc, invoice_to_doc

Message = dict[str, Any]
"""{"id": ..., "topic": ..., "key": ..., "payload": {...}}"""
ToMessages = Callable[[Outcome, list[Invoice]], list[Message]]


RUNNING = ["active", "cancelling"]


class VersionConflict(Exception):
    pass


def _outbox_docs(messages: list[Message]) -> list[Document]:
    """Outbox documents, stamped with the time they are written by this process's clock: the relay's measure of
    what a crash left unsent. Not the business time the messages speak of (a tick's `emitted_at`, a command's
    `issued_at`), which can be far from now: a simulated year, a catch-up after downtime, a skewed client."""
    written = datetime.now(UTC)
    return [{"_id": m["id"], **m, "published": False, "created_at": written} for m in messages]


class MongoSubscriptionStore:
    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document]) -> None:
        self._client = client
        self._accounts = db["accounts"]
        self._invoices = db["invoices"]
        self._counters = db["counters"]
        self._applied = db["applied"]
        self._outbox = db["outbox"]
        self._catalogue = db["catalogue"]
        self._ticks = db["ticks"]

    async def create_indexes(self) -> None:
        await self._invoices.create_index([("number", ASCENDING)], unique=True, sparse=True)
        await self._invoices.create_index([("tenant_id", ASCENDING), ("issued_on", DESCENDING)])
        await self._invoices.create_index([("payment_id", ASCENDING)])
        await self._outbox.create_index([("published", ASCENDING), ("created_at", ASCENDING)])
        await self._accounts.create_index([("status", ASCENDING)])
        await self._accounts.create_index([("next_due", ASCENDING)])
        await self._add_next_due()

    async def _add_next_due(self) -> None:
        """Accounts stored before `next_due` existed get it (any worker may do it; a concurrent change wins)."""
        async for doc in self._accounts.find({"next_due": {"$exists": False}}):
            due = account_to_doc(account_from_doc(doc, doc["_id"]))["next_due"]
            await self._accounts.update_one(
                {"_id": doc["_id"], "version": doc.get("version", 0), "next_due": {"$exists": False}},
                {"$set": {"next_due": due}},
            )

    # -- catalogue --------------------------------------------------------------------------------------

    async def catalogue(self) -> dict[str, Any] | None:
        doc = await self._catalogue.find_one({"_id": "current"})
        return doc["document"] if doc else None

    async def offer_catalogue(self, document: dict[str, Any]) -> bool:
        """Keep `document` if its version is newer than the stored one."""
        version = int(document["version"])
        try:
            result = await self._catalogue.update_one(
                {"_id": "current", "version": {"$lt": version}},
                {"$set": {"version": version, "document": document}},
                upsert=True,
            )
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return result.modified_count > 0 or result.upserted_id is not None

    # -- applying ---------------------------------------------------------------------------------------

    async def _number(self, prefix: str, year: int, session: AsyncClientSession) -> str:
        counter = await self._counters.find_one_and_update(
            {"_id": f"{prefix}-{year}"},
            {"$inc": {"next": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        assert counter is not None
        return f"{prefix}-{year}-{counter['next']:06d}"

    async def apply(
        self,
        tenant_id: str,
        marker: str,
        fingerprint: str,
        decide: Callable[[Account], Outcome],
        to_messages: ToMessages,
        *,
        invoice_prefix: str,
        at: datetime,
    ) -> tuple[str, list[Message]]:
        """Apply once per marker. Returns ("applied" | "duplicate" | "conflict", the messages to publish)."""
        marker_id = f"{tenant_id}|{marker}"
        if (seen := await self._seen(marker_id, fingerprint)) is not None:
            return seen

        async def work(session: AsyncClientSession) -> tuple[str, list[Message]]:
            current = account_from_doc(await self._accounts.find_one({"_id": tenant_id}, session=session), tenant_id)
            outcome = decide(current)
            numbered = []
            for invoice in outcome.invoices:
                number = await self._number(invoice_prefix, invoice.issued_on.year, session)
                numbered.append(replace(invoice, number=number))
            messages = to_messages(outcome, numbered)
            for invoice in numbered:
                doc = invoice_to_doc(invoice)
                doc["payment_id"] = payment_id_of(invoice)
                await self._invoices.insert_one(doc, session=session)
            if outcome.account != current:
                updated = replace(outcome.account, version=current.version + 1)
                if current.version == 0:
                    await self._accounts.insert_one(account_to_doc(updated), session=session)
                else:
                    result = await self._accounts.replace_one(
                        {"_id": tenant_id, "version": current.version}, account_to_doc(updated), session=session
                    )
                    if result.matched_count == 0:
                        raise VersionConflict(tenant_id)
            if messages:
                await self._outbox.insert_many(_outbox_docs(messages), session=session)
            await self._applied.insert_one(
                {"_id": marker_id, "fingerprint": fingerprint, "message_ids": [m["id"] for m in messages], "at": at},
                session=session,
            )
            return "applied", messages

        for _ in range(20):
            try:
                return await in_transaction(self._client, work)
            except VersionConflict:
                continue
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
                if (seen := await self._seen(marker_id, fingerprint)) is not None:
                    return seen
                raise  # a clash on anything but the marker (an invoice id) is a bug: retrying cannot help
        raise VersionConflict(f"{tenant_id}: account kept changing under {marker}")

    async def _seen(self, marker_id: str, fingerprint: str) -> tuple[str, list[Message]] | None:
        marker = await self._applied.find_one({"_id": marker_id})
        if marker is None:
            return None
        if marker["fingerprint"] != fingerprint:
            return "conflict", []
        found = [d async for d in self._outbox.find({"_id": {"$in": marker["message_ids"]}})]
        order = {mid: i for i, mid in enumerate(marker["message_ids"])}
        found.sort(key=lambda d: order[d["_id"]])
        return "duplicate", [{k: d[k] for k in ("id", "topic", "key", "payload")} for d in found]

    async def settle_invoice(
        self,
        payment_id: str,
        tenant_id: str,
        *,
        paid: bool,
        reason: str | None,
        at: datetime,
        to_messages: Callable[[Invoice], list[Message]],
    ) -> tuple[str, list[Message]]:
        """Record a payment outcome on its invoice, once."""
        marker_id = f"{tenant_id}|payment:{payment_id}"
        fingerprint = "paid" if paid else f"failed:{reason}"
        if (seen := await self._seen(marker_id, fingerprint)) is not None:
            return seen

        async def work(session: AsyncClientSession) -> tuple[str, list[Message]]:
            doc = await self._invoices.find_one({"payment_id": payment_id, "tenant_id": tenant_id}, session=session)
            if doc is None:
                return "unknown", []
            status: Literal["paid", "payment_failed"] = "paid" if paid else "payment_failed"
            await self._invoices.update_one(
                {"_id": doc["_id"]},
                {"$set": {"status": status}, "$push": {"history": {"status": status, "reason": reason, "at": at}}},
                session=session,
            )
            messages = to_messages(replace(invoice_from_doc(doc), status=status))
            if messages:
                await self._outbox.insert_many(_outbox_docs(messages), session=session)
            await self._applied.insert_one(
                {"_id": marker_id, "fingerprint": fingerprint, "message_ids": [m["id"] for m in messages], "at": at},
                session=session,
            )
            return "applied", messages

        try:
            return await in_transaction(self._client, work)
        except Exception as exc:
            if is_duplicate_key(exc) and (seen := await self._seen(marker_id, fingerprint)) is not None:
                return seen
            raise

    # -- outbox -----------------------------------------------------------------------------------------

    async def mark_published(self, ids: list[str]) -> None:
        if ids:
            await self._outbox.update_many({"_id": {"$in": ids}}, {"$set": {"published": True}})

    async def unpublished(self, older_than: datetime, limit: int = 500) -> list[Message]:
        cursor = self._outbox.find({"published": False, "created_at": {"$lt": older_than}}).sort(
            "created_at", ASCENDING
        )
        return [{k: d[k] for k in ("id", "topic", "key", "payload")} async for d in cursor.limit(limit)]

    # -- reads ------------------------------------------------------------------------------------------

    async def account(self, tenant_id: str) -> Account:
        return account_from_doc(await self._accounts.find_one({"_id": tenant_id}), tenant_id)

    async def due_tenants(self, day: date) -> AsyncIterator[str]:
        """The tenants with something due on `day` or before (`next_due`, indexed): a day tick reads only
        those, not every subscription. An account stored before it had `next_due` counts as due."""
        stored_before = {"next_due": {"$exists": False}, "status": {"$in": RUNNING}}
        query = {"$or": [{"next_due": {"$lte": day.isoformat()}}, stored_before]}
        async for doc in self._accounts.find(query, {"_id": 1}).batch_size(1000):
            yield doc["_id"]

    async def mark_tick_done(self, tick_id: str, *, at: datetime) -> None:
        """Every tenant the tick concerned has had it applied (each under its own marker)."""
        await self._ticks.update_one({"_id": tick_id}, {"$setOnInsert": {"done_at": at}}, upsert=True)

    async def tick_done(self, tick_id: str) -> bool:
        return await self._ticks.find_one({"_id": tick_id}) is not None

    async def tenants_with_apps(self) -> list[str]:
        return [d["_id"] async for d in self._accounts.find({"apps.0": {"$exists": True}}, {"_id": 1})]

    async def invoices(self, tenant_id: str, *, limit: int = 100, before_number: str | None = None) -> list[Invoice]:
        """Newest first (numbers are sequential); `before_number` is the cursor of the next page."""
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if before_number is not None:
            query["number"] = {"$lt": before_number}
        cursor = self._invoices.find(query).sort([("number", DESCENDING)])
        return [invoice_from_doc(d) async for d in cursor.limit(limit)]

    async def invoice(self, tenant_id: str, number: str) -> Invoice | None:
        doc = await self._invoices.find_one({"tenant_id": tenant_id, "number": number})
        return invoice_from_doc(doc) if doc else None


def payment_id_of(invoice: Invoice) -> str:
    return f"pay:{invoice.invoice_id}"
