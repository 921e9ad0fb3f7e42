"""Kafka client factories. Correctness never depends on producer idempotence (Tansu has none):
every consumer de-duplicates by message id, so a producer retry that writes twice is harmless."""

import contextlib
import ssl
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from schemas.topics import ALL_TOPICS, TopicSpec

from .config import Settings


def security(settings: Settings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if protocol.startswith("SASL"):
        if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
            raise RuntimeError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        cls = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
            settings.kafka_sasl_mechanism
        ]
        return cls(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            use_ssl=context is not None,
        )
    if context is not None:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


def make_broker(settings: Settings, *, client_id: str, middlewares: tuple[Any, ...] = ()) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers or "localhost:9092",
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        security=security(settings),
        middlewares=middlewares,
        allow_auto_create_topics=False,
        logger=None,
    )


def admin_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers}
    sec = security(settings)
    if sec is not None:
        from faststream.kafka.security import parse_security

        kwargs.update(parse_security(sec))
    return kwargs


async def ensure_topics(settings: Settings, topics: tuple[TopicSpec, ...] = ALL_TOPICS) -> list[str]:
    """Create missing topics (several partitions, keyed by tenant). Returns the names it created."""
    admin = AIOKafkaAdminClient(**admin_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                t.name,
                num_partitions=t.partitions,
                replication_factor=settings.kafka_replication_factor,
                topic_configs={"cleanup.policy": "compact"} if t.compacted else {},
            )
            for t in topics
            if t.name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        await admin.close()
