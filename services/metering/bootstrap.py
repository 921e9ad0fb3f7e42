"""Composition root of the metering worker."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from faststream.asgi import AsgiFastStream

from schemas import topics
from shared.directory import TenantDirectory
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.metrics import kafka_middleware
from shared.runtime import MessageContext, Worker

from .adapters.mongo import MongoUsageStore
from .adapters.prices import MongoPriceStore
from .config import MeteringSettings
from .domain.model import DEFAULT_PRICE_BOOK, Limits
from .service import MeteringService
from .worker import build_router, segment_keeper

SERVICE = "metering"

KEPT_AGGREGATES = 20_000
"""Period aggregates whose units the worker keeps between batches (and 4x as many distinct values)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def bootstrap(settings: MeteringSettings | None = None) -> AsgiFastStream:
    settings = settings or MeteringSettings().require_addresses()
    assert settings is not None
    configure_logging(SERVICE, settings.log_level, secrets=settings.secret_values())
    broker = make_broker(settings, client_id=SERVICE, middlewares=(MessageContext, kafka_middleware(SERVICE)))
    worker = Worker(SERVICE, settings, broker, topics.USAGE_DLQ)
    limits = Limits(
        max_bytes=settings.max_event_bytes,
        max_future=timedelta(minutes=settings.max_future_minutes),
        max_age=settings.dedup_window,
    )
    store = MongoUsageStore(
        worker.mongo,
        worker.db,
        dedup_window=settings.dedup_window,
        cache_size=KEPT_AGGREGATES,
        max_future=limits.max_future,
    )
    directory = TenantDirectory(worker.db)
    prices = MongoPriceStore(worker.db)
    service = MeteringService(store, directory, prices, utc_now, DEFAULT_PRICE_BOOK, limits)
    broker.include_router(
        build_router(worker, service, directory, prices, settings.consumer_group, batch_size=settings.batch_max_records)
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await store.create_indexes()
        await prices.create_indexes()
        keeper = asyncio.create_task(segment_keeper(store, settings.segment_maintenance_seconds))
        yield
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await worker.close()

    return worker.application(lifespan)
