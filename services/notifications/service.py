"""Notification use cases: record what to send once per (event, recipient), then deliver with retries."""

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import structlog

from schemas.tenants import TenantUpserted

from .domain.model import Delivery, Notice, RateLimit, RetryPolicy
from .domain.rules import deliveries, notice_for
from .ports import Clock, Mailer, NotificationLog, PermanentFailure
from .templates import render

log = structlog.get_logger()
SEND_LEASE = timedelta(minutes=2)


def message_id(delivery_id: str) -> str:
    """Deterministic Message-ID: a resend after a crash carries the same id, so mail clients can fold it."""
    return f"<{hashlib.sha256(delivery_id.encode()).hexdigest()[:40]}@creditflow>"


class Directory(Protocol):
    async def get(self, tenant_id: str) -> TenantUpserted | None: ...


@dataclass
class NotificationService:
    log: NotificationLog
    directory: Directory
    mailer: Mailer
    clock: Clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: RateLimit = field(default_factory=RateLimit)

    async def on_event(self, event: dict[str, Any]) -> int:
        """Record the deliveries a wallet or subscription event calls for. Returns how many are new."""
        if notice_for(event, "") is None:  # most events (one per ledger entry) call for no e-mail: no read for them
            return 0
        tenant = await self.directory.get(event["tenant_id"])
        if tenant is None:
            log.warning("event_for_unknown_tenant", event_id=event.get("event_id"))
            return 0
        notice = notice_for(event, tenant.name)
        if notice is None:
            return 0
        now = self.clock()
        if notice.digest:
            return await self._digest(notice, tenant, now)
        return sum([await self.log.add(d, at=now) for d in deliveries(notice, tenant)])

    async def _digest(self, notice: Notice, tenant: TenantUpserted, now: Any) -> int:
        """Gather the event into the digest of its window; if that one is already going out, the next."""
        added = 0
        start, due = self.limits.digest_window_of(now)
        for _ in range(3):
            key = f"digest:{notice.template}:{start:%Y%m%dT%H%M}"
            outcomes = [await self.log.merge(d, at=now, due_at=due) for d in deliveries(notice, tenant, digest_key=key)]
            added += outcomes.count("merged")
            if "closed" not in outcomes:
                return added
            start, due = due, due + self.limits.digest_window
        return added

    async def send_due(self) -> list[tuple[Delivery, str]]:
        """Send every delivery that is due. Returns the ones that failed for good, with the reason."""
        failed: list[tuple[Delivery, str]] = []
        while True:
            now = self.clock()
            delivery = await self.log.claim_due(now=now, lease_until=now + SEND_LEASE)
            if delivery is None:
                return failed
            recent = await self.log.sent_since(
                delivery.notice.tenant_id, delivery.recipient.email, now - timedelta(hours=1)
            )
            if recent >= self.limits.per_hour:
                await self.log.defer(delivery.delivery_id, until=now + self.limits.defer_by)
                log.info("delivery_rate_limited", delivery_id=delivery.delivery_id, sent_last_hour=recent)
                continue
            rendered = render(delivery)
            try:
                await self.mailer.send(
                    to=delivery.recipient.email, rendered=rendered, message_id=message_id(delivery.delivery_id)
                )
            except PermanentFailure as exc:
                await self.log.mark_failed(delivery.delivery_id, error=str(exc))
                failed.append((delivery, str(exc)))
                continue
            except Exception as exc:
                attempts, first = await self.log.attempts(delivery.delivery_id)
                retry_at = self.retry.next_attempt(attempts, first, self.clock())
                error = f"{type(exc).__name__}: {exc}"
                if retry_at is None:
                    await self.log.mark_failed(
                        delivery.delivery_id, error=f"gave up after {attempts} attempts: {error}"
                    )
                    failed.append((delivery, error))
                else:
                    await self.log.mark_retry(delivery.delivery_id, error=error, next_attempt_at=retry_at)
                    log.info("delivery_will_retry", delivery_id=delivery.delivery_id, attempts=attempts, error=error)
                continue
            await self.log.mark_sent(delivery.delivery_id, subject=rendered.subject, at=self.clock())
            log.info("delivered", delivery_id=delivery.delivery_id, template=delivery.notice.template)
