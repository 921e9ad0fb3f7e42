"""What a usage event's documents cost the MongoDB server, in the pipeline's batch shape.

    .venv/bin/python -m benchmarks.document_costs [--rounds 20] [--batch 500] [--bucket 10]

A usage event writes metering's usage record (its dedup record, `_id` only) and a ledger entry carrying its
command's marker. The wallet stores a tenant's entries of one batch in one document (`adapters/mongo.py`,
`buckets`; the bench's 500 events over 50 tenants make about `--bucket` 10 to a document) with the ledger's two
secondary indexes, `(tenant_id, sequence)` for its pages and `(tenant_id, occurred_at)` for its period filters,
and the unique multikey index on `entries._id` by which a redelivered command finds its entry. Everything is
made here by the services' own code (metering's tally, the wallet's rules, codec and buckets) and inserted in
transactions of `--batch` events, as the workers insert them, into collections with the services' indexes.
Then, to show what the layout and each index cost: the buckets without `entries._id`, and each entry stored
alone (the layout before buckets) with two, one and no secondary index.

Prints the server's CPU per usage event (over all rounds) and the client's wall time per event (the median
round). The sum of the first two lines is the floor under `make bench`'s database CPU per event: whatever else
the pipeline asks (reads, per-tenant updates, commits) comes on top of it.
"""

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psutil
from pymongo import ASCENDING, DESCENDING

from schemas import wallet as wire
from schemas.usage import UsageEvent
from services.metering.adapters.mongo import _tally
from services.metering.domain.model import DEFAULT_PRICE_BOOK, Priced
from services.metering.domain.rules import price
from services.metering.ports import ToRecord
from services.wallet.adapters.mongo import MongoWalletStore, buckets
from services.wallet.batch import apply_run
from services.wallet.domain.model import Policy, Wallet
from services.wallet.entry_event import in_milliseconds
from services.wallet.service import LineDebit, WalletService
from shared.idempotency import fingerprint
from shared.mongo import Document

from .common import scratch_database, stack

LEDGER_INDEXES = (
    [("tenant_id", ASCENDING), ("sequence", DESCENDING)],
    [("tenant_id", ASCENDING), ("occurred_at", DESCENDING)],
)


def _priced_at(priced: Priced) -> Callable[[Decimal], Priced]:
    return lambda _used_before: priced  # one SMS has no tiers: its price does not depend on earlier units


def usage_records(batch: int, round_: int, at: datetime) -> list[Document]:
    """A batch of usage records as metering writes them (one tenant's SMS events)."""
    items = []
    for i in range(batch):
        event = UsageEvent(event_id=f"r{round_}-e{i}", tenant_id="bench-001", type="sms", quantity=1, occurred_at=at,
                           site="bench", personnel="bench")  # fmt: skip
        priced = price(event, DEFAULT_PRICE_BOOK)
        assert isinstance(priced, Priced)
        items.append(ToRecord(event, fingerprint(event), priced.period, _priced_at(priced)))
    return _tally([("bench-001", items)], {}, {}, at).records


def ledger_entries(batch: int, round_: int, at: datetime) -> list[Document]:
    """A batch of ledger entries as the wallet writes them for usage debits, each carrying its marker."""
    lines = [
        LineDebit(
            "bench-001",
            wire.UsageLine(
                command_id=f"usage:r{round_}-e{i}",
                amount=Decimal("0.15"),
                entry_type="sms",
                occurred_at=at,
                source=f"usage.events:r{round_}-e{i}",
                site="bench",
                personnel="bench",
                description="SMS",
            ),
        )
        for i in range(batch)
    ]
    wallet = Wallet(tenant_id="bench-001", balance=10**12, version=1 + round_ * batch, entry_count=round_ * batch,
                    policy=Policy("overdraft", 10**15))  # fmt: skip
    run = apply_run(wallet, [WalletService._line_item(line, at) for line in lines], {}, {})
    entries, unmade = MongoWalletStore._documents("bench-001", run.entries, run.markers, at)
    assert not unmade, "every debit made its entry"
    return entries


def ledger_buckets(size: int) -> Callable[[int, int, datetime], list[Document]]:
    """The same entries as the wallet stores them: a tenant's entries of one batch in one document (`buckets`);
    `size` entries per tenant and batch."""

    def make(batch: int, round_: int, at: datetime) -> list[Document]:
        entries = ledger_entries(batch, round_, at)
        return [doc for start in range(0, batch, size) for doc in buckets("bench-001", entries[start : start + size])]

    return make


def _server() -> psutil.Process | None:
    for child in psutil.Process().children(recursive=True):
        try:
            if "secantus" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


async def measure(settings: Any, rounds: int, batch: int, bucket: int) -> list[tuple[str, float | None, float]]:
    server = _server()
    at = in_milliseconds(datetime.now(UTC))  # the wallet worker's clock
    by_entry = ([("entries._id", ASCENDING)],)
    cases = [
        ("usage record, _id only (metering)", usage_records, ()),
        (f"ledger entries, {bucket} a document (wallet)", ledger_buckets(bucket), LEDGER_INDEXES + by_entry),
        (f"ledger entries, {bucket} a document, no entries._id", ledger_buckets(bucket), LEDGER_INDEXES),
        ("ledger entry alone, 2 secondary indexes", ledger_entries, LEDGER_INDEXES),
        ("ledger entry alone, (tenant_id, sequence) only", ledger_entries, LEDGER_INDEXES[:1]),
        ("ledger entry alone, _id only", ledger_entries, ()),
    ]
    results = []
    async with scratch_database(settings, "document_costs") as (client, db):
        for name, make, indexes in cases:
            collection = db[f"c{uuid.uuid4().hex[:6]}"]
            await db.create_collection(collection.name)
            for index in indexes:
                unique = index is by_entry[0]
                await collection.create_index(index, unique=unique, sparse=unique)
            cpu, wall = [], []
            for r in range(rounds + 1):
                docs = make(batch, r, at)
                used = sum(server.cpu_times()[:2]) if server else 0.0
                started = time.perf_counter()
                async with client.start_session() as session, await session.start_transaction():
                    await collection.insert_many(docs, session=session)
                if r:  # the first round warms the collection up
                    wall.append((time.perf_counter() - started) / batch)
                    if server:
                        cpu.append(sum(server.cpu_times()[:2]) - used)
            # CPU times tick every 10 ms: summed over the rounds, not a median of each round's few ticks
            results.append((name, sum(cpu) / (rounds * batch) if cpu else None, statistics.median(wall)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=500, help="Usage events per transaction.")
    parser.add_argument("--bucket", type=int, default=10, help="Ledger entries a document in the bucket layout.")
    args = parser.parse_args()
    with stack(f"documents{uuid.uuid4().hex[:6]}") as settings:
        results = asyncio.run(measure(settings, args.rounds, args.batch, args.bucket))
    print(f"{args.rounds} transactions of {args.batch} usage events each (CPU and wall per event):")
    for name, cpu, wall in results:
        server = (
            f"{cpu * 1000:.3f} ms of server CPU" if cpu is not None else "server CPU not measured (configured servers)"
        )
        print(f"  {name:48s} {server}, {wall * 1000:.3f} ms wall per event")


if __name__ == "__main__":
    main()
