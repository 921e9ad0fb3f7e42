"""What the wallet decided. The service turns these into wire events with deterministic ids."""

from dataclasses import dataclass
from typing import Literal

from .model import LedgerEntry


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
    reason: Literal["not_an_admin", "unknown_tenant"]
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


Event = EntryRecorded | DebitRejected | CommandRefused | ThresholdCrossed | ThresholdRecovered
