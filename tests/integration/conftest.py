import asyncio
import email
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from creditflow.ops import Ops, connect
from creditflow.supervisor import Supervisor
from shared.kafka import ensure_topics
from tests.stack import TestStack, start_test_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestStack]:
    with start_test_stack(tmp_path_factory.mktemp("stack")) as test_stack:
        yield test_stack


# Short windows so the tests see digests, expiry sweeps and webhook retries within seconds (production: 15 min,
# 60 s; webhooks retried from 1 min, doubling up to 6 h, for 3 days; an endpoint failing for 3 days disabled).
WORKER_ENV = {
    "DIGEST_WINDOW_MINUTES": "0.05",
    "EXPIRY_SWEEP_SECONDS": "2",
    "WEBHOOK_RETRY_FIRST_SECONDS": "0.3",
    "WEBHOOK_RETRY_CEILING_SECONDS": "1",
    "WEBHOOK_DISABLE_AFTER_HOURS": "0.002",  # 7.2 s
    "WEBHOOK_GIVE_UP_HOURS": "0.004",
    "LAG_INTERVAL_SECONDS": "1",
}


@pytest.fixture(scope="session")
def workers(stack: TestStack) -> Iterator[Supervisor]:
    os.environ.update(WORKER_ENV)
    asyncio.run(ensure_topics(stack.settings))
    supervisor = Supervisor(stack.settings, stack.settings.state_dir / "logs")
    supervisor.start()
    yield supervisor
    supervisor.stop()


@pytest.fixture
async def ops(stack: TestStack, workers: Supervisor) -> AsyncIterator[Ops]:
    async with connect(stack.settings) as o:
        yield o


@pytest.fixture
def tenant_id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def producer(stack: TestStack) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap_servers, enable_idempotence=False, acks="all")
    await p.start()
    yield p
    await p.stop()


async def publish(producer: AIOKafkaProducer, topic: str, key: str, payload: Any) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    await producer.send_and_wait(topic, raw, key=key.encode())


async def read_topic(settings: Any, topic: str, key: str, *, expect: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Every message on `topic` with this key, from the beginning, once at least `expect` are there."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                found += [json.loads(r.value) for r in records if r.key == key.encode()]
            if len(found) >= expect:
                break
    finally:
        await consumer.stop()
    return found


def mails_to(mailbox: Path, tenant_name: str) -> list[email.message.EmailMessage]:
    out = []
    for path in sorted(mailbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if tenant_name in str(msg["Subject"]):
            out.append(msg)  # type: ignore[arg-type]
    return out
