"""A small async producer client for usage events, and the signature check for webhook receivers.

    async with UsageClient("127.0.0.1:9092") as usage:
        await usage.send("acme", "sms", 1, site="Insypro", personnel="Jean-Luc Lemaire")

Each event gets an idempotency key (a UUID unless you pass `event_id`), the tenant id is the Kafka key,
and a failed publish is retried with the same key, so a retry is never charged twice.
"""

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.topics import USAGE_EVENTS
from schemas.usage import PropertyValue, UsageEvent
from shared.signing import WebhookSignatureError, verify

__all__ = ["UsageClient", "WebhookSignatureError", "verify_webhook"]


def verify_webhook(body: bytes, signature_header: str | None, secret: str, *, tolerance: int = 300) -> dict[str, Any]:
    """Check a webhook delivery and return its event (`schemas.webhooks.WebhookEvent` as JSON data).

    Pass the raw request body (before any JSON parsing: re-serialised JSON does not match), the
    `Creditflow-Signature` header and the endpoint's secret. Raises `WebhookSignatureError` if the body was not
    signed with that secret or the signature is more than `tolerance` seconds old. Deliveries are at least once:
    de-duplicate on the event's `id`.

        event = verify_webhook(await request.body(), request.headers.get("Creditflow-Signature"), secret)
    """
    import json

    verify(body, signature_header, secret, tolerance=tolerance)
    event: dict[str, Any] = json.loads(body)
    return event


class UsageClient:
    def __init__(self, bootstrap_servers: str, *, retries: int = 5, **producer_options: Any) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            enable_idempotence=False,
            linger_ms=5,
            **producer_options,
        )
        self._retries = retries

    async def __aenter__(self) -> "UsageClient":
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self._producer.stop()

    async def send(
        self,
        tenant_id: str,
        meter: str,
        quantity: Decimal | int | str,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        site: str | None = None,
        personnel: str | None = None,
        properties: dict[str, PropertyValue] | None = None,
    ) -> UsageEvent:
        event = UsageEvent(
            event_id=event_id or str(uuid.uuid4()),
            tenant_id=tenant_id,
            type=meter,
            quantity=Decimal(quantity),
            occurred_at=occurred_at or datetime.now(UTC),
            site=site,
            personnel=personnel,
            properties=properties or {},
        )
        await self.publish(event)
        return event

    async def publish(self, event: UsageEvent) -> None:
        payload = event.model_dump_json(exclude_none=True).encode()
        for attempt in range(self._retries + 1):
            try:
                await self._producer.send_and_wait(USAGE_EVENTS, payload, key=event.tenant_id.encode())
                return
            except KafkaError:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(min(5.0, 0.1 * 2**attempt))
