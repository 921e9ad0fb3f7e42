"""Metering's MongoDB collections: usage records (the dedup records), usage aggregates per tenant, meter and
billing period, and the distinct values the aggregates count.

The usage records are kept in one collection per month of receipt (`usage_records_2026_11`): a month is dropped
whole once every record in it is older than the dedup window. A TTL index would do the same one document at a
time, at the price of one more index write per event (on the embedded server an insert costs 0.37 ms with it,
0.16 ms without) and a sweeper deleting as many documents as were written. A record can be in every month the
window reaches (two, sometimes three, for a 35-day window): a lookup costs 0.03 ms per id and month.

The month the batch writes to is not read first: the records are inserted, and a record already there (a
redelivered event) fails the insert on its `_id`, the transaction aborts, and the batch runs again reading
every month. Only the other months, which an insert cannot check, are read first, and only for the events that
can be there. After a batch that found stored records (a redelivery comes in bursts) the next one reads first,
until a batch finds none.
"""

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from schemas.money import display, from_micros, repeated_micros
from schemas.usage import UsageEvent
from shared.frozen import built
from shared.idempotency import is_duplicate_key
from shared.mongo import AsyncMongoClient, Document, ids_of_tenant, in_transaction

from ..domain.model import Period, Priced
from ..ports import Recorded, ToRecord

SEGMENT_PREFIX = "usage_records_"
LEGACY_RECORDS = "usage_records"
"""Where records were kept before the monthly segments (with a TTL index): still read while it holds any."""
Distinct = tuple[str, str, str, str, str, str]
"""(aggregate id, tenant, meter, period key, name, value): one distinct value counted by an aggregate."""
NAMESPACE_EXISTS = 48
CLOCK_MARGIN = timedelta(days=1)
"""Workers' clocks differ: a month is read from a day before it may hold records until a day after its end."""


def segment_of(at: datetime) -> str:
    """The collection of the records received at `at`."""
    return f"{SEGMENT_PREFIX}{at:%Y_%m}"


def _month_start(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def live_segments(now: datetime, window: timedelta) -> list[str]:
    """Every segment that can hold a record received within `window` before `now`, newest first: from the month
    of `now - window - margin` to that of `now + margin` (a worker whose clock runs ahead may write there)."""
    month, oldest = _month_start(now + CLOCK_MARGIN), _month_start(now - window - CLOCK_MARGIN)
    names = []
    while month >= oldest:
        names.append(segment_of(month))
        month = _month_start(month - timedelta(days=1))
    return names


def expired_segments(names: list[str], now: datetime, window: timedelta) -> list[str]:
    """The segments among `names` whose every record is older than the window (with the clock margin)."""
    oldest = segment_of(_month_start(now - window - CLOCK_MARGIN))
    return sorted(n for n in names if n.startswith(SEGMENT_PREFIX) and n < oldest)


class MongoUsageStore:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        *,
        dedup_window: timedelta,
        cache_size: int = 0,
        max_future: timedelta = timedelta(days=1),
    ) -> None:
        """`cache_size`: how many aggregates' units and distinct values the worker keeps between batches (0 for
        readers, which keep none). `max_future`: how far ahead of its receipt an event may occur (the worker's
        limit; the default is wider than any it has)."""
        self._max_future = max_future
        self._client = client
        self._units: OrderedDict[str, int] = OrderedDict()
        self._known: OrderedDict[str, None] = OrderedDict()
        self._cache_size = cache_size
        self._db = db
        self._created: set[str] = set()
        self._legacy = False
        self._insert_first = True
        self._aggregates = db["usage_aggregates"]
        self._distinct = db["usage_distinct"]
        self._window = dedup_window

    async def create_indexes(self) -> None:
        # No index on records but `_id`: one is written per event, per-tenant reads go by the `_id` prefix, and
        # they leave by whole months (`maintain`).
        await self.maintain(datetime.now(UTC))
        # No index on the aggregates but `_id` (`<tenant>|<meter>|<period>`): every batch updates one per
        # tenant, and on the embedded server an index makes each update cost two thirds more
        # (`benchmarks/write_costs.py`). A tenant's usage report reads them by the `_id` prefix.
        await self._distinct.create_index([("tenant_id", ASCENDING), ("meter", ASCENDING), ("period", ASCENDING)])

    async def maintain(self, now: datetime) -> list[str]:
        """Create this month's and next month's segments ahead of the writes, drop the segments past the window
        (and the old TTL-indexed collection once it is empty). Returns the dropped collections."""
        existing = await self._db.list_collection_names()
        self._legacy = LEGACY_RECORDS in existing
        dropped = expired_segments(existing, now, self._window)
        if self._legacy and await self._db[LEGACY_RECORDS].estimated_document_count() == 0:
            dropped.append(LEGACY_RECORDS)
            self._legacy = False
        for name in dropped:
            await self._db.drop_collection(name)
        self._created -= set(dropped)
        for at in (now, now + CLOCK_MARGIN):
            await self._ensure_segment(segment_of(at), existing)
        return dropped

    async def _ensure_segment(self, name: str, existing: list[str] | None = None) -> None:
        """Collections are created outside transactions: two transactions creating the same one would conflict."""
        if name in self._created:
            return
        if name not in (existing if existing is not None else await self._db.list_collection_names()):
            try:
                await self._db.create_collection(name, check_exists=False)
            except OperationFailure as exc:
                if exc.code != NAMESPACE_EXISTS:  # another worker created it first
                    raise
        self._created.add(name)

    def _searched(self, now: datetime) -> list[str]:
        return live_segments(now, self._window) + ([LEGACY_RECORDS] if self._legacy else [])

    async def _stored_records(
        self,
        ids: list[str],
        now: datetime,
        session: AsyncClientSession,
        *,
        occurred: list[datetime] | None = None,
        insert_first: bool = False,
    ) -> dict[str, Document]:
        """The stored records among `ids`. With `occurred` (each id's occurred-at), the months before this one
        are read only for the events that can have been received then: an event is received at most
        `max_future` before it occurs, so one that occurs after this month began (with the clock margin) was
        first received this month or later, and is found in this month's collection or a newer one.
        `insert_first`: this month's collection is not read (the batch's inserts there check it)."""
        seen: dict[str, Document] = {}
        current = segment_of(now)
        since = _month_start(now) + CLOCK_MARGIN + self._max_future
        early = set(ids) if occurred is None else {i for i, at in zip(ids, occurred, strict=True) if at < since}
        for name in self._searched(now):
            if insert_first and name == current:
                continue
            old = name.startswith(SEGMENT_PREFIX) and name < current
            if wanted := [i for i in ids if i not in seen and (not old or i in early)]:
                seen |= {d["_id"]: d async for d in self._db[name].find({"_id": {"$in": wanted}}, session=session)}
        return seen

    async def record(
        self,
        event: UsageEvent,
        fingerprint: str,
        period: Period,
        pricing: Callable[[Decimal], Priced],
        *,
        at: datetime,
    ) -> Recorded:
        [[recorded]] = await self.record_runs(
            [(event.tenant_id, [ToRecord(event, fingerprint, period, pricing)])], at=at
        )
        return recorded

    async def record_runs(self, runs: list[tuple[str, list[ToRecord]]], *, at: datetime) -> list[list[Recorded]]:
        """Record several tenants' runs of events, each in order, in one transaction: the dedup records with
        their priced outcome, the period aggregates and the distinct values. An id seen before (stored, or
        earlier in this batch) is a duplicate with its stored outcome, or a conflict if the payload differs."""
        record_ids = [f"{t}|{i.event.event_id}" for t, items in runs for i in items]
        occurred = [i.event.occurred_at for _, items in runs for i in items]
        # Only tiers look at the units a period had before: the aggregates of tiered events are read (or kept) and
        # their update guarded by those units; the others are only added to.
        is_tiered: dict[str, bool] = {}
        for t, items in runs:
            for i in items:
                aggregate_id = f"{t}|{i.event.type}|{i.period.key}"
                is_tiered[aggregate_id] = is_tiered.get(aggregate_id, False) or i.tiered
        aggregate_ids = list(is_tiered)
        tiered = [a for a, priced_by_tiers in is_tiered.items() if priced_by_tiers]
        target = segment_of(at)
        await self._ensure_segment(target)

        use_cache = True
        kept: dict[str, int] = {}
        known: set[str] = set()
        found_stored = False

        async def work(session: AsyncClientSession) -> list[list[Recorded]]:
            nonlocal found_stored
            insert_first = use_cache and self._insert_first
            seen = await self._stored_records(record_ids, at, session, occurred=occurred, insert_first=insert_first)
            found_stored = bool(seen)
            units = {a: self._units[a] for a in tiered if use_cache and a in self._units}
            if unread := [a for a in tiered if a not in units]:
                found = self._aggregates.find({"_id": {"$in": unread}}, {"units": 1}, session=session)
                units |= {d["_id"]: d.get("units", 0) async for d in found}
            before = {a: units.get(a, 0) for a in tiered}  # as read or kept (0: none yet): the guard of its update
            tally = _tally(runs, seen, units, at)
            all_results, records, sums, distinct = tally.results, tally.records, tally.sums, tally.distinct
            if records:
                await self._db[target].insert_many(records, session=session)
            if sums:
                await self._add_to_aggregates(sums, before, session)
            known.clear()
            if distinct:
                known.update(await self._add_distinct(distinct, session, use_cache=use_cache))
            kept.clear()
            kept.update({a: units[a] for a in tiered if a in units})
            return all_results

        for attempt in range(5):
            use_cache = attempt == 0
            try:
                results = await in_transaction(self._client, work)
            except Exception as exc:
                for aggregate_id in aggregate_ids:
                    self._units.pop(aggregate_id, None)
                if not is_duplicate_key(exc):
                    raise
                # A record was already there (a redelivery, the month not read first), another worker recorded
                # some of these first, or changed a kept aggregate (its tenant's partition moved; the guarded
                # update then tried to insert it again): run again from what is stored.
            else:
                for aggregate_id in set(aggregate_ids) - kept.keys():  # added to unguarded: what is kept is stale
                    self._units.pop(aggregate_id, None)
                self._keep(kept, known)  # committed: these are the stored values now
                self._insert_first = not found_stored
                return results
        raise RuntimeError("usage records kept colliding")

    async def _add_to_aggregates(
        self, sums: dict[str, Document], before: dict[str, int], session: AsyncClientSession
    ) -> None:
        await self._aggregates.bulk_write(
            [
                UpdateOne(
                    _unchanged_since(aggregate_id, before[aggregate_id])
                    if aggregate_id in before
                    else {"_id": aggregate_id},
                    {
                        "$inc": {k: total[k] for k in ("count", "amount", "quantity", "units")},
                        "$max": {"max_quantity": total["max"]},
                        "$setOnInsert": {
                            "tenant_id": total["tenant_id"],
                            "meter": total["meter"],
                            "period": total["period"].key,
                            "period_start": total["period"].start,
                            "period_end": total["period"].end,
                            "rejected_count": 0,
                            "rejected_amount": 0,
                        },
                    },
                    upsert=True,
                )
                for aggregate_id, total in sums.items()
            ],
            ordered=False,
            session=session,
        )

    def forget_all(self) -> None:
        """Drop the kept aggregate units (the worker's partitions changed). Known distinct values stay: a stored
        value is never removed, so knowing one can never be stale."""
        self._units.clear()

    def _keep(self, units: dict[str, int], known: set[str]) -> None:
        if not self._cache_size:
            return
        for aggregate_id, value in units.items():
            self._units[aggregate_id] = value
            self._units.move_to_end(aggregate_id)
        while len(self._units) > self._cache_size:
            self._units.popitem(last=False)
        for value_id in known:
            self._known[value_id] = None
            self._known.move_to_end(value_id)
        while len(self._known) > self._cache_size * 4:
            self._known.popitem(last=False)

    async def _add_distinct(self, distinct: set[Distinct], session: AsyncClientSession, *, use_cache: bool) -> set[str]:
        """Store the values not stored yet; returns the ids of all of them (stored now). Most values (a site, a
        user) were seen earlier in the period: those this worker stored or found before are known (a stored
        value is never removed), one read finds the others, and only the new ones are inserted (an upsert per
        value cost an update each, even for known values)."""
        values = {
            f"{aggregate_id}|{name}|{value}": {"tenant_id": t, "meter": meter, "period": key, "name": name}
            for aggregate_id, t, meter, key, name, value in sorted(distinct)
        }
        every = set(values)
        for value_id in every & self._known.keys() if use_cache else ():
            del values[value_id]
        if values:
            found = self._distinct.find({"_id": {"$in": list(values)}}, {"_id": 1}, session=session)
            for doc in [d async for d in found]:
                del values[doc["_id"]]
        if values:  # a value another worker adds meanwhile is a duplicate key: the batch runs again
            docs = [{"_id": _id, **fields} for _id, fields in values.items()]
            await self._distinct.insert_many(docs, session=session)
        return every

    async def mark_rejected(self, tenant_id: str, event_id: str) -> bool:
        """The wallet refused the debit of this event (hard policy, not enough credits): count it as
        rejected in its period, once. Returns whether this call marked it."""
        record_id = f"{tenant_id}|{event_id}"

        async def work(session: AsyncClientSession) -> bool:
            # An update and a read by `_id` in the transaction, not one findAndModify: the embedded server scans
            # the whole collection for a findAndModify (160 ms at 30k records, measured), and uses the index here.
            record = None
            for name in self._searched(datetime.now(UTC)):
                marked = await self._db[name].update_one(
                    {"_id": record_id, "rejected": {"$ne": True}}, {"$set": {"rejected": True}}, session=session
                )
                if marked.modified_count:
                    record = await self._db[name].find_one({"_id": record_id}, session=session)
                    break
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
        amounts: dict[str, int] = {}
        for name in await self.record_collections():
            amounts |= {d["event_id"]: d["amount"] async for d in self._db[name].find(ids_of_tenant(tenant_id))}
        return amounts

    async def record_collections(self) -> list[str]:
        """The collections holding usage records now: the monthly segments and the old collection if any."""
        names = await self._db.list_collection_names()
        return sorted(n for n in names if n.startswith(SEGMENT_PREFIX) or n == LEGACY_RECORDS)

    async def usage(self, tenant_id: str, period: str | None = None) -> list[dict[str, Any]]:
        """Usage per meter and period. `period` is a period key (YYYY-MM-DD) or a month (YYYY-MM): the periods
        starting in it."""
        query: dict[str, Any] = ids_of_tenant(tenant_id)  # by the `_id` prefix: no index on `tenant_id` to write
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
                    **_period_days(d.get("period_start"), d.get("period_end")),
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


@dataclass
class _Tally:
    """What a batch records: the outcome of each event, the new dedup records, the sums to add to each
    aggregate and the distinct values seen."""

    results: list[list[Recorded]] = field(default_factory=list)
    records: list[Document] = field(default_factory=list)
    sums: dict[str, Document] = field(default_factory=dict)
    distinct: set[Distinct] = field(default_factory=set)


_NONE = Decimal(0)


def _tally(
    runs: list[tuple[str, list[ToRecord]]], seen: dict[str, Document], units: dict[str, int], at: datetime
) -> _Tally:
    """Price each tenant's run in order from the units its aggregates had (`units` is updated as it goes);
    an id in `seen` (stored, or earlier in the batch) is a duplicate, or a conflict if the payload differs."""
    tally = _Tally()
    all_results, records, sums, distinct = tally.results, tally.records, tally.sums, tally.distinct
    for tenant_id, items in runs:
        results: list[Recorded] = []
        for item in items:
            event = item.event
            record_id = f"{tenant_id}|{event.event_id}"
            if (doc := seen.get(record_id)) is not None:
                same = doc["fingerprint"] == item.fingerprint
                stored = from_micros(doc["amount"]) if same else Decimal(0)
                results.append(Recorded("duplicate" if same else "conflict", stored, doc["entry_type"]))
                continue
            aggregate_id = f"{tenant_id}|{event.type}|{item.period.key}"
            # only tiers look at the units before: a flat price is not given them (their Decimal cost 0.3 µs)
            priced = item.pricing(from_micros(units.get(aggregate_id, 0)) if item.tiered else _NONE)
            amount, quantity = repeated_micros(priced.amount), repeated_micros(event.quantity)
            billable = repeated_micros(priced.units)
            units[aggregate_id] = units.get(aggregate_id, 0) + billable
            doc = {
                "_id": record_id,
                "tenant_id": tenant_id,
                "event_id": event.event_id,
                "fingerprint": item.fingerprint,
                "meter": event.type,
                "entry_type": priced.entry_type,
                "quantity": str(event.quantity),
                "amount": amount,
                "period": item.period.key,
                "occurred_at": event.occurred_at,
                "received_at": at,
            }
            seen[record_id] = doc
            records.append(doc)
            total = sums.setdefault(
                aggregate_id,
                {"count": 0, "amount": 0, "quantity": 0, "units": 0, "max": 0, "tenant_id": tenant_id,
                 "meter": event.type, "period": item.period},
            )  # fmt: skip
            total["count"] += 1
            total["amount"] += amount
            total["quantity"] += quantity
            total["units"] += billable
            total["max"] = max(total["max"], quantity)
            if priced.distinct:
                distinct |= {
                    (aggregate_id, tenant_id, event.type, item.period.key, n, v) for n, v in priced.distinct.items()
                }
            results.append(built(Recorded, {"status": "new", "amount": priced.amount, "entry_type": priced.entry_type}))
        all_results.append(results)
    return tally


def _unchanged_since(aggregate_id: str, units: int) -> Document:
    """The filter of a guarded aggregate update: the aggregate still has the units the batch priced from (none
    yet, for a new one). If another worker added to it since, the upsert finds nothing and inserts a document
    with the same `_id`: a duplicate key, and the batch runs again from the stored units."""
    return {"_id": aggregate_id, "units": units if units else {"$in": [0, None]}}


def _period_days(start: datetime | None, end: datetime | None) -> dict[str, str | None]:
    """A billing period by its first and last day, both included (stored as the instants [start, end))."""
    return {
        "period_first_day": start.date().isoformat() if start else None,
        "period_last_day": (end - timedelta(days=1)).date().isoformat() if end else None,
    }
