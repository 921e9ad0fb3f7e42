"""Composition root of the notifications worker."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import structlog
from faststream.asgi import AsgiFastStream

from schemas import topics
from shared.directory import TenantDirectory
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.metrics import kafka_middleware
from shared.runtime import MessageContext, Worker

from .adapters.http import HttpxPoster
from .adapters.mongo import MongoNotificationLog
from .adapters.smtp import CountedMailer, SmtpMailer
from .adapters.webhooks import MongoWebhookStore
from .config import NotificationSettings
from .domain.model import Delivery, Fact, Notice, RateLimit, Recipient
from .domain.webhooks import Endpoint, WebhookRetry
from .service import NotificationService
from .webhooks import WebhookService
from .worker import build_router, sender_loop, webhook_loop

SERVICE = "notifications"
log = structlog.get_logger()


def utc_now() -> datetime:
    return datetime.now(UTC)


def bootstrap(settings: NotificationSettings | None = None) -> AsgiFastStream:
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
    wake, wake_webhooks = asyncio.Event(), asyncio.Event()
    operators = settings.operators()

    async def alert_operators(endpoint: Endpoint, reason: str, at: datetime) -> None:
        """E-mail the vendor's operators that an endpoint was disabled, once (through the notification log)."""
        for email in endpoint.alert_emails or operators:
            notice = Notice(
                event_id=f"webhook-disabled:{endpoint.endpoint_id}:{at:%Y%m%dT%H%M%S}",
                tenant_id="",
                tenant_name="",
                template="webhook_disabled",
                facts=(
                    Fact("endpoint_id", "text", endpoint.endpoint_id),
                    Fact("url", "text", endpoint.url),
                    Fact("reason", "text", reason),
                ),
            )
            await notification_log.add(Delivery(f"{notice.event_id}|{email}", notice, Recipient(email, "en")), at=at)
            wake.set()
        if not (endpoint.alert_emails or operators):
            log.warning("webhook_disabled_nobody_to_tell", endpoint_id=endpoint.endpoint_id)

    key = (
        settings.webhook_signing_key
        if settings.webhook_signing_key and settings.webhook_signing_key.get_secret_value()
        else None
    )
    poster = HttpxPoster(timeout=settings.webhook_timeout_seconds)
    webhooks = WebhookService(
        MongoWebhookStore(worker.db),
        poster,
        utc_now,
        key.get_secret_value() if key else None,
        alert_operators,
        retry=WebhookRetry(
            first=timedelta(seconds=settings.webhook_retry_first_seconds),
            ceiling=timedelta(seconds=settings.webhook_retry_ceiling_seconds),
            give_up=timedelta(hours=settings.webhook_give_up_hours),
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
        ),
        concurrency=settings.webhook_concurrency,
    )
    broker.include_router(
        build_router(worker, service, webhooks, directory, settings.consumer_group, wake, wake_webhooks)
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await notification_log.create_indexes()
        await webhooks.store.create_indexes()
        if key is None:
            log.warning("webhooks_off", why="WEBHOOK_SIGNING_KEY is not set: deliveries are recorded, not sent")
        interval = min(settings.send_interval_seconds, settings.webhook_retry_first_seconds)
        loops = [
            asyncio.create_task(sender_loop(worker, service, wake, settings.send_interval_seconds)),
            asyncio.create_task(webhook_loop(webhooks, wake_webhooks, interval)),
        ]
        yield
        for task in loops:
            task.cancel()
        for task in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await poster.close()
        await worker.close()

    return worker.application(lifespan)
