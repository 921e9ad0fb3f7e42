"""Notification handlers: wallet events in, deliveries recorded; a sender loop e-mails them."""

import asyncio
import contextlib
import json
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter

from schemas import topics
from shared.directory import TenantDirectory
from shared.runtime import Worker, dead_letter, subscribe_directory

from .service import NotificationService

log = structlog.get_logger()


def build_router(
    worker: Worker, service: NotificationService, directory: TenantDirectory, group: str, wake: asyncio.Event
) -> KafkaRouter:
    router = KafkaRouter()
    common: dict[str, Any] = {"auto_offset_reset": "earliest", "ack_policy": AckPolicy.NACK_ON_ERROR}

    async def handle(msg: KafkaMessage) -> None:
        try:
            event = json.loads(msg.body)
            str(event["event_id"]), str(event["tenant_id"])
        except (ValueError, TypeError, KeyError) as exc:
            await worker.dead_letter(msg, "schema_violation", f"not an event: {exc!r}")
            return
        try:
            added = await service.on_event(event)
        except (KeyError, ValueError, ArithmeticError) as exc:  # a field a template needs is missing or wrong
            await worker.dead_letter(msg, "schema_violation", f"{type(exc).__name__}: {exc}")
            return
        if added:
            wake.set()

    @router.subscriber(topics.WALLET_EVENTS, group_id=group, **common)  # type: ignore[untyped-decorator]
    async def on_wallet_event(msg: KafkaMessage) -> None:
        await handle(msg)

    @router.subscriber(topics.SUBSCRIPTIONS_EVENTS, group_id=f"{group}-subscriptions", **common)  # type: ignore[untyped-decorator]
    async def on_subscription_event(msg: KafkaMessage) -> None:
        await handle(msg)

    subscribe_directory(router, worker, directory, group)

    return router


async def sender_loop(worker: Worker, service: NotificationService, wake: asyncio.Event, interval: float) -> None:
    """Deliver due e-mails; woken at once by new deliveries, otherwise every `interval` for retries."""
    while True:
        try:
            for delivery, reason in await service.send_due():
                payload: dict[str, Any] = {
                    "delivery_id": delivery.delivery_id,
                    "event_id": delivery.notice.event_id,
                    "to": delivery.recipient.email,
                    "template": delivery.notice.template,
                }
                await dead_letter(
                    worker.broker,
                    topics.NOTIFICATIONS_DLQ,
                    service=worker.service,
                    reason="permanent_delivery_failure",
                    detail=reason,
                    source_topic=topics.WALLET_EVENTS,
                    partition=-1,
                    offset=-1,
                    key=delivery.notice.tenant_id.encode(),
                    value=json.dumps(payload).encode(),
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sender_loop_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval)
        wake.clear()
