"""Composition root of the notifications worker."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from faststream import FastStream

from schemas import topics
from shared.directory import TenantDirectory
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.metrics import kafka_middleware
from shared.runtime import MessageContext, Worker

from .adapters.mongo import MongoNotificationLog
from .adapters.smtp import CountedMailer, SmtpMailer
from .config import NotificationSettings
from .domain.model import RateLimit
from .service import NotificationService
from .worker import build_router, sender_loop

SERVICE = "notifications"


def utc_now() -> datetime:
    return datetime.now(UTC)


def bootstrap(settings: NotificationSettings | None = None) -> FastStream:
    settings = settings or NotificationSettings().require_addresses()
    assert settings is not None
    if settings.smtp_url is None:
        raise RuntimeError("SMTP_URL is not set (or start the local stack with `creditflow up`)")
    configure_logging(SERVICE, settings.log_level, secrets=settings.secret_values())
    broker = make_broker(settings, client_id=SERVICE, middlewares=(MessageContext, kafka_middleware(SERVICE)))
    worker = Worker(SERVICE, settings, broker, topics.NOTIFICATIONS_DLQ)
    notification_log = MongoNotificationLog(worker.db)
    directory = TenantDirectory(worker.db)
    mailer = CountedMailer(SmtpMailer(settings.smtp_url.get_secret_value(), settings.smtp_from))
    limits = RateLimit(
        per_hour=settings.rate_limit_per_hour, digest_window=timedelta(minutes=settings.digest_window_minutes)
    )
    service = NotificationService(notification_log, directory, mailer, utc_now, limits=limits)
    wake = asyncio.Event()
    broker.include_router(build_router(worker, service, directory, settings.consumer_group, wake))

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await notification_log.create_indexes()
        await worker.start_health()
        sender = asyncio.create_task(sender_loop(worker, service, wake, settings.send_interval_seconds))
        yield
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await worker.close()

    return FastStream(broker, lifespan=lifespan)
