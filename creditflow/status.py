"""The system at a glance, for `creditflow status`: every worker's health, each consumer group's lag per partition,
and what the dead-letter topics hold, by reason. Reads only what operators may read: the workers' health
endpoints and Kafka's own group offsets and topics (no service's database)."""

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import topics
from shared.config import Settings
from shared.kafka import admin_kwargs
from shared.lag import consumer_lag

DLQ_TOPICS = tuple(t.name for t in topics.ALL_TOPICS if t.name.endswith(".dlq"))


def worker_health(workers: dict[str, str]) -> list[dict[str, Any]]:
    """name -> health URL, asked in turn: `ok`, or `down` with why."""
    rows = []
    for name, url in sorted(workers.items()):
        try:
            body = httpx.get(f"{url}/health", timeout=3).json()
            rows.append({"worker": name, "status": body.get("status", "unknown"), "url": url})
        except Exception as exc:  # refused, timed out, 503: all say the same to an operator
            rows.append({"worker": name, "status": "down", "url": url, "error": type(exc).__name__})
    return rows


async def dead_letters(settings: Settings, *, timeout: float = 5) -> tuple[list[dict[str, Any]], bool]:
    """How many letters each dead-letter topic holds, by reason (read from the start: topics are retained), and
    whether every letter was read within `timeout` (False: the counts are the first ones only)."""
    consumer = AIOKafkaConsumer(**admin_kwargs(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    counts: Counter[tuple[str, str]] = Counter()
    complete = True
    try:
        await consumer.topics()  # the metadata: without it the partitions are not known yet
        parts = [TopicPartition(t, p) for t in DLQ_TOPICS for p in consumer.partitions_for_topic(t) or ()]
        if not parts:
            return [], True
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in parts])

        while await behind() and loop.time() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    try:
                        reason = str(json.loads(record.value or b"").get("reason", "unknown"))
                    except (ValueError, AttributeError):
                        reason = "unreadable"
                    counts[(tp.topic, reason)] += 1
        complete = not await behind()
    finally:
        await consumer.stop()
    return [{"topic": t, "reason": r, "count": n} for (t, r), n in sorted(counts.items())], complete


async def status(settings: Settings, workers: dict[str, str]) -> dict[str, Any]:
    letters, complete = await dead_letters(settings)
    return {
        "workers": await asyncio.to_thread(worker_health, workers),
        "lag": await consumer_lag(settings),
        "dead_letters": letters,
        "dead_letters_complete": complete,
    }
