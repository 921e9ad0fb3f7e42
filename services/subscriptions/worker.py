"""Subscription handlers: commands, scheduler ticks, payment outcomes and catalogue versions in; the
messages they cause out (from the outbox, marked sent once the broker has them)."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from pydantic import TypeAdapter, ValidationError

from schemas import topics
from schemas.payments import PaymentEvent
from schemas.subscriptions import CatalogueDocument, SubscriptionCommand, Tick
from shared.directory import TenantDirectory
from shared.metrics import INVOICES
from shared.runtime import Worker, subscribe_directory

from .adapters.mongo import Message, MongoSubscriptionStore
from .domain.catalogue import catalogue_from
from .service import SubscriptionService

COMMAND = TypeAdapter[SubscriptionCommand](SubscriptionCommand)
PAYMENT = TypeAdapter[PaymentEvent](PaymentEvent)
INVOICE_PAYMENTS = "pay:inv:"
log = structlog.get_logger()


async def publish(worker: Worker, store: MongoSubscriptionStore, messages: list[Message]) -> None:
    for message in messages:
        await worker.publish(message["payload"], message["topic"], key=message["key"])
        if str(kind := message["payload"].get("kind", "")).startswith("invoice."):
            INVOICES.labels(kind).inc()
    await store.mark_published([m["id"] for m in messages])


def build_router(worker: Worker, service: SubscriptionService, directory: TenantDirectory, group: str) -> KafkaRouter:
    router = KafkaRouter()
    store = service.store
    common: dict[str, Any] = {"auto_offset_reset": "earliest", "ack_policy": AckPolicy.NACK_ON_ERROR}

    @router.subscriber(topics.SUBSCRIPTIONS_COMMANDS, group_id=group, **common)  # type: ignore[untyped-decorator]
    async def on_command(msg: KafkaMessage) -> None:
        try:
            command = COMMAND.validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        status, messages = await service.handle_command(command)
        if status == "conflict":
            await worker.dead_letter(msg, "conflict", f"command {command.command_id} was applied with another payload")
            return
        await publish(worker, store, messages)

    @router.subscriber(topics.SCHEDULER_TICKS, group_id=f"{group}-ticks", **common)  # type: ignore[untyped-decorator]
    async def on_tick(msg: KafkaMessage) -> None:
        try:
            tick = Tick.model_validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        await publish(worker, store, await service.handle_tick(tick))

    @router.subscriber(topics.PAYMENTS_EVENTS, group_id=f"{group}-payments", **common)  # type: ignore[untyped-decorator]
    async def on_payment(msg: KafkaMessage) -> None:
        try:
            event = PAYMENT.validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        if event.payment_id.startswith(INVOICE_PAYMENTS):  # purchases and recharges are the wallet's
            await publish(worker, store, await service.handle_payment(event))

    @router.subscriber(topics.SUBSCRIPTIONS_CATALOGUE, group_id=f"{group}-catalogue", **common)  # type: ignore[untyped-decorator]
    async def on_catalogue(msg: KafkaMessage) -> None:
        try:
            document = json.loads(msg.body)
            CatalogueDocument.model_validate(document)
            catalogue_from(document)
        except (ValueError, KeyError, TypeError) as exc:
            await worker.dead_letter(msg, "schema_violation", f"not a catalogue: {exc!r}")
            return
        if await store.offer_catalogue(document):
            service.catalogue = catalogue_from(document)
            log.info("catalogue_loaded", version=service.catalogue.version)

    subscribe_directory(router, worker, directory, group)
    return router


async def outbox_relay(worker: Worker, store: MongoSubscriptionStore, interval: float) -> None:
    """Publish what a crash left in the outbox (consumers are idempotent, so a repeat is harmless)."""
    while True:
        await asyncio.sleep(interval)
        try:
            stale = await store.unpublished(datetime.now(UTC) - timedelta(seconds=interval))
            if stale:
                log.warning("outbox_relay_publishing", count=len(stale))
                await publish(worker, store, stale)
        except Exception:
            log.exception("outbox_relay_failed")
