"""Wallet commands (on `wallet.commands`) and wallet events (on `wallet.events`), keyed by tenant id."""

from typing import Annotated, Literal

from pydantic import Field

from .common import Email, EventId, Label, TenantId, UtcDatetime, WireModel
from .money import Credits

PositiveCredits = Annotated[Credits, Field(gt=0)]


class _Command(WireModel):
    schema_version: Literal[1] = 1
    command_id: EventId
    tenant_id: TenantId
    issued_at: UtcDatetime


class Debit(_Command):
    """Charge metered usage or a fee. `entry_type` is what the ledger shows (sms, apf, monthly_fee:<app>)."""

    kind: Literal["debit"] = "debit"
    amount: PositiveCredits
    entry_type: Annotated[str, Field(min_length=1, max_length=64)]
    occurred_at: UtcDatetime
    site: Label | None = None
    personnel: Label | None = None
    source: Annotated[str, Field(max_length=300)] = Field(description="What caused it, e.g. usage event id.")


class TopUp(_Command):
    """Credits bought by a tenant admin. Refused unless `requested_by` is an admin of the tenant."""

    kind: Literal["topup"] = "topup"
    credits: PositiveCredits
    requested_by: Email


WalletCommand = Annotated[Debit | TopUp, Field(discriminator="kind")]


class _Event(WireModel):
    schema_version: Literal[1] = 1
    event_id: EventId
    tenant_id: TenantId
    occurred_at: UtcDatetime


class EntryRecorded(_Event):
    kind: Literal["entry.recorded"] = "entry.recorded"
    entry_id: str
    entry_type: str
    amount: Credits
    balance_after: Credits
    command_id: str


class DebitRejected(_Event):
    kind: Literal["debit.rejected"] = "debit.rejected"
    command_id: str
    amount: Credits
    balance: Credits
    reason: Literal["insufficient_credits"]


class CommandRefused(_Event):
    kind: Literal["command.refused"] = "command.refused"
    command_id: str
    reason: Literal["not_an_admin", "unknown_tenant"]
    detail: str


class ThresholdCrossed(_Event):
    """The balance went below `threshold` (for threshold 0: reached 0 or less). Once per crossing."""

    kind: Literal["threshold.crossed"] = "threshold.crossed"
    direction: Literal["down"] = "down"
    threshold: Credits
    balance: Credits


class ThresholdRecovered(_Event):
    kind: Literal["threshold.recovered"] = "threshold.recovered"
    direction: Literal["up"] = "up"
    threshold: Credits
    balance: Credits


WalletEvent = Annotated[
    EntryRecorded | DebitRejected | CommandRefused | ThresholdCrossed | ThresholdRecovered,
    Field(discriminator="kind"),
]


class SpendState(WireModel):
    """Latest spend state of a tenant, on the compacted `wallet.spend-state` topic. Producers gate on it."""

    tenant_id: TenantId
    can_spend: bool
    balance: Credits
    as_of: UtcDatetime
    version: int
