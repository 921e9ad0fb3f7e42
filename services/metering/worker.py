"""Metering handlers: usage events in; debit commands, or dead letters with a reason, out."""

from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter

from schemas import topics
from shared.directory import TenantDirectory
from shared.runtime import Worker, subscribe_directory

from .service import MeteringService


def build_router(worker: Worker, service: MeteringService, directory: TenantDirectory, group: str) -> KafkaRouter:
    router = KafkaRouter()
    common = {"auto_offset_reset": "earliest", "ack_policy": AckPolicy.NACK_ON_ERROR}

    @router.subscriber(topics.USAGE_EVENTS, group_id=group, **common)  # type: ignore[call-overload,untyped-decorator]
    async def on_usage_event(msg: KafkaMessage) -> None:
        outcome = await service.handle(msg.body)
        if outcome.rejection is not None:
            await worker.dead_letter(msg, outcome.rejection.reason, outcome.rejection.detail)
        elif outcome.debit is not None:
            await worker.publish(outcome.debit, topics.WALLET_COMMANDS, key=outcome.debit.tenant_id)

    subscribe_directory(router, worker, directory, group)

    return router
