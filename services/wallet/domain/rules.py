"""Pure wallet rules: state in, new state and events out. No I/O, no clock (the time is passed in)."""

from dataclasses import replace
from datetime import datetime

from .events import CommandRefused, DebitRejected, EntryRecorded, Event, ThresholdCrossed, ThresholdRecovered
from .model import DebitRequest, LedgerEntry, TopUpRequest, Wallet


def entry_id_for(tenant_id: str, command_id: str) -> str:
    """One ledger entry per applied command; its id derives from the command id, scoped by tenant (two
    tenants may use the same command id), so every id the wallet emits is unique system-wide."""
    return f"entry:{tenant_id}:{command_id}"


def is_below(balance: int, threshold: int) -> bool:
    """Below a positive threshold means strictly less; 'below' 0 means used up (0 or less)."""
    return balance < threshold if threshold > 0 else balance <= threshold


def threshold_changes(before: int, after: int, thresholds: tuple[int, ...], entry_id: str) -> list[Event]:
    """One event per threshold the balance moved across, in either direction; none while it stays put."""
    events: list[Event] = []
    for threshold in sorted(thresholds, reverse=True):
        was, now = is_below(before, threshold), is_below(after, threshold)
        if not was and now:
            events.append(ThresholdCrossed(threshold=threshold, balance=after, entry_id=entry_id))
        elif was and not now:
            events.append(ThresholdRecovered(threshold=threshold, balance=after, entry_id=entry_id))
    return events


def _record(
    wallet: Wallet,
    *,
    amount: int,
    entry_type: str,
    command_id: str,
    source: str,
    occurred_at: datetime,
    at: datetime,
    site: str | None = None,
    personnel: str | None = None,
) -> tuple[Wallet, list[Event]]:
    entry = LedgerEntry(
        entry_id=entry_id_for(wallet.tenant_id, command_id),
        tenant_id=wallet.tenant_id,
        entry_type=entry_type,
        amount=amount,
        balance_after=wallet.balance + amount,
        occurred_at=occurred_at,
        recorded_at=at,
        command_id=command_id,
        source=source,
        site=site,
        personnel=personnel,
    )
    updated = replace(wallet, balance=entry.balance_after, version=wallet.version + 1)
    # A new wallet starts at 0 without having gone below anything: its first entry crosses nothing.
    fresh = wallet.version == 0
    changes = [] if fresh else threshold_changes(wallet.balance, updated.balance, wallet.thresholds, entry.entry_id)
    return updated, [EntryRecorded(entry), *changes]


def debit(wallet: Wallet, request: DebitRequest, *, at: datetime) -> tuple[Wallet, list[Event]]:
    """Charge `request.amount` unless it would take the balance below the policy floor.

    A debit that does not fit is an expected outcome (`DebitRejected`), not an error: nothing is charged.
    """
    if wallet.balance - request.amount < wallet.policy.floor:
        return wallet, [DebitRejected(command_id=request.command_id, amount=request.amount, balance=wallet.balance)]
    return _record(
        wallet,
        amount=-request.amount,
        entry_type=request.entry_type,
        command_id=request.command_id,
        source=request.source,
        occurred_at=request.occurred_at,
        at=at,
        site=request.site,
        personnel=request.personnel,
    )


def top_up(
    wallet: Wallet, request: TopUpRequest, *, admins: frozenset[str] | None, at: datetime
) -> tuple[Wallet, list[Event]]:
    """Credit purchased credits. Only an admin of the tenant may buy (`admins` None: tenant unknown)."""
    if admins is None:
        return wallet, [CommandRefused(request.command_id, "unknown_tenant", f"no tenant {wallet.tenant_id!r}")]
    if request.requested_by.lower() not in admins:
        return wallet, [
            CommandRefused(request.command_id, "not_an_admin", f"{request.requested_by} is not an admin of the tenant")
        ]
    return _record(
        wallet,
        amount=request.amount,
        entry_type="topup",
        command_id=request.command_id,
        source=f"purchase by {request.requested_by}",
        occurred_at=at,
        at=at,
        personnel=request.requested_by,
    )
