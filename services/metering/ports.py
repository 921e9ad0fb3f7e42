from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from schemas.tenants import TenantUpserted
from schemas.usage import UsageEvent

from .domain.model import MeterPrice, Period, Priced


@dataclass(frozen=True)
class Recorded:
    status: Literal["new", "duplicate", "conflict"]
    amount: Decimal
    entry_type: str


@dataclass(frozen=True)
class ToRecord:
    event: UsageEvent
    fingerprint: str
    period: Period
    pricing: Callable[[Decimal], Priced]
    tiered: bool = True
    """Its price depends on the units its period had before (tiers): the store prices it from the aggregate's
    stored units and guards the aggregate's update by them. A flat price does not: its aggregate is added to
    unread and unguarded (an increment is exact whatever another worker added meanwhile)."""


class UsageStore(Protocol):
    async def record(
        self,
        event: UsageEvent,
        fingerprint: str,
        period: Period,
        pricing: Callable[[Decimal], Priced],
        *,
        at: datetime,
    ) -> Recorded:
        """Price the event (`pricing` gets the units of its meter already used in `period`) and write the dedup
        record of (tenant, event id) with its priced outcome, the period's aggregate and its distinct values in
        one transaction. Seen before with the same fingerprint: `duplicate` (with the stored outcome, so the
        debit can be sent again); with another: `conflict`."""
        ...

    async def record_runs(self, runs: list[tuple[str, list[ToRecord]]], *, at: datetime) -> list[list[Recorded]]:
        """Several tenants' runs in one transaction."""
        ...

    async def mark_rejected(self, tenant_id: str, event_id: str) -> bool: ...


class Prices(Protocol):
    async def versions_of(self, tenant_ids: list[str]) -> dict[str, dict[str, list[MeterPrice]]]: ...


class Directory(Protocol):
    async def get_many(self, tenant_ids: list[str]) -> dict[str, TenantUpserted]: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
