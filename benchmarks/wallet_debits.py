"""Wallet throughput: debits applied per second, end to end, against the raw transaction rate of the same
MongoDB server for the same writes, measured in the same run.

    .venv/bin/python -m benchmarks.wallet_debits [--debits 2000] [--tenants 20]

End to end: debit commands are published to `wallet.commands`; one wallet worker consumes them, applies each
in one MongoDB transaction (marker + ledger entry + wallet) and publishes its events and spend state. The
clock runs from the first publish until every debit is applied.

Raw: small stand-in documents written straight from this process with PyMongo, one transaction per tenant
per batch, without the wallet's secondary indexes. `proof/bench.py` (`make bench`) measures the faithful raw
limit: the wallet's own documents and indexes, one transaction per batch across tenants, as the worker does.
"""

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.client_session import AsyncClientSession

from schemas import topics
from shared.config import Settings
from shared.kafka import admin_kwargs, ensure_topics
from shared.mongo import in_transaction, make_client

from .common import stack, worker


async def publish_all(settings: Settings, messages: Sequence[tuple[str, Mapping[str, object]]]) -> None:
    producer = AIOKafkaProducer(**admin_kwargs(settings), acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        pending = [
            await producer.send(topics.WALLET_COMMANDS, json.dumps(m).encode(), key=k.encode()) for k, m in messages
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def applied_count(settings: Settings) -> int:
    """Ledger entries written so far, from the wallets' entry counters (entries are stored many to a document)."""
    client = make_client(settings, app_name="bench")
    try:
        wallets = client[settings.database_name("wallet")]["wallets"]
        return sum([d.get("entry_count", 0) async for d in wallets.find({}, {"entry_count": 1})])
    finally:
        await client.close()


async def until_applied(settings: Settings, entries: int) -> None:
    """Poll the ledger (another process writes it: there is no event to wait on)."""
    while await applied_count(settings) < entries:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def end_to_end(settings: Settings, debits: int, tenants: int) -> float:
    now = datetime.now(UTC).isoformat()
    names = [f"bench-{i}" for i in range(tenants)]
    grants = [
        (t, {"kind": "grant", "command_id": "seed", "tenant_id": t, "issued_at": now, "amount": "100000",
             "grant_kind": "purchased", "source": "bench"})
        for t in names
    ]  # fmt: skip
    await publish_all(settings, grants)
    await until_applied(settings, tenants)
    messages = [
        (t := names[i % tenants], {"kind": "debit", "command_id": f"d{i}", "tenant_id": t, "issued_at": now,
                                   "amount": "0.15", "entry_type": "sms", "occurred_at": now, "source": "bench"})
        for i in range(debits)
    ]  # fmt: skip
    started = time.perf_counter()
    await publish_all(settings, messages)
    await until_applied(settings, tenants + debits)
    return debits / (time.perf_counter() - started)


async def raw_mongo(settings: Settings, debits: int, tenants: int, batch: int) -> float:
    """Stand-ins for the documents the wallet writes for `debits` debits, straight from this process: per batch,
    one transaction per tenant (read the wallet and the markers, insert the markers and the ledger entries,
    replace the wallet)."""
    client = make_client(settings, app_name="bench-raw")
    db = client[f"raw_{uuid.uuid4().hex[:8]}"]
    wallets, ledger, applied = db["wallets"], db["ledger"], db["applied_commands"]
    try:
        for i in range(tenants):
            await wallets.insert_one({"_id": f"t{i}", "balance": 10**12, "version": 1})
        started = time.perf_counter()
        for first in range(0, debits, batch):
            runs: dict[str, list[int]] = {}
            for i in range(first, min(first + batch, debits)):
                runs.setdefault(f"t{i % tenants}", []).append(i)
            for tenant, numbers in runs.items():

                async def work(session: AsyncClientSession, tenant: str = tenant, numbers: list[int] = numbers) -> None:
                    wallet = await wallets.find_one({"_id": tenant}, session=session)
                    assert wallet is not None
                    ids = [f"{tenant}|d{i}" for i in numbers]
                    _ = [d async for d in applied.find({"_id": {"$in": ids}}, session=session)]
                    await applied.insert_many([{"_id": x, "events": []} for x in ids], session=session)
                    await ledger.insert_many(
                        [{"_id": f"e{i}", "tenant_id": tenant, "amount": -150_000} for i in numbers], session=session
                    )
                    await wallets.replace_one(
                        {"_id": tenant, "version": wallet["version"]},
                        {"balance": wallet["balance"] - 150_000 * len(numbers), "version": wallet["version"] + 1},
                        session=session,
                    )

                await in_transaction(client, work)
        return debits / (time.perf_counter() - started)
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debits", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--batch", type=int, default=500, help="The worker's batch size (WALLET max_records).")
    args = parser.parse_args()
    with stack(f"bench{uuid.uuid4().hex[:6]}") as settings:
        asyncio.run(ensure_topics(settings))
        raw = asyncio.run(raw_mongo(settings, args.debits, args.tenants, args.batch))
        with worker("wallet", settings, Path(settings.state_dir) / "bench-logs"):
            e2e = asyncio.run(end_to_end(settings, args.debits, args.tenants))
    print(f"wallet debits applied end to end: {e2e:8.1f} /s  ({args.debits} debits, {args.tenants} tenants, 1 worker)")
    print(f"raw MongoDB, same writes, same batches: {raw:8.1f} debits/s")
    print(f"ratio end-to-end / raw: {e2e / raw:.2f}")


if __name__ == "__main__":
    main()
