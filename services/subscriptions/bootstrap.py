"""Composition root of the subscriptions worker."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.asgi import AsgiFastStream

from schemas import topics
from shared.directory import TenantDirectory
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.metrics import kafka_middleware
from shared.runtime import MessageContext, Worker

from .adapters.mongo import MongoSubscriptionStore
from .config import SubscriptionSettings
from .domain.catalogue import catalogue_from
from .service import SubscriptionService
from .worker import build_router, outbox_relay

SERVICE = "subscriptions"


def bootstrap(settings: SubscriptionSettings | None = None) -> AsgiFastStream:
    settings = settings or SubscriptionSettings().require_addresses()
    assert settings is not None
    configure_logging(SERVICE, settings.log_level, secrets=settings.secret_values())
    broker = make_broker(settings, client_id=SERVICE, middlewares=(MessageContext, kafka_middleware(SERVICE)))
    worker = Worker(SERVICE, settings, broker, topics.SUBSCRIPTIONS_DLQ)
    store = MongoSubscriptionStore(worker.mongo, worker.db)
    directory = TenantDirectory(worker.db)
    bundled = json.loads(settings.catalogue_file.read_text())
    service = SubscriptionService(store, directory, catalogue_from(bundled))
    broker.include_router(build_router(worker, service, directory, settings.consumer_group))

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await store.create_indexes()
        await store.offer_catalogue(bundled)  # the bundled file wins only if it is newer than the stored one
        current = await store.catalogue()
        if current is not None:
            service.catalogue = catalogue_from(current)
        relay = asyncio.create_task(outbox_relay(worker, store, settings.outbox_relay_seconds))
        yield
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await worker.close()

    return worker.application(lifespan)
