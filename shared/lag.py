"""Consumer lag, read from Kafka itself (each group's committed offsets and each partition's end): what
`creditflow status` shows and the scheduler exports as `creditflow_consumer_lag`. It is measured from outside the
consumers, so a group whose workers are all stopped still shows its lag growing."""

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas import topics

from .config import Settings
from .kafka import admin_kwargs


async def consumer_lag(settings: Settings) -> list[dict[str, Any]]:
    """Every consumer group's committed offset, the partition's end and their difference (the lag)."""
    admin = AIOKafkaAdminClient(**admin_kwargs(settings))
    consumer = AIOKafkaConsumer(**admin_kwargs(settings), group_id=None, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        groups = sorted(g[0] if isinstance(g, tuple) else g["group_id"] for g in await admin.list_consumer_groups())
        await consumer.topics()  # the metadata of every topic
        every = [
            TopicPartition(t.name, p) for t in topics.ALL_TOPICS for p in consumer.partitions_for_topic(t.name) or ()
        ]
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            # The partitions are named: the embedded broker answers "all of them" (None) in a form the client
            # cannot read.
            offsets = await admin.list_consumer_group_offsets(group, partitions=every)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        partitions = sorted({tp for offsets in committed.values() for tp in offsets})
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return [
            {"group": group, "topic": tp.topic, "partition": tp.partition, "committed": offset,
             "end": ends[tp], "lag": max(0, ends[tp] - offset)}
            for group in groups
            for tp, offset in sorted(committed[group].items())
        ]  # fmt: skip
    finally:
        await consumer.stop()
        await admin.close()
