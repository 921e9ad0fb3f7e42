"""Metering handlers: usage events in; debit commands, or dead letters with a reason, out. Also keeps the
tenants' price versions and counts the debits the wallet rejected."""

import json
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from pydantic import ValidationError

from schemas import topics
from schemas.prices import PriceSet
from shared.directory import TenantDirectory
from shared.runtime import Worker, subscribe_directory

from .adapters.prices import MongoPriceStore
from .service import MeteringService, event_id_of


def build_router(
    worker: Worker, service: MeteringService, directory: TenantDirectory, prices: MongoPriceStore, group: str
) -> KafkaRouter:
    router = KafkaRouter()
    common: dict[str, Any] = {"auto_offset_reset": "earliest", "ack_policy": AckPolicy.NACK_ON_ERROR}

    @router.subscriber(topics.USAGE_EVENTS, group_id=group, **common)  # type: ignore[untyped-decorator]
    async def on_usage_event(msg: KafkaMessage) -> None:
        outcome = await service.handle(msg.body)
        if outcome.rejection is not None:
            await worker.dead_letter(msg, outcome.rejection.reason, outcome.rejection.detail)
        elif outcome.debit is not None:
            await worker.publish(outcome.debit, topics.WALLET_COMMANDS, key=outcome.debit.tenant_id)

    @router.subscriber(topics.METERING_PRICES, group_id=f"{group}-prices", **common)  # type: ignore[untyped-decorator]
    async def on_price_set(msg: KafkaMessage) -> None:
        try:
            change = PriceSet.model_validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        await prices.upsert(change)

    @router.subscriber(topics.WALLET_EVENTS, group_id=f"{group}-wallet-events", **common)  # type: ignore[untyped-decorator]
    async def on_wallet_event(msg: KafkaMessage) -> None:
        try:
            event = json.loads(msg.body)
        except ValueError:
            return  # not ours to judge: the wallet's own contract tests cover its events
        if isinstance(event, dict) and event.get("kind") == "debit.rejected":
            event_id = event_id_of(str(event.get("command_id", "")))
            if event_id is not None:
                await service.store.mark_rejected(str(event["tenant_id"]), event_id)

    subscribe_directory(router, worker, directory, group)

    return router
