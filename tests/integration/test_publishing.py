"""Publishing a worker's batch as one record batch per partition keeps Kafka's guarantees: every message lands on
the partition a plain `send()` of its key would choose, in the order it was given, and nothing is lost."""

import asyncio
import json
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kafka import BATCH_BYTES, BatchPublisher
from tests.stack import TestStack

PARTITIONS = 6


async def _new_topic(bootstrap: str) -> str:
    topic = f"test.publishing.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    return topic


async def _read(bootstrap: str, topic: str, expect: int) -> list[tuple[int, str, dict[str, int]]]:
    """(partition, key, value) of every message on the topic, each partition's in offset order."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[tuple[int, str, dict[str, int]]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(found) < expect and loop.time() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=300)).items():
                found += [(tp.partition, (r.key or b"").decode(), json.loads(r.value or b"")) for r in records]
    finally:
        await consumer.stop()
    return found


async def test_a_batch_lands_where_send_would_put_it_in_order_and_whole(stack: TestStack) -> None:
    bootstrap = stack.settings.kafka_bootstrap_servers or ""
    topic = await _new_topic(bootstrap)
    keys = [f"tenant-{i}" for i in range(12)]
    # 1 KiB values, so that a partition's messages fill more than one record batch (BATCH_BYTES) in one call
    filler = "x" * 1000
    count = 8 * BATCH_BYTES // 1000
    messages = [
        (topic, keys[i % len(keys)].encode(), json.dumps({"n": i, "pad": filler}).encode()) for i in range(count)
    ]

    publisher = BatchPublisher(bootstrap_servers=bootstrap)
    try:
        await publisher.publish(messages)
    finally:
        await publisher.stop()

    reference = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await reference.start()
    try:
        where_send_puts = {k: (await reference.send_and_wait(topic, b"{}", key=k.encode())).partition for k in keys}
    finally:
        await reference.stop()

    found = [m for m in await _read(bootstrap, topic, count + len(keys)) if "n" in m[2]]
    assert sorted(m[2]["n"] for m in found) == list(range(count))  # each once, none lost
    assert {(key, partition) for partition, key, _ in found} == set(where_send_puts.items())
    assert len(set(where_send_puts.values())) > 1  # the keys do spread over partitions
    per_partition = [sum(len(v) for _, k, v in messages if where_send_puts[k.decode()] == p) for p in range(PARTITIONS)]
    assert max(per_partition) > BATCH_BYTES  # so a partition's messages filled a record batch and went on in another
    for key in keys:
        sent_order = [m[2]["n"] for m in found if m[1] == key]
        assert sent_order == sorted(sent_order)  # a key's messages in the order given
