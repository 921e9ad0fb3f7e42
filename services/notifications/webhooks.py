"""Webhook use cases: record a delivery per (endpoint, event) once, apply the vendor's endpoint commands, and send
what is due, signed, with retries; an endpoint that keeps failing is disabled and its operators told."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from schemas.webhooks import EVENT_ID_HEADER, EVENT_TYPES, SIGNATURE_HEADER, ReplayDeliveries, WebhookCommand
from shared.metrics import WEBHOOKS
from shared.signing import derive_secret, sign

from .adapters.webhooks import MongoWebhookStore
from .domain.webhooks import Endpoint, WebhookRetry, body_for, decide, delivery_id, succeeded
from .ports import Clock

log = structlog.get_logger()
KNOWN_TYPES = frozenset(EVENT_TYPES)
ENDPOINTS_FRESH_SECONDS = 5.0
"""How long a worker trusts the endpoints it read: another worker's new endpoint is seen within this time."""
SEND_LEASE_SECONDS = 120.0


class Poster(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST the body; the HTTP status. Raises on no answer (refused, timeout, TLS)."""
        ...


Alert = Callable[[Endpoint, str, datetime], Awaitable[None]]


@dataclass
class WebhookService:
    store: MongoWebhookStore
    poster: Poster
    clock: Clock
    master_key: str | None
    alert: Alert
    retry: WebhookRetry = field(default_factory=WebhookRetry)
    concurrency: int = 8
    _endpoints: list[Endpoint] = field(default_factory=list)
    _read_at: float = float("-inf")

    async def current(self) -> list[Endpoint]:
        if time.monotonic() - self._read_at > ENDPOINTS_FRESH_SECONDS:
            self._endpoints = await self.store.endpoints()
            self._read_at = time.monotonic()
        return self._endpoints

    def forget(self) -> None:
        self._read_at = float("-inf")

    async def on_event(self, event: dict[str, Any]) -> int:
        """Record the deliveries an event calls for (none without endpoints: no database read). Returns how many
        are new: an event seen again (redelivered, replayed on Kafka) adds none."""
        kind = event.get("kind")
        if kind not in KNOWN_TYPES:
            return 0
        endpoints = [e for e in await self.current() if e.wants(str(kind), str(event["tenant_id"]))]
        if not endpoints:
            return 0
        now = self.clock()
        body = body_for(event, now)
        return await self.store.add(
            [
                {
                    "_id": delivery_id(e.endpoint_id, str(event["event_id"])),
                    "endpoint_id": e.endpoint_id,
                    "event_id": str(event["event_id"]),
                    "type": kind,
                    "tenant_id": event["tenant_id"],
                    "body": body,
                    "status": "pending" if e.enabled else "held",
                    "attempts": 0,
                    "replays": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                    "first_attempt_at": None,
                    "log": [],
                }
                for e in endpoints
            ]
        )

    async def apply(self, command: WebhookCommand) -> dict[str, Any]:
        now = self.clock()
        replay = None
        if isinstance(command, ReplayDeliveries):
            replay = {"delivery_id": command.delivery_id, "since": command.since, "until": command.until}
        outcome = await self.store.apply(
            command.command_id, command.endpoint_id, lambda found: decide(found, command, now), at=now, replay=replay
        )
        self.forget()
        log.info("webhook_command", command=command.kind, endpoint_id=command.endpoint_id, status=outcome["status"])
        return outcome

    async def send_due(self) -> int:
        """Send every due delivery, `concurrency` at a time. Returns how many were attempted."""
        attempted = 0
        while True:
            now = self.clock()
            lease = datetime.fromtimestamp(now.timestamp() + SEND_LEASE_SECONDS, tz=now.tzinfo)
            claimed = []
            for _ in range(self.concurrency):
                doc = await self.store.claim_due(now=now, lease_until=lease)
                if doc is None:
                    break
                claimed.append(doc)
            if not claimed:
                return attempted
            await asyncio.gather(*(self._attempt(doc) for doc in claimed))
            attempted += len(claimed)

    async def _attempt(self, doc: dict[str, Any]) -> None:
        endpoint = next((e for e in await self.current() if e.endpoint_id == doc["endpoint_id"]), None)
        if endpoint is None or not endpoint.enabled:
            self.forget()
            endpoint = await self.store.endpoint(doc["endpoint_id"])
        if endpoint is None or not endpoint.enabled:
            why = "the endpoint was deleted" if endpoint is None else "the endpoint is disabled"
            await self._record(
                doc, status_code=None, error=why, duration_ms=0, outcome="failed" if endpoint is None else "held"
            )
            return
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            if self.master_key is None:
                raise RuntimeError("WEBHOOK_SIGNING_KEY is not set: cannot sign")
            body = doc["body"].encode()
            secret = derive_secret(self.master_key, endpoint.endpoint_id, endpoint.salt)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "creditflow-webhooks/1",
                SIGNATURE_HEADER: sign(secret, body),
                EVENT_ID_HEADER: doc["event_id"],
            }
            status_code = await self.poster.post(endpoint.url, body, headers)
            if not succeeded(status_code):
                error = f"HTTP {status_code}"
        except Exception as exc:  # no answer: refused, timeout, TLS, DNS
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = round((time.monotonic() - started) * 1000)
        if error is None:
            await self._record(doc, status_code=status_code, error=None, duration_ms=duration_ms, outcome="delivered")
            return
        now = self.clock()
        retry_at = self.retry.next_attempt(doc["attempts"], doc["first_attempt_at"], now)
        failing_since = await self._record(
            doc,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            outcome="pending" if retry_at else "failed",
            next_attempt_at=retry_at,
        )
        log.info(
            "webhook_attempt_failed",
            endpoint_id=endpoint.endpoint_id,
            delivery_id=doc["_id"],
            attempts=doc["attempts"],
            error=error,
            retry_at=retry_at.isoformat() if retry_at else None,
        )
        if self.retry.disable(failing_since, now):
            reason = f"failing since {failing_since:%Y-%m-%d %H:%M:%S} UTC; last: {error}"
            if await self.store.disable(endpoint.endpoint_id, reason=reason, at=now):
                WEBHOOKS.labels("endpoint_disabled").inc()
                self.forget()
                log.warning("webhook_endpoint_disabled", endpoint_id=endpoint.endpoint_id, reason=reason)
                await self.alert(endpoint, reason, now)

    async def _record(self, doc: dict[str, Any], *, outcome: str, **attempt: Any) -> datetime | None:
        if outcome != "held":
            WEBHOOKS.labels({"pending": "retrying"}.get(outcome, outcome)).inc()
        return await self.store.record(doc["_id"], doc["endpoint_id"], at=self.clock(), outcome=outcome, **attempt)
