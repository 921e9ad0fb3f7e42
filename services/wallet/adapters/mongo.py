"""The wallet's MongoDB collections: wallets, ledger entries and applied-command markers.

A command's marker (its fingerprint and the events it published, replayed on a redelivery) is stored in the
ledger entry the command made when it made one (`entry_id_for(tenant, command id)`): a usage debit then writes
one document, not two. Commands that make no entry of their own (a rejected debit, a refusal, a settings change,
a top-up waiting for its payment) keep a marker document in `applied_commands`. Entries written before markers
moved have none: their markers are in `applied_commands`, which is why a lookup reads both.

When the entry's own `entry.recorded` event is all its command published (a usage debit that crossed no
threshold), the marker keeps the token `OWN_EVENTS` instead of a copy of that event, and a redelivery rebuilds
it from the stored entry (`entry_event.own_events`): the copy was two fifths of the document. The token is kept
only when the rebuilt event equals the published one (`entry_event.are_own_events`), so a replay publishes the
same event either way.

The entries a batch makes for a tenant are stored together, up to `BUCKET_SIZE` to a document (MongoDB's bucket
pattern): `{_id: "<tenant>|<first sequence>", tenant_id, first_sequence, sequence (the last), occurred_at (the
latest), entries: [entry documents, each as it was stored alone]}`. The ledger's indexes then cost once per
bucket, not once per entry, and an entry is found by the unique multikey index on `entries._id`
(`benchmarks/document_costs.py` measures both layouts). Entries stored alone before buckets are read as they
are, as a bucket of one (`entries_of`). Reads never combine the two shapes with `$or`: a query per shape, each
on its own index.
"""

import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.idempotency import is_duplicate_key
from shared.mongo import AsyncMongoClient, Document, ids_of_tenant, in_transaction

from ..batch import Item, Marker, apply_run
from ..domain.events import EntryMark
from ..domain.model import LedgerEntry, Wallet
from ..domain.rules import entry_id_for
from ..entry_event import are_own_events, own_events
from ..ports import Applied, Decision, LedgerQuery, WireEvents
from .codec import entry_from_doc, entry_to_doc, wallet_from_doc, wallet_to_doc

OWN_EVENTS = "own"
"""A marker's `events` when they are exactly its entry's own `entry.recorded` event (`own_events`)."""

BUCKET_SIZE = 100
"""Most entries a ledger document holds. Page reads bound a document's span by it (`_ledger_pipeline`): it may
grow, never shrink."""


def entries_of(doc: Document) -> list[Document]:
    """The entry documents a ledger document holds: a bucket's entries, or itself (an entry stored alone)."""
    entries: list[Document] | None = doc.get("entries")
    return entries if entries is not None else [doc]


def buckets(tenant_id: str, entries: list[Document]) -> list[Document]:
    """A run's entry documents (in sequence order) as the ledger documents that hold them."""
    out = []
    for start in range(0, len(entries), BUCKET_SIZE):
        part = entries[start : start + BUCKET_SIZE]
        out.append(
            {
                "_id": f"{tenant_id}|{part[0]['sequence']:012d}",
                "tenant_id": tenant_id,
                "first_sequence": part[0]["sequence"],
                "sequence": part[-1]["sequence"],
                "occurred_at": max(e["occurred_at"] for e in part),
                "entries": part,
            }
        )
    return out


def _ledger_pipeline(tenant_id: str, query: LedgerQuery | None) -> list[Document]:
    """The tenant's entries matching `query`, newest first. Buckets are read newest first (a tenant's buckets hold
    disjoint runs of sequence numbers) and each one's entries in reverse, so the order needs no sort of entries
    and a page reads only the buckets it needs."""
    outer: Document = {"tenant_id": tenant_id}
    if query is not None and query.before_sequence is not None:
        # a bucket holding an entry before the cursor starts before it, so ends before it + BUCKET_SIZE
        outer["sequence"] = {"$lt": query.before_sequence + BUCKET_SIZE}
    if query is not None and query.since is not None:
        outer["occurred_at"] = {"$gte": query.since}  # a bucket's latest entry, an entry's own time
    return [
        {"$match": outer},
        {"$sort": {"sequence": -1}},
        {"$project": {"_id": 0, "entry": {"$reverseArray": {"$ifNull": ["$entries", ["$$ROOT"]]}}}},
        {"$unwind": "$entry"},
        {"$replaceRoot": {"newRoot": "$entry"}},
        {"$match": ledger_filter(tenant_id, query)},
    ]


def _markers_alone(by_command: Document) -> Document:
    """The filter of entries stored alone that carry a marker whose command id matches `by_command`."""
    return {"command_id": by_command, "fingerprint": {"$exists": True}}


def _markers_in_buckets(by_command: Document, scope: Document) -> list[Document]:
    """The pipeline stages leaving, as `entries`, each bucketed entry that carries a marker whose command id
    matches `by_command` (in the buckets `scope` selects)."""
    return [
        {"$match": {**scope, "entries.command_id": by_command}},
        {"$unwind": "$entries"},
        {"$match": {"entries.command_id": by_command, "entries.fingerprint": {"$exists": True}}},
    ]


def marker_of(doc: Document) -> Marker:
    """The marker a ledger entry or marker document carries."""
    events = doc["events"]
    if events == OWN_EVENTS:
        events = own_events(doc["tenant_id"], entry_from_doc(doc))
    return Marker(doc["fingerprint"], events)


class _Writes:
    """What one batch writes, gathered across its tenants and then written with one call per collection."""

    def __init__(self) -> None:
        self.markers: list[Document] = []
        self.buckets: list[Document] = []
        self.new_wallets: list[Document] = []
        self.guarded: list[ReplaceOne[Document] | UpdateOne] = []
        self.changed: dict[str, Wallet] = {}

    def wallet(self, current: Wallet, final: Wallet, *, guard: bool) -> None:
        tenant_id = current.tenant_id
        if final.version != current.version:
            self.changed[tenant_id] = final
            if current.version == 0:
                self.new_wallets.append(wallet_to_doc(final))
            else:
                self.guarded.append(ReplaceOne({"_id": tenant_id, "version": current.version}, wallet_to_doc(final)))
        elif guard:  # decided on a kept wallet that did not change: prove it was still the stored one
            self.guarded.append(
                UpdateOne({"_id": tenant_id, "version": current.version}, {"$set": {"version": current.version}})
            )

    async def run(self, store: "MongoWalletStore", session: AsyncClientSession) -> None:
        if self.markers:
            await store._applied.insert_many(self.markers, session=session)
        if self.buckets:
            await store._ledger.insert_many(self.buckets, session=session)
        if self.new_wallets:
            await store._wallets.insert_many(self.new_wallets, session=session)
        if self.guarded:
            result = await store._wallets.bulk_write(self.guarded, ordered=False, session=session)
            if result.matched_count != len(self.guarded):
                raise VersionConflict("a wallet changed under the batch")


class VersionConflict(Exception):
    """Another worker changed the wallet between our read and our write: retry the command."""


class AppliedBefore(Exception):
    """A command the batch refused had made an entry before: run the batch again, reading every marker."""


def ledger_filter(tenant_id: str, query: LedgerQuery | None) -> Document:
    """Every read is scoped by tenant first; the filters only narrow it."""
    found: Document = {"tenant_id": tenant_id}
    if query is None:
        return found
    when: Document = {}
    if query.since is not None:
        when["$gte"] = query.since
    if query.until is not None:
        when["$lt"] = query.until
    if when:
        found["occurred_at"] = when
    if query.entry_type is not None:
        found["entry_type"] = query.entry_type
    if query.site is not None:
        found["site"] = query.site
    if query.personnel is not None:
        found["personnel"] = query.personnel
    if query.before_sequence is not None:
        found["sequence"] = {"$lt": query.before_sequence}
    return found


class MongoWalletStore:
    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document], *, cache_size: int = 0) -> None:
        """`cache_size`: how many wallets to keep between batches (the worker's; 0 for readers, which keep none)."""
        self._client = client
        self._cache: OrderedDict[str, Wallet] = OrderedDict()
        self._cache_size = cache_size
        self._wallets = db["wallets"]
        self._ledger = db["ledger"]
        self._applied = db["applied_commands"]
        self._insert_first = True

    async def create_indexes(self) -> None:
        await self._ledger.create_index([("tenant_id", ASCENDING), ("sequence", DESCENDING)])
        await self._ledger.create_index([("tenant_id", ASCENDING), ("occurred_at", DESCENDING)])
        # sparse: entries stored alone (before buckets) have no `entries`
        await self._ledger.create_index([("entries._id", ASCENDING)], unique=True, sparse=True)
        # applied_commands has only its `_id` (<tenant>|<command id>): one marker is written per command, and
        # per-tenant reads go by the `_id` prefix (shared.mongo.ids_of_tenant).
        await self._wallets.create_index([("buckets.expires_at", ASCENDING)])

    @staticmethod
    def _marker_id(tenant_id: str, command_id: str) -> str:
        return f"{tenant_id}|{command_id}"

    @classmethod
    def _marker_doc(cls, tenant_id: str, command_id: str, marker: Marker, at: datetime) -> Document:
        return {
            "_id": cls._marker_id(tenant_id, command_id),
            "tenant_id": tenant_id,
            "command_id": command_id,
            "fingerprint": marker.fingerprint,
            "events": marker.events,
            "recorded_at": at,
        }

    @classmethod
    def _documents(
        cls, tenant_id: str, entries: list[LedgerEntry], markers: dict[str, Marker], at: datetime
    ) -> tuple[list[Document], list[Document]]:
        """A run's entry documents, each carrying the marker of the command that made it, and the marker
        documents of the commands that made no entry."""
        made = {e.entry_id: entry_to_doc(e) for e in entries}
        by_id = {e.entry_id: e for e in entries}
        unmade = []
        for command_id, marker in markers.items():
            entry_id = entry_id_for(tenant_id, command_id)
            if (main := made.get(entry_id)) is not None:
                own = are_own_events(tenant_id, marker.events, by_id[entry_id])
                main["fingerprint"], main["events"] = marker.fingerprint, OWN_EVENTS if own else marker.events
            else:
                unmade.append(cls._marker_doc(tenant_id, command_id, marker, at))
        return list(made.values()), unmade

    async def _entries_by_id(
        self, entry_ids: list[str], session: AsyncClientSession | None = None, *, in_buckets: bool = True
    ) -> list[tuple[str | None, Document]]:
        """The stored entries among `entry_ids`, each with the id of the bucket holding it (None: stored alone).
        `in_buckets=False`: only the entries stored alone."""
        wanted = set(entry_ids)
        found: list[tuple[str | None, Document]] = []
        async for doc in self._ledger.find({"_id": {"$in": entry_ids}}, session=session):
            if "entries" not in doc:
                found.append((None, doc))
        # In lists of at most BUCKET_SIZE ids: a server may check each document the index finds against the list
        # value by value (SecantusDB does), so a redelivered batch, whose entries are all stored, cost ~80 ms per
        # 500 ids asked at once and ~10 ms in lists of 100; a batch of new commands, which finds none, ~2 ms more.
        read: set[str] = set()
        for start in range(0, len(entry_ids) if in_buckets else 0, BUCKET_SIZE):
            part = entry_ids[start : start + BUCKET_SIZE]
            async for doc in self._ledger.find({"entries._id": {"$in": part}}, session=session):
                if doc["_id"] not in read:  # a bucket holding ids of two lists comes back twice
                    read.add(doc["_id"])
                    found += [(doc["_id"], e) for e in doc["entries"] if e["_id"] in wanted]
        return found

    async def marker(self, tenant_id: str, command_id: str) -> Marker | None:
        """How a command was applied (its fingerprint and the events it published), or None if it was not."""
        doc = await self._applied.find_one({"_id": self._marker_id(tenant_id, command_id)})
        if doc is not None:
            return marker_of(doc)
        for _, entry in await self._entries_by_id([entry_id_for(tenant_id, command_id)]):
            if entry["tenant_id"] == tenant_id and "fingerprint" in entry:
                return marker_of(entry)
        return None

    async def _entry_markers(self, by_command: Document, tenant_id: str | None = None) -> list[Document]:
        """The entries carrying a marker whose command id matches `by_command`, of one tenant or of all: the
        server picks them out of their buckets, so only they are sent."""
        scope = {} if tenant_id is None else {"tenant_id": tenant_id}
        found = [d async for d in self._ledger.find({**scope, **_markers_alone(by_command)})]
        pipeline = [*_markers_in_buckets(by_command, scope), {"$replaceRoot": {"newRoot": "$entries"}}]
        return found + await (await self._ledger.aggregate(pipeline)).to_list()

    async def count_markers(self, prefix: str = "") -> int:
        """How many commands whose id starts with `prefix` the wallet has applied, over all tenants (operators'
        and harnesses' progress probe: it scans; the server counts, nothing is sent)."""
        by_id = {"$regex": f"^{re.escape(prefix)}"}
        alone = await self._ledger.count_documents(_markers_alone(by_id))
        counting = [*_markers_in_buckets(by_id, {}), {"$count": "entries"}]
        counted = await (await self._ledger.aggregate(counting)).to_list()
        markers = await self._applied.count_documents({"command_id": by_id})
        return markers + alone + sum(int(c["entries"]) for c in counted)

    async def markers(self, tenant_id: str, prefix: str = "") -> dict[str, Marker]:
        """Command id -> marker of every command of a tenant applied so far whose id starts with `prefix`."""
        found: dict[str, Marker] = {}
        by_id = {"$regex": f"^{re.escape(prefix)}"}
        async for doc in self._applied.find({**ids_of_tenant(tenant_id), "command_id": by_id}):
            found[doc["command_id"]] = marker_of(doc)
        for entry in await self._entry_markers(by_id, tenant_id):
            found[entry["command_id"]] = marker_of(entry)
        return found

    async def apply(
        self,
        tenant_id: str,
        command_id: str,
        fingerprint: str,
        decide: Decision,
        to_wire: WireEvents,
        *,
        at: datetime,
        target_entry_id: str | None = None,
    ) -> Applied:
        [[applied]] = await self.apply_runs(
            [(tenant_id, [Item(command_id, fingerprint, decide, to_wire, target_entry_id)])], at=at
        )
        return applied

    async def _seen(
        self, marker_ids: list[str], main_ids: list[str], session: AsyncClientSession, *, in_buckets: bool = True
    ) -> dict[str, dict[str, Marker]]:
        """Tenant -> command id -> marker, for the commands of a batch applied before: in their entries, or in
        `applied_commands` for those that made none (and for entries older than the move). `in_buckets=False`:
        not the entries in buckets (the batch's inserts check those, see `apply_runs`)."""
        seen: dict[str, dict[str, Marker]] = {}
        async for doc in self._applied.find({"_id": {"$in": marker_ids}}, session=session):
            seen.setdefault(doc["tenant_id"], {})[doc["command_id"]] = marker_of(doc)
        for _, entry in await self._entries_by_id(main_ids, session, in_buckets=in_buckets):
            if "fingerprint" in entry:
                seen.setdefault(entry["tenant_id"], {})[entry["command_id"]] = marker_of(entry)
        return seen

    async def apply_runs(self, runs: list[tuple[str, list[Item]]], *, at: datetime) -> list[list[Applied]]:
        """Apply several tenants' runs in one transaction: a batch costs a handful of round trips, not a
        handful per tenant. Each wallet is still guarded by its own version.

        The wallets this store wrote or read last are kept (`cache_size`): a batch reads only the others. A kept
        wallet another worker has changed since (its tenant's partition moved) fails the version guard of the
        write; the batch then runs again from freshly read wallets. A run that applied commands without changing
        its kept wallet (a rejected debit) writes a guard of the version alone, so no decision stands on a stale
        wallet.

        The entries in buckets are not read first for the commands that make an entry: a command applied before
        made the same main entry, whose id the unique index on `entries._id` refuses, and the batch runs again
        reading them. Only the commands that make no entry now (a refusal) are looked up there, after their
        decision, and a batch that finds one applied runs again reading. After a batch that met commands applied
        before (a redelivery comes in bursts), the next one reads first, until a batch meets none. The markers in
        `applied_commands` and the entries stored alone are always read: an insert cannot check those."""
        marker_ids = [self._marker_id(t, i.command_id) for t, items in runs for i in items]
        main_ids = [entry_id_for(t, i.command_id) for t, items in runs for i in items]
        target_ids = [i.target_entry_id for _, items in runs for i in items if i.target_entry_id]
        use_cache = True
        final: dict[str, Wallet] = {}
        met_applied = False

        async def work(session: AsyncClientSession) -> list[list[Applied]]:
            nonlocal met_applied
            insert_first = use_cache and self._insert_first
            wallets = await self._current([t for t, _ in runs], session, use_cache=use_cache)
            seen = await self._seen(marker_ids, main_ids, session, in_buckets=not insert_first)
            met_applied = any(seen.values())
            targets: dict[str, dict[str, LedgerEntry]] = {}
            holder: dict[str, str | None] = {}  # entry id -> the bucket holding it (None: stored alone)
            if target_ids:
                for bucket_id, doc in await self._entries_by_id(target_ids, session):
                    targets.setdefault(doc["tenant_id"], {})[doc["_id"]] = entry_from_doc(doc)
                    holder[doc["_id"]] = bucket_id
            results: list[list[Applied]] = []
            writes = _Writes()
            for tenant_id, items in runs:
                current, kept = wallets[tenant_id]
                run = apply_run(current, items, seen.get(tenant_id, {}), targets.get(tenant_id, {}))
                results.append(run.results)
                made, unmade = self._documents(tenant_id, run.entries, run.markers, at)
                writes.buckets += buckets(tenant_id, made)
                writes.markers += unmade
                for mark in run.marks:  # on stored entries, which were read as targets
                    await self._mark(tenant_id, holder[mark.entry_id], mark, session)
                writes.wallet(current, run.wallet, guard=kept and bool(run.markers))
            if insert_first and await self._made_entries(writes.markers, session):
                raise AppliedBefore
            await writes.run(self, session)
            final.clear()
            final.update({t: writes.changed.get(t) or wallets[t][0] for t, _ in runs})
            return results

        for attempt in range(20):
            use_cache = attempt == 0
            try:
                results = await in_transaction(self._client, work)
            except VersionConflict:
                self._forget([t for t, _ in runs])
                continue
            except Exception as exc:
                self._forget([t for t, _ in runs])
                if not (isinstance(exc, AppliedBefore) or is_duplicate_key(exc)):
                    raise
                # Applied before (an entry this batch made again, or a command it refused), applied by another
                # worker first, or a wallet created meanwhile: run again reading, they are seen.
            else:
                for wallet in final.values():  # committed: these are the stored wallets now
                    self._keep(wallet)
                self._insert_first = not met_applied
                return results
        raise VersionConflict(f"wallets kept changing under a batch of {len(marker_ids)} commands")

    async def _made_entries(self, markers: list[Document], session: AsyncClientSession) -> bool:
        """Whether a command the batch keeps a marker document for (one that makes no entry now, a refusal) made
        an entry before: that document cannot collide with the entry, so the entry is looked up."""
        if not markers:
            return False
        main_ids = [entry_id_for(d["tenant_id"], d["command_id"]) for d in markers]
        return any("fingerprint" in entry for _, entry in await self._entries_by_id(main_ids, session))

    async def _mark(self, tenant_id: str, bucket_id: str | None, mark: EntryMark, session: AsyncClientSession) -> None:
        """Amend a stored entry a refund or a void names, where it is stored."""
        at = "" if bucket_id is None else "entries.$."  # the entry itself, or the bucket's entry the query matched
        update: dict[str, Any] = {"$inc": {f"{at}reversed_amount": mark.reversed_delta}}
        if mark.voided_by is not None:
            update["$set"] = {f"{at}voided_by": mark.voided_by}
        where = (
            {"_id": mark.entry_id, "tenant_id": tenant_id}
            if bucket_id is None
            else {"_id": bucket_id, "tenant_id": tenant_id, "entries._id": mark.entry_id}
        )
        result = await self._ledger.update_one(where, update, session=session)
        if result.matched_count != 1:
            raise RuntimeError(f"entry {mark.entry_id!r} of {tenant_id!r} was not found to amend")

    async def _current(
        self, tenant_ids: list[str], session: AsyncClientSession, *, use_cache: bool
    ) -> dict[str, tuple[Wallet, bool]]:
        """Tenant -> (its wallet, whether it came from the cache): kept wallets, and one read for the rest."""
        found = {t: (w, True) for t in tenant_ids if use_cache and (w := self._cache.get(t)) is not None}
        if missing := [t for t in tenant_ids if t not in found]:
            stored = {d["_id"]: d async for d in self._wallets.find({"_id": {"$in": missing}}, session=session)}
            found |= {t: (wallet_from_doc(stored.get(t), t), False) for t in missing}
        return found

    def _keep(self, wallet: Wallet) -> None:
        if wallet.version == 0 or self._cache_size == 0:
            return  # never written: nothing to guard a write against
        self._cache[wallet.tenant_id] = wallet
        self._cache.move_to_end(wallet.tenant_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget_all(self) -> None:
        """Drop every kept wallet (the worker's partitions changed)."""
        self._cache.clear()

    def _forget(self, tenant_ids: list[str]) -> None:
        for tenant_id in tenant_ids:
            self._cache.pop(tenant_id, None)

    async def wallet(self, tenant_id: str) -> Wallet:
        return wallet_from_doc(await self._wallets.find_one({"_id": tenant_id}), tenant_id)

    async def ledger(
        self, tenant_id: str, *, limit: int = 50, skip: int = 0, query: LedgerQuery | None = None
    ) -> list[LedgerEntry]:
        page = [*([{"$skip": skip}] if skip else []), {"$limit": limit}]
        cursor = await self._ledger.aggregate(_ledger_pipeline(tenant_id, query) + page)
        return [entry_from_doc(doc) async for doc in cursor]

    async def count_entries(self, tenant_id: str, query: LedgerQuery | None = None) -> int:
        cursor = await self._ledger.aggregate([*_ledger_pipeline(tenant_id, query), {"$count": "entries"}])
        counted = await cursor.to_list()
        return int(counted[0]["entries"]) if counted else 0

    async def entry(self, tenant_id: str, entry_id: str) -> LedgerEntry | None:
        for _, doc in await self._entries_by_id([entry_id]):
            if doc["tenant_id"] == tenant_id:
                return entry_from_doc(doc)
        return None

    async def sum_of_entries(self, tenant_id: str) -> tuple[int, int]:
        total = count = 0
        async for doc in self._ledger.find({"tenant_id": tenant_id}, {"amount": 1, "entries.amount": 1}):
            for entry in entries_of(doc):
                total += entry["amount"]
                count += 1
        return total, count

    async def tenant_ids(self) -> list[str]:
        return [doc["_id"] async for doc in self._wallets.find({}, {"_id": 1})]

    async def tenants_with_expiry_due(self, at: datetime, *, limit: int = 1000) -> list[str]:
        found = self._wallets.find({"buckets.expires_at": {"$lte": at}}, {"_id": 1}).limit(limit)
        return [doc["_id"] async for doc in found]
