"""Sandbox payment provider: `payment.requested` in, `payment.succeeded` or `payment.failed` out."""

from datetime import UTC, datetime

from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from pydantic import ValidationError

from schemas import topics
from schemas.payments import PaymentRequested
from shared.runtime import Worker

from .adapters.mongo import MongoCharges
from .domain import charge


def build_router(worker: Worker, charges: MongoCharges, group: str) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        topics.PAYMENTS_REQUESTS, group_id=group, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR
    )
    async def on_payment_requested(msg: KafkaMessage) -> None:
        try:
            request = PaymentRequested.model_validate_json(msg.body)
        except ValidationError as exc:
            await worker.dead_letter(msg, "schema_violation", str(exc))
            return
        outcome = charge(request, at=datetime.now(UTC)).model_dump(mode="json")
        stored = await charges.record_once(request.payment_id, request.tenant_id, outcome)
        await worker.publish(stored, topics.PAYMENTS_EVENTS, key=request.tenant_id)

    return router
