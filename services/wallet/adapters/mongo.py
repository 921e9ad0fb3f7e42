"""The wallet's MongoDB collections: wallets, ledger entries and applied-command markers."""

from dataclasses import asdict
from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.idempotency import is_duplicate_key
from shared.mongo import AsyncMongoClient, Document, in_transaction

from ..domain.events import EntryRecorded
from ..domain.model import LedgerEntry, Policy, Wallet
from ..ports import Applied, Decision, WireEvents


class VersionConflict(Exception):
    """Another worker changed the wallet between our read and our write: retry the command."""


def _wallet_from(doc: Document | None, tenant_id: str) -> Wallet:
    if doc is None:
        return Wallet(tenant_id=tenant_id)
    policy = doc.get("policy") or {}
    return Wallet(
        tenant_id=tenant_id,
        balance=doc["balance"],
        version=doc["version"],
        policy=Policy(kind=policy.get("kind", "hard"), overdraft_limit=policy.get("overdraft_limit", 0)),
        thresholds=tuple(doc.get("thresholds", Wallet(tenant_id).thresholds)),
    )


def _entry_from(doc: Document) -> LedgerEntry:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return LedgerEntry(entry_id=doc["_id"], **fields)


class MongoWalletStore:
    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document]) -> None:
        self._client = client
        self._wallets = db["wallets"]
        self._ledger = db["ledger"]
        self._applied = db["applied_commands"]

    async def create_indexes(self) -> None:
        await self._ledger.create_index([("tenant_id", ASCENDING), ("recorded_at", DESCENDING)])
        await self._applied.create_index([("tenant_id", ASCENDING)])

    @staticmethod
    def _marker_id(tenant_id: str, command_id: str) -> str:
        return f"{tenant_id}|{command_id}"

    async def _already(self, marker_id: str, fingerprint: str) -> Applied | None:
        marker = await self._applied.find_one({"_id": marker_id})
        if marker is None:
            return None
        if marker["fingerprint"] != fingerprint:
            return Applied("conflict", [])
        return Applied("duplicate", marker["events"])

    async def apply(
        self,
        tenant_id: str,
        command_id: str,
        fingerprint: str,
        decide: Decision,
        to_wire: WireEvents,
        *,
        at: datetime,
    ) -> Applied:
        marker_id = self._marker_id(tenant_id, command_id)
        if (seen := await self._already(marker_id, fingerprint)) is not None:
            return seen

        async def work(session: AsyncClientSession) -> Applied:
            current = _wallet_from(await self._wallets.find_one({"_id": tenant_id}, session=session), tenant_id)
            updated, events = decide(current)
            wire = to_wire(updated, events)
            await self._applied.insert_one(
                {
                    "_id": marker_id,
                    "tenant_id": tenant_id,
                    "command_id": command_id,
                    "fingerprint": fingerprint,
                    "events": wire,
                    "recorded_at": at,
                },
                session=session,
            )
            entries = [asdict(e.entry) for e in events if isinstance(e, EntryRecorded)]
            if entries:
                await self._ledger.insert_many([{"_id": e.pop("entry_id"), **e} for e in entries], session=session)
            if updated.version != current.version:
                result = await self._wallets.update_one(
                    {"_id": tenant_id, "version": current.version},
                    {"$set": {"balance": updated.balance, "version": updated.version}},
                    upsert=current.version == 0,
                    session=session,
                )
                if result.matched_count == 0 and result.upserted_id is None:
                    raise VersionConflict(tenant_id)
            return Applied("applied", wire, updated)

        for _ in range(20):
            try:
                return await in_transaction(self._client, work)
            except VersionConflict:
                continue
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
                # Another worker applied the same command first, or created the wallet concurrently.
                if (seen := await self._already(marker_id, fingerprint)) is not None:
                    return seen
        raise VersionConflict(f"{tenant_id}: wallet kept changing under command {command_id}")

    async def wallet(self, tenant_id: str) -> Wallet:
        return _wallet_from(await self._wallets.find_one({"_id": tenant_id}), tenant_id)

    async def ledger(self, tenant_id: str, *, limit: int = 50, skip: int = 0) -> list[LedgerEntry]:
        cursor = (
            self._ledger.find({"tenant_id": tenant_id})
            .sort([("recorded_at", DESCENDING), ("_id", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [_entry_from(doc) async for doc in cursor]

    async def sum_of_entries(self, tenant_id: str) -> int:
        total = 0
        async for doc in self._ledger.find({"tenant_id": tenant_id}, {"amount": 1}):
            total += doc["amount"]
        return total

    async def tenant_ids(self) -> list[str]:
        return [doc["_id"] async for doc in self._wallets.find({}, {"_id": 1})]
