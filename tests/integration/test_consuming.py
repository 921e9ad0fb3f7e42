"""A hot consumer (`batch_options`) holds a bounded amount fetched and not yet handled, however far behind it is:
its memory stays flat with the backlog's length and the size of the messages in it."""

import asyncio
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from shared.runtime import FETCH_MAX_BYTES, Records, batch_options
from tests.stack import TestStack

MESSAGE_BYTES = 20_000
BACKLOG = 3 * FETCH_MAX_BYTES // MESSAGE_BYTES


async def test_a_consumer_far_behind_takes_its_backlog_in_bounded_fetches_and_misses_nothing(stack: TestStack) -> None:
    bootstrap = stack.settings.kafka_bootstrap_servers or ""
    topic = f"test.consuming.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:  # a backlog of three fetches' worth on one partition, before the consumer starts
        sends = [await producer.send(topic, f"{i:08d}".encode() + b"x" * (MESSAGE_BYTES - 8)) for i in range(BACKLOG)]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()

    batches: list[Records] = []
    all_taken = asyncio.Event()
    broker = KafkaBroker(bootstrap, logger=None)

    @broker.subscriber(topic, group_id=f"test-{uuid.uuid4().hex}", **batch_options(max_records=10_000))  # type: ignore[untyped-decorator]
    async def handle(records: Records) -> None:
        batches.append(records)
        if sum(len(b) for b in batches) >= BACKLOG:
            all_taken.set()

    async with broker:
        await broker.start()
        await asyncio.wait_for(all_taken.wait(), timeout=60)

    taken = [r.value[:8] for b in batches for r in b]
    assert sorted(taken) == [f"{i:08d}".encode() for i in range(BACKLOG)]  # every message, once
    assert len(batches) >= 3
    # A fetch brings at least one whole record batch beyond the bound (Kafka's rule), here one message.
    assert max(sum(len(r.value) for r in b) for b in batches) <= FETCH_MAX_BYTES + MESSAGE_BYTES
