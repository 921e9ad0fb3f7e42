from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from schemas.usage import UsageEvent

from .domain.model import Priced


@dataclass(frozen=True)
class Recorded:
    status: Literal["new", "duplicate", "conflict"]
    amount: Decimal
    entry_type: str


class UsageStore(Protocol):
    async def record(self, event: UsageEvent, fingerprint: str, priced: Priced, *, at: datetime) -> Recorded:
        """Write the dedup record of (tenant, event id) together with its priced outcome and the usage
        aggregate of its period, in one transaction. Seen before with the same fingerprint: `duplicate`
        (with the stored outcome, so the debit can be sent again); with another: `conflict`."""
        ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
