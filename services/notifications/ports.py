from datetime import datetime
from typing import Literal, Protocol

from .domain.model import Delivery
from .templates import Rendered


class PermanentFailure(Exception):
    """The SMTP server refused the message for good (5xx): retrying will not help."""


class Mailer(Protocol):
    async def send(self, *, to: str, rendered: Rendered, message_id: str) -> None:
        """Hand one message to the SMTP server. Raises PermanentFailure on a 5xx refusal and any other
        exception when it is worth retrying (server down, timeout, 4xx)."""
        ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...


Merged = Literal["merged", "already", "closed"]


class NotificationLog(Protocol):
    """One record per (tenant, event, recipient): the unit of exactly-once delivery."""

    async def add(self, delivery: Delivery, *, at: datetime) -> bool:
        """Record a delivery to make; False if it is already in the log."""
        ...

    async def merge(self, delivery: Delivery, *, at: datetime, due_at: datetime) -> Merged:
        """Count one event into a digest delivery, once per (event, recipient); see MongoNotificationLog."""
        ...

    async def sent_since(self, tenant_id: str, email: str, since: datetime) -> int: ...

    async def defer(self, delivery_id: str, *, until: datetime) -> None: ...

    async def claim_due(self, *, now: datetime, lease_until: datetime) -> Delivery | None:
        """Take one due delivery, leased until `lease_until` so that no other sender takes it."""
        ...

    async def attempts(self, delivery_id: str) -> tuple[int, datetime]: ...

    async def mark_sent(self, delivery_id: str, *, subject: str, at: datetime) -> None: ...

    async def mark_retry(self, delivery_id: str, *, error: str, next_attempt_at: datetime) -> None: ...

    async def mark_failed(self, delivery_id: str, *, error: str) -> None: ...
