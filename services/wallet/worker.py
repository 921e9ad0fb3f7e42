"""Wallet handlers: wallet commands in, wallet events and spend state out."""

from datetime import UTC, datetime

from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from pydantic import TypeAdapter, ValidationError

from schemas import topics
from schemas.wallet import WalletCommand
from shared.directory import TenantDirectory
from shared.runtime import Worker, subscribe_directory

from .service import WalletService

COMMAND = TypeAdapter[WalletCommand](WalletCommand)


def build_router(worker: Worker, service: WalletService, directory: TenantDirectory, group: str) -> KafkaRouter:
    router = KafkaRouter()
    common = {"auto_offset_reset": "earliest", "ack_policy": AckPolicy.NACK_ON_ERROR}

    @router.subscriber(topics.WALLET_COMMANDS, group_id=group, **common)  # type: ignore[call-overload,untyped-decorator]
    async def on_wallet_command(msg: KafkaMessage) -> None:
        try:
            command = COMMAND.validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        applied = await service.handle(command)
        if applied.status == "conflict":
            await worker.dead_letter(msg, "conflict", f"command {command.command_id} was applied with another payload")
            return
        for event in applied.events:
            await worker.publish(event, topics.WALLET_EVENTS, key=command.tenant_id)
        wallet = applied.wallet or await service.store.wallet(command.tenant_id)
        state = service.spend_state(wallet, datetime.now(UTC))
        await worker.publish(state, topics.WALLET_SPEND_STATE, key=command.tenant_id)

    subscribe_directory(router, worker, directory, group)

    return router
