from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from .domain.events import Event
from .domain.model import LedgerEntry, Wallet

Decision = Callable[[Wallet], tuple[Wallet, list[Event]]]
WireEvents = Callable[[Wallet, list[Event]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Applied:
    status: Literal["applied", "duplicate", "conflict"]
    events: list[dict[str, Any]]
    wallet: Wallet | None = None


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
    ) -> Applied:
        """Apply one command exactly once.

        Loads the wallet, calls `decide`, and writes the new wallet state (guarded by its version), the
        ledger entries and the marker of the applied command (with the wire events it produced) in one
        transaction. A command id already applied with the same fingerprint returns `duplicate` and the
        stored events, so they can be published again; with another fingerprint, `conflict`.
        """
        ...

    async def wallet(self, tenant_id: str) -> Wallet: ...

    async def ledger(self, tenant_id: str, *, limit: int, skip: int) -> list[LedgerEntry]: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
