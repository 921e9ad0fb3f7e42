"""The wallet of one tenant: its buckets of credits, its settings and its ledger entries.

Amounts are integer micro-credits (1e-6 credit). The balance is always the sum of the buckets, and the
sum of the ledger entries: every change to a bucket is written as a movement of one ledger entry.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

CREDIT = 1_000_000
"""Micro-credits per credit."""
MICRO_EUR = 1_000_000
"""A credit price is held in micro-euros per credit: 1 credit = 1 EUR by default."""
DEFAULT_THRESHOLDS: tuple[int, ...] = (100 * CREDIT, 0)
OVERDRAFT = "overdraft"
"""The id of the one bucket that holds a negative amount: what the tenant owes under an overdraft policy."""
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
AUTO_RECHARGE = "auto-recharge"
"""Who a top-up entry names when the automatic recharge, not a person, bought the credits."""

BucketKind = Literal["allowance", "purchased", "promotional", "adjustment", "restored", "overdraft"]
GrantKind = Literal["allowance", "promotional", "purchased"]
PaymentPurpose = Literal["purchase", "auto_recharge"]
DEFAULT_PRIORITY: dict[str, int] = {"allowance": 10, "promotional": 20, "purchased": 50, "adjustment": 50}


@dataclass(frozen=True)
class Bucket:
    """Credits from one source, drawn in `draw_order`. Only the overdraft bucket is ever negative."""

    bucket_id: str
    kind: BucketKind
    remaining: int
    granted_at: datetime
    priority: int = 50
    expires_at: datetime | None = None

    def is_expired(self, at: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= at


def draw_order(bucket: Bucket) -> tuple[datetime, int, datetime, str]:
    """Soonest expiry first (never-expiring last), then lower priority number, then oldest, then id."""
    return (bucket.expires_at or FAR_FUTURE, bucket.priority, bucket.granted_at, bucket.bucket_id)


@dataclass(frozen=True)
class Movement:
    """What one ledger entry did to one bucket (signed). Carries the bucket's terms so it can be restored."""

    bucket_id: str
    amount: int
    kind: BucketKind
    priority: int = 50
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Policy:
    """What happens when a debit does not fit: `hard` refuses it, `overdraft` allows down to -limit."""

    kind: Literal["hard", "overdraft"] = "hard"
    overdraft_limit: int = 0

    @property
    def floor(self) -> int:
        return -self.overdraft_limit if self.kind == "overdraft" else 0


@dataclass(frozen=True)
class AutoRecharge:
    """Buy credits automatically when the balance falls below `trigger`.

    `fixed` buys `amount` credits; `target` buys what brings the balance back to `amount`. At most
    `monthly_cap` credits are recharged per calendar month (UTC); after `max_failures` failed payments in a
    row the rule switches itself off.
    """

    trigger: int
    mode: Literal["fixed", "target"]
    amount: int
    monthly_cap: int
    max_failures: int = 3
    enabled: bool = True


@dataclass(frozen=True)
class PendingPayment:
    payment_id: str
    credits: int
    amount_minor: int
    purpose: PaymentPurpose
    requested_by: str | None
    requested_at: datetime


@dataclass(frozen=True)
class Wallet:
    tenant_id: str
    balance: int = 0
    version: int = 0
    policy: Policy = field(default_factory=Policy)
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    buckets: tuple[Bucket, ...] = ()
    credit_price: int = MICRO_EUR
    payment_method: str | None = None
    pending: tuple[PendingPayment, ...] = ()
    auto_recharge: AutoRecharge | None = None
    recharge_failures: int = 0
    recharged_month: str = ""
    recharged_in_month: int = 0
    entry_count: int = 0

    def moved(self, *, balance: int, buckets: tuple[Bucket, ...], entry_count: int, version: int) -> "Wallet":
        """This wallet after a decision moved its money: what `replace(self, balance=..., ...)` makes, without its
        walk over the fields through `__init__` (a quarter of a debit's decision). A wallet has no `__post_init__`:
        copying its fields is all `__init__` would do."""
        wallet = object.__new__(Wallet)
        wallet.__dict__.update(
            self.__dict__, balance=balance, buckets=buckets, entry_count=entry_count, version=version
        )
        return wallet

    def bucket(self, bucket_id: str) -> Bucket | None:
        return next((b for b in self.buckets if b.bucket_id == bucket_id), None)

    def pending_payment(self, payment_id: str) -> PendingPayment | None:
        return next((p for p in self.pending if p.payment_id == payment_id), None)

    @property
    def recharge_in_flight(self) -> bool:
        return any(p.purpose == "auto_recharge" for p in self.pending)


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
    movements: tuple[Movement, ...] = ()
    reference: str | None = None
    """For a void or refund: the entry it reverses."""
    reversed_amount: int = 0
    """How much of this entry later refunds and voids have given back."""
    voided_by: str | None = None
    sequence: int = 0
    """The entry's number in its tenant's ledger (1, 2, ...): the ledger's order."""
    description: str | None = None
    """What the entry was for, for a person (the app's name for a fee, the meter's for usage), in the tenant's
    language, as the command that caused it said; `describe` words the wallet's own entries."""


# --- Requests: what a command asks for, in domain terms -------------------------------------------------


@dataclass(frozen=True)
class DebitRequest:
    command_id: str
    amount: int
    entry_type: str
    occurred_at: datetime
    source: str
    site: str | None = None
    personnel: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class GrantRequest:
    command_id: str
    amount: int
    kind: GrantKind
    source: str
    priority: int | None = None
    expires_at: datetime | None = None
    granted_by: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class PurchaseRequest:
    command_id: str
    credits: int
    requested_by: str


@dataclass(frozen=True)
class PaymentOutcome:
    payment_id: str
    succeeded: bool
    reason: str | None = None

    @property
    def command_id(self) -> str:
        """A payment has one outcome: its id is the idempotency key of the outcome."""
        return f"payment:{self.payment_id}"


@dataclass(frozen=True)
class VoidRequest:
    command_id: str
    target_entry_id: str
    reason: str
    by: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    command_id: str
    target_entry_id: str
    amount: int
    reason: str
    by: str | None = None


@dataclass(frozen=True)
class AdjustmentRequest:
    command_id: str
    amount: int
    reason: str
    by: str | None = None


@dataclass(frozen=True)
class ExpireRequest:
    command_id: str


@dataclass(frozen=True)
class Unset:
    """Marks a setting a configure request leaves as it is."""


UNSET = Unset()


@dataclass(frozen=True)
class ConfigureRequest:
    command_id: str
    policy: Policy | Unset = UNSET
    thresholds: tuple[int, ...] | Unset = UNSET
    auto_recharge: AutoRecharge | Unset | None = UNSET
    credit_price: int | Unset = UNSET
    payment_method: str | Unset | None = UNSET
    by: str | None = None


Request = (
    DebitRequest
    | GrantRequest
    | PurchaseRequest
    | PaymentOutcome
    | VoidRequest
    | RefundRequest
    | AdjustmentRequest
    | ExpireRequest
    | ConfigureRequest
)
