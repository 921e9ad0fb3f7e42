"""What the wallet decided. The service turns these into wire events with deterministic ids."""

from dataclasses import dataclass
from typing import Literal

from .model import LedgerEntry

RefusalReason = Literal[
    "not_an_admin",
    "unknown_tenant",
    "unknown_entry",
    "not_reversible",
    "already_voided",
    "exceeds_refundable",
    "below_floor",
    "invalid_grant",
    "unknown_payment",
    "invalid_settings",
]


@dataclass(frozen=True)
class EntryRecorded:
    entry: LedgerEntry


@dataclass(frozen=True)
class DebitRejected:
    command_id: str
    amount: int
    balance: int
    reason: Literal["insufficient_credits"] = "insufficient_credits"


@dataclass(frozen=True)
class CommandRefused:
    command_id: str
    reason: RefusalReason
    detail: str


@dataclass(frozen=True)
class ThresholdCrossed:
    threshold: int
    balance: int
    entry_id: str


@dataclass(frozen=True)
class ThresholdRecovered:
    threshold: int
    balance: int
    entry_id: str


@dataclass(frozen=True)
class PaymentRequested:
    """Ask the payment provider to charge the tenant; credits follow only on its `payment.succeeded`."""

    payment_id: str
    credits: int
    amount_minor: int
    purpose: Literal["purchase", "auto_recharge"]
    requested_by: str | None
    payment_method: str | None


@dataclass(frozen=True)
class PaymentSucceeded:
    payment_id: str
    credits: int
    amount_minor: int
    purpose: Literal["purchase", "auto_recharge"]
    balance_after: int


@dataclass(frozen=True)
class PaymentFailed:
    payment_id: str
    credits: int
    purpose: Literal["purchase", "auto_recharge"]
    reason: str
    consecutive_failures: int
    auto_recharge_disabled: bool


@dataclass(frozen=True)
class SettingsChanged:
    command_id: str
    changed: tuple[str, ...]
    by: str | None


@dataclass(frozen=True)
class EntryMark:
    """An update to an earlier ledger entry: how much more of it was given back, and by which void."""

    entry_id: str
    reversed_delta: int
    voided_by: str | None = None


Event = (
    EntryRecorded
    | DebitRejected
    | CommandRefused
    | ThresholdCrossed
    | ThresholdRecovered
    | PaymentRequested
    | PaymentSucceeded
    | PaymentFailed
    | SettingsChanged
)
