"""Composition root of the wallet worker."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from faststream.asgi import AsgiFastStream

from schemas import topics
from shared.directory import TenantDirectory
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.metrics import kafka_middleware
from shared.runtime import MessageContext, Worker

from .adapters.mongo import MongoWalletStore
from .config import WalletSettings
from .entry_event import in_milliseconds
from .service import WalletService
from .worker import build_router, expiry_sweeper

SERVICE = "wallet"

KEPT_WALLETS = 10_000
"""Wallets the worker keeps between batches (a few KB each): a batch reads only the wallets it does not keep."""


def utc_now() -> datetime:
    """The wallet's clock, in milliseconds as MongoDB keeps instants: an entry's stored time is then the time its
    `entry.recorded` event carries, and its marker need not copy the event (`adapters/mongo.py`)."""
    return in_milliseconds(datetime.now(UTC))


def bootstrap(settings: WalletSettings | None = None) -> AsgiFastStream:
    settings = settings or WalletSettings().require_addresses()
    assert settings is not None
    configure_logging(SERVICE, settings.log_level, secrets=settings.secret_values())
    broker = make_broker(settings, client_id=SERVICE, middlewares=(MessageContext, kafka_middleware(SERVICE)))
    worker = Worker(SERVICE, settings, broker, topics.WALLET_DLQ)
    store = MongoWalletStore(worker.mongo, worker.db, cache_size=KEPT_WALLETS)
    directory = TenantDirectory(worker.db)
    service = WalletService(store=store, directory=directory, clock=utc_now)
    broker.include_router(
        build_router(
            worker,
            service,
            directory,
            settings.consumer_group,
            batch_size=settings.batch_max_records,
            max_lines=settings.batch_max_lines,
        )
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await store.create_indexes()
        sweeper = asyncio.create_task(expiry_sweeper(worker, store, settings.expiry_sweep_seconds))
        yield
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await worker.close()

    return worker.application(lifespan)
