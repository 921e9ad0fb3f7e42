"""A WalletStore in memory, with the same contract as the MongoDB one: for property tests and benchmarks of
the rules alone. Not for production: nothing survives the process."""

from dataclasses import replace
from datetime import datetime
from typing import Any

from ..domain.model import LedgerEntry, Wallet
from ..ports import Applied, Decision, LedgerQuery, WireEvents


class InMemoryWalletStore:
    def __init__(self) -> None:
        self.wallets: dict[str, Wallet] = {}
        self.entries: list[LedgerEntry] = []
        self.applied: dict[tuple[str, str], tuple[str, list[dict[str, Any]]]] = {}

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
        if (seen := self.applied.get((tenant_id, command_id))) is not None:
            stored_fingerprint, events = seen
            return Applied("duplicate", events) if stored_fingerprint == fingerprint else Applied("conflict", [])
        current = await self.wallet(tenant_id)
        target = next((e for e in self.entries if e.entry_id == target_entry_id and e.tenant_id == tenant_id), None)
        outcome = decide(current, target)
        wire = to_wire(outcome)
        self.applied[(tenant_id, command_id)] = (fingerprint, wire)
        self.entries.extend(outcome.entries)
        for mark in outcome.marks:
            index = next(i for i, e in enumerate(self.entries) if e.entry_id == mark.entry_id)
            old = self.entries[index]
            self.entries[index] = replace(
                old,
                reversed_amount=old.reversed_amount + mark.reversed_delta,
                voided_by=mark.voided_by or old.voided_by,
            )
        self.wallets[tenant_id] = outcome.wallet
        return Applied("applied", wire, outcome.wallet)

    async def wallet(self, tenant_id: str) -> Wallet:
        return self.wallets.get(tenant_id) or Wallet(tenant_id)

    async def ledger_of(self, tenant_id: str) -> list[LedgerEntry]:
        return [e for e in self.entries if e.tenant_id == tenant_id]

    async def ledger(
        self, tenant_id: str, *, limit: int = 50, skip: int = 0, query: LedgerQuery | None = None
    ) -> list[LedgerEntry]:
        entries = [e for e in await self.ledger_of(tenant_id) if query is None or _matches(e, query)]
        return list(reversed(entries))[skip : skip + limit]

    async def sum_of_entries(self, tenant_id: str) -> tuple[int, int]:
        entries = await self.ledger_of(tenant_id)
        return sum(e.amount for e in entries), len(entries)

    async def tenant_ids(self) -> list[str]:
        return list(self.wallets)


def _matches(entry: LedgerEntry, query: LedgerQuery) -> bool:
    return (
        (query.since is None or entry.occurred_at >= query.since)
        and (query.until is None or entry.occurred_at < query.until)
        and (query.entry_type is None or entry.entry_type == query.entry_type)
        and (query.site is None or entry.site == query.site)
        and (query.personnel is None or entry.personnel == query.personnel)
    )
