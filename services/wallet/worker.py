"""Wallet handlers: wallet commands and payment outcomes in; wallet events, payment requests and spend state
out. Plus the expiry sweeper, which asks the wallet to expire buckets that are due."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from pydantic import TypeAdapter, ValidationError

from schemas import topics
from schemas.payments import PaymentEvent
from schemas.wallet import Expire, WalletCommand
from shared.directory import TenantDirectory
from shared.runtime import Worker, subscribe_directory

from .adapters.mongo import MongoWalletStore
from .service import WalletInput, WalletService

COMMAND = TypeAdapter[WalletCommand](WalletCommand)
PAYMENT = TypeAdapter[PaymentEvent](PaymentEvent)
log = structlog.get_logger()
WALLET_PAYMENTS = ("purchase:", "recharge:")


def build_router(worker: Worker, service: WalletService, directory: TenantDirectory, group: str) -> KafkaRouter:
    router = KafkaRouter()
    common: dict[str, Any] = {"auto_offset_reset": "earliest", "ack_policy": AckPolicy.NACK_ON_ERROR}

    async def handle(msg: KafkaMessage, command: WalletInput) -> None:
        applied = await service.handle(command)
        if applied.status == "conflict":
            await worker.dead_letter(msg, "conflict", f"{command.tenant_id}: this id was applied with another payload")
            return
        for out in applied.events:
            await worker.publish(out["event"], out["topic"], key=command.tenant_id)
        wallet = applied.wallet or await service.store.wallet(command.tenant_id)
        state = service.spend_state(wallet, datetime.now(UTC))
        await worker.publish(state, topics.WALLET_SPEND_STATE, key=command.tenant_id)

    @router.subscriber(topics.WALLET_COMMANDS, group_id=group, **common)  # type: ignore[untyped-decorator]
    async def on_wallet_command(msg: KafkaMessage) -> None:
        try:
            command = COMMAND.validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        await handle(msg, command)

    @router.subscriber(topics.PAYMENTS_EVENTS, group_id=f"{group}-payments", **common)  # type: ignore[untyped-decorator]
    async def on_payment_event(msg: KafkaMessage) -> None:
        try:
            outcome = PAYMENT.validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        if outcome.payment_id.startswith(WALLET_PAYMENTS):  # invoices are the subscriptions service's
            await handle(msg, outcome)

    subscribe_directory(router, worker, directory, group)

    return router


async def expiry_sweeper(worker: Worker, store: MongoWalletStore, interval: float) -> None:
    """Every `interval` seconds, publish an `expire` command for each wallet with a bucket past its expiry.

    Debits expire due buckets themselves; the sweeper makes an idle wallet's balance drop on time too. The
    command id is the minute, so sweepers in several workers send the same command and it applies once.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            now = datetime.now(UTC)
            for tenant_id in await store.tenants_with_expiry_due(now):
                command = Expire(command_id=f"expire:{now:%Y%m%dT%H%M}", tenant_id=tenant_id, issued_at=now)
                await worker.publish(command, topics.WALLET_COMMANDS, key=tenant_id)
        except Exception:
            log.exception("expiry_sweep_failed")
