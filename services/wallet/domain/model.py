"""The wallet of one tenant and its ledger entries. Amounts are integer micro-credits (1e-6 credit)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

CREDIT = 1_000_000
DEFAULT_THRESHOLDS: tuple[int, ...] = (100 * CREDIT, 0)


@dataclass(frozen=True)
class Policy:
    """What happens when a debit does not fit: `hard` refuses it, `overdraft` allows down to -limit."""

    kind: Literal["hard", "overdraft"] = "hard"
    overdraft_limit: int = 0

    @property
    def floor(self) -> int:
        return -self.overdraft_limit if self.kind == "overdraft" else 0


@dataclass(frozen=True)
class Wallet:
    tenant_id: str
    balance: int = 0
    version: int = 0
    policy: Policy = field(default_factory=Policy)
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    tenant_id: str
    entry_type: str
    amount: int
    balance_after: int
    occurred_at: datetime
    recorded_at: datetime
    command_id: str
    source: str
    site: str | None = None
    personnel: str | None = None


@dataclass(frozen=True)
class DebitRequest:
    command_id: str
    amount: int
    entry_type: str
    occurred_at: datetime
    source: str
    site: str | None = None
    personnel: str | None = None


@dataclass(frozen=True)
class TopUpRequest:
    command_id: str
    amount: int
    requested_by: str
