"""Metering throughput: usage events priced per second end to end, against the raw rate at which a plain
consumer reads the same events from the same broker, measured in the same run.

    .venv/bin/python -m benchmarks.metering_events [--events 2000] [--tenants 20]

End to end: events are published to `usage.events`; one metering worker validates, de-duplicates and
prices each one (dedup record + period aggregate + distinct values in one MongoDB transaction), publishes
its debit command and commits the offset. The clock runs from the first publish until every event has its
usage record. Raw: one aiokafka consumer assigned every partition reads the same events from the start.
"""

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from creditflow.ops import connect
from schemas import topics
from services.metering.adapters.mongo import MongoUsageStore
from shared.config import Settings
from shared.kafka import admin_kwargs, ensure_topics
from shared.mongo import make_client

from .common import stack, worker


async def records(settings: Settings) -> int:
    client = make_client(settings, app_name="bench")
    try:
        db = client[settings.database_name("metering")]
        names = await MongoUsageStore(client, db, dedup_window=timedelta(days=35)).record_collections()
        return sum([await db[name].count_documents({}) for name in names])
    finally:
        await client.close()


async def until_recorded(settings: Settings, count: int) -> None:
    """Poll the usage records (another process writes them: there is no event to wait on)."""
    while await records(settings) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.1)


def event(tenant: str, i: int) -> bytes:
    now = datetime.now(UTC).isoformat()
    body = {"event_id": f"b-{i}", "tenant_id": tenant, "type": "sms", "quantity": 1, "occurred_at": now,
            "personnel": f"user-{i % 7}", "site": "bench"}  # fmt: skip
    return json.dumps(body).encode()


async def end_to_end(settings: Settings, events: int, tenants: int) -> float:
    names = [f"bench-{i}" for i in range(tenants)]
    async with connect(settings) as ops:
        for name in names:
            await ops.create_tenant(
                name, name=name, admins=["admin@bench.example"], members=[], language="en", readers=("metering",)
            )
    producer = AIOKafkaProducer(**admin_kwargs(settings), acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        await producer.send_and_wait(topics.USAGE_EVENTS, event(names[0], -1), key=names[0].encode())
        await until_recorded(settings, 1)  # the worker has joined its group and is warm
        started = time.perf_counter()
        sends = [
            await producer.send(topics.USAGE_EVENTS, event(names[i % tenants], i), key=names[i % tenants].encode())
            for i in range(events)
        ]
        await asyncio.gather(*sends)
        await until_recorded(settings, events + 1)
        return events / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_consume(settings: Settings, events: int) -> float:
    consumer = AIOKafkaConsumer(**admin_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topics.USAGE_EVENTS, p) for p in consumer.partitions_for_topic(topics.USAGE_EVENTS) or ()
        ]
        if not partitions:
            await consumer.topics()  # fetches the metadata
            partitions = [
                TopicPartition(topics.USAGE_EVENTS, p) for p in consumer.partitions_for_topic(topics.USAGE_EVENTS) or ()
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        started, seen = time.perf_counter(), 0
        while seen < events:
            batch = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(r) for r in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=20)
    args = parser.parse_args()
    with stack(f"bench{uuid.uuid4().hex[:6]}") as settings:
        asyncio.run(ensure_topics(settings))
        with worker("metering", settings, Path(settings.state_dir) / "bench-logs"):
            e2e = asyncio.run(end_to_end(settings, args.events, args.tenants))
        raw = asyncio.run(raw_consume(settings, args.events + 1))
    print(f"usage events priced end to end: {e2e:8.1f} /s  ({args.events} events, {args.tenants} tenants, 1 worker)")
    print(f"raw consume of the same events:   {raw:8.1f} /s")
    print(f"ratio end-to-end / raw: {e2e / raw:.2e}  (raw is {raw / e2e:,.0f} times faster)")


if __name__ == "__main__":
    main()
