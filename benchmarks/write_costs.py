"""What one write costs the MongoDB server, by kind, in one transaction of 50 (the pipeline's shapes).

    .venv/bin/python -m benchmarks.write_costs [--rounds 20]

Prints the median time of a transaction of 50 writes of each kind: the inserts every event makes (usage
record, command marker, ledger entry), and the updates every tenant in a batch makes (the period aggregate,
the wallet), each with and without a secondary index. It explains why a batch that touches many tenants
costs more per event than one that touches few: on the embedded server an update costs several inserts,
and a secondary index adds to every update even when its key does not change (MongoDB proper only
rewrites index keys that change).
"""

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.mongo import Document

from .common import scratch_database, stack

N = 50
WALLET = {"balance": 0, "version": 0, "policy": "hard", "buckets": [{"id": "b1", "amount": 100, "expires_at": None}]}

Ops = Callable[[int], list[Any]]


def cases(db: Any) -> list[tuple[str, AsyncCollection[Document], Ops, list[Any] | None]]:
    """(name, collection, the 50 writes of round r, the index to create first)."""
    return [
        ("insert, _id only", db.ins,
         lambda r: [InsertOne({"_id": f"{r}-{i}", "tenant_id": "t", "expires_at": r}) for i in range(N)], None),
        ("insert, 1 secondary index", db.ins_idx,
         lambda r: [InsertOne({"_id": f"{r}-{i}", "tenant_id": "t", "expires_at": r}) for i in range(N)],
         [("expires_at", 1)]),
        ("$inc update, _id only", db.agg,
         lambda r: [UpdateOne({"_id": f"t{i}"}, {"$inc": {"count": 1, "amount": 5}}, upsert=True) for i in range(N)],
         None),
        ("$inc update, 1 secondary index", db.agg_idx,
         lambda r: [UpdateOne({"_id": f"t{i}"}, {"$inc": {"count": 1, "amount": 5},
                                                  "$setOnInsert": {"tenant_id": f"t{i}", "period": "p"}}, upsert=True)
                    for i in range(N)],
         [("tenant_id", 1), ("period", 1)]),
        ("replace wallet, _id only", db.wallets,
         lambda r: [ReplaceOne({"_id": f"t{i}"}, {**WALLET, "version": r}, upsert=True) for i in range(N)], None),
        ("replace wallet, multikey index", db.wallets_idx,
         lambda r: [ReplaceOne({"_id": f"t{i}"}, {**WALLET, "version": r}, upsert=True) for i in range(N)],
         [("buckets.expires_at", 1)]),
    ]  # fmt: skip


async def measure(settings: Any, rounds: int) -> list[tuple[str, float]]:
    results = []
    async with scratch_database(settings, "write_costs") as (client, db):
        for name, collection, ops, index in cases(db):
            if index:
                await collection.create_index(index)
            times = []
            for r in range(rounds + 1):
                started = time.perf_counter()
                async with client.start_session() as session, await session.start_transaction():
                    await collection.bulk_write(ops(r), ordered=False, session=session)
                if r:  # the first round creates the documents the updates then find
                    times.append(time.perf_counter() - started)
            results.append((name, statistics.median(times)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with stack(f"writes{uuid.uuid4().hex[:6]}") as settings:
        results = asyncio.run(measure(settings, args.rounds))
    for name, seconds in results:
        print(f"{name:32s} {seconds * 1000:7.1f} ms per transaction of {N}, {seconds * 1000 / N:5.2f} ms per write")


if __name__ == "__main__":
    main()
