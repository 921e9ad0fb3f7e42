"""Notification handlers: wallet events in, deliveries recorded; a sender loop e-mails them."""

import asyncio
import contextlib
import json
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from pydantic import TypeAdapter, ValidationError

from schemas import topics
from schemas.webhooks import WebhookCommand
from shared.directory import TenantDirectory
from shared.runtime import Records, Worker, batch_options, dead_letter, for_each_record, subscribe_directory

from .service import NotificationService
from .webhooks import WebhookService

log = structlog.get_logger()


def build_router(
    worker: Worker,
    service: NotificationService,
    webhooks: WebhookService,
    directory: TenantDirectory,
    group: str,
    wake: asyncio.Event,
    wake_webhooks: asyncio.Event,
) -> KafkaRouter:
    router = KafkaRouter()

    # Every debit makes a wallet event, and most call for no e-mail: they are read in batches, so that the
    # offsets are committed once per batch rather than once per event.
    batched: dict[str, Any] = batch_options()

    async def handle_record(record: Any) -> None:
        try:
            event = json.loads(record.value or b"")
            str(event["event_id"]), str(event["tenant_id"])
        except (ValueError, TypeError, KeyError) as exc:
            await worker.dead_letter_record(record, "schema_violation", f"not an event: {exc!r}")
            return
        try:
            added = await service.on_event(event)
        except (KeyError, ValueError, ArithmeticError) as exc:  # a field a template needs is missing or wrong
            await worker.dead_letter_record(record, "schema_violation", f"{type(exc).__name__}: {exc}")
            return
        if added:
            wake.set()
        if await webhooks.on_event(event):
            wake_webhooks.set()

    @router.subscriber(topics.WALLET_EVENTS, group_id=group, **batched)  # type: ignore[untyped-decorator]
    async def on_wallet_event(records: Records) -> None:
        await for_each_record(worker, records, handle_record)

    @router.subscriber(topics.SUBSCRIPTIONS_EVENTS, group_id=f"{group}-subscriptions", **batched)  # type: ignore[untyped-decorator]
    async def on_subscription_event(records: Records) -> None:
        await for_each_record(worker, records, handle_record)

    commands: TypeAdapter[WebhookCommand] = TypeAdapter(WebhookCommand)

    @router.subscriber(
        topics.WEBHOOKS_COMMANDS, group_id=f"{group}-webhooks", auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )  # fmt: skip
    async def on_webhook_command(msg: KafkaMessage) -> None:
        try:
            command = commands.validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        outcome = await webhooks.apply(command)
        if outcome.get("replayed"):
            wake_webhooks.set()

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


async def webhook_loop(webhooks: WebhookService, wake: asyncio.Event, interval: float) -> None:
    """Send due webhook deliveries; woken at once by new ones, otherwise every `interval` for retries."""
    while True:
        try:
            await webhooks.send_due()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook_loop_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval)
        wake.clear()
