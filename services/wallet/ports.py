from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from .domain.model import LedgerEntry, Wallet
from .domain.rules import Outcome

Decision = Callable[[Wallet, LedgerEntry | None], Outcome]
WireEvents = Callable[[Outcome], list[dict[str, Any]]]


@dataclass(frozen=True)
class Applied:
    status: Literal["applied", "duplicate", "conflict"]
    events: list[dict[str, Any]]
    wallet: Wallet | None = None


@dataclass(frozen=True)
class LedgerQuery:
    """Filters of the ledger a tenant admin sees; all optional, combined with AND."""

    since: datetime | None = None
    until: datetime | None = None
    entry_type: str | None = None
    site: str | None = None
    personnel: str | None = None
    before_sequence: int | None = None
    """Only entries older than this one (the ledger's cursor: entries are numbered 1, 2, ... per tenant)."""


class WalletStore(Protocol):
    async def apply(
        self,
        tenant_id: str,
        command_id: str,
        fingerprint: str,
        decide: Decision,
        to_wire: WireEvents,
        *,
        at: datetime,
        target_entry_id: str | None = None,
    ) -> Applied:
        """Apply one command exactly once.

        Loads the wallet (and the ledger entry `target_entry_id` of this tenant, if given), calls `decide`, and
        writes the new wallet state (guarded by its version), the new ledger entries, the marks on earlier
        entries and the marker of the applied command (with the wire events it produced) in one transaction.
        A command id already applied with the same fingerprint returns `duplicate` and the stored events, so
        they can be published again; with another fingerprint, `conflict`.
        """
        ...

    async def apply_runs(self, runs: list[tuple[str, list[Any]]], *, at: datetime) -> list[list[Applied]]:
        """Several tenants' runs in one transaction."""
        ...

    async def wallet(self, tenant_id: str) -> Wallet: ...

    async def ledger(
        self, tenant_id: str, *, limit: int, skip: int, query: LedgerQuery | None = None
    ) -> list[LedgerEntry]: ...

    async def sum_of_entries(self, tenant_id: str) -> tuple[int, int]:
        """The sum of a tenant's ledger amounts and the number of entries."""
        ...

    async def tenant_ids(self) -> list[str]: ...


class Admins(Protocol):
    async def admins(self, tenant_id: str) -> frozenset[str] | None:
        """The tenant's admins' e-mail addresses, or None when the tenant is unknown."""
        ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
