"""Composition root of the sandbox payment provider (local stack and tests; production uses a real one)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.asgi import AsgiFastStream

from schemas import topics
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.metrics import kafka_middleware
from shared.runtime import MessageContext, Worker

from .adapters.mongo import MongoCharges
from .config import PaymentsSettings
from .worker import build_router

SERVICE = "payments"


def bootstrap(settings: PaymentsSettings | None = None) -> AsgiFastStream:
    settings = settings or PaymentsSettings().require_addresses()
    assert settings is not None
    configure_logging(SERVICE, settings.log_level, secrets=settings.secret_values())
    broker = make_broker(settings, client_id=SERVICE, middlewares=(MessageContext, kafka_middleware(SERVICE)))
    worker = Worker(SERVICE, settings, broker, topics.PAYMENTS_DLQ)
    broker.include_router(build_router(worker, MongoCharges(worker.db), settings.consumer_group))

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        yield
        await worker.close()

    return worker.application(lifespan)
