"""A WalletStore in memory, with the same contract as the MongoDB one: for property tests and benchmarks of
the rules alone. Not for production: nothing survives the process."""

from dataclasses import replace
from datetime import datetime
from typing import Any

from ..batch import Item, Marker, apply_run
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
        [applied] = await self._apply_run(
            tenant_id, [Item(command_id, fingerprint, decide, to_wire, target_entry_id)], at=at
        )
        return applied

    async def _apply_run(self, tenant_id: str, items: list[Item], *, at: datetime) -> list[Applied]:
        seen = {
            i.command_id: Marker(*self.applied[(tenant_id, i.command_id)])
            for i in items
            if (tenant_id, i.command_id) in self.applied
        }
        wanted = {i.target_entry_id for i in items if i.target_entry_id}
        targets = {e.entry_id: e for e in self.entries if e.entry_id in wanted and e.tenant_id == tenant_id}
        run = apply_run(await self.wallet(tenant_id), items, seen, targets)
        for command_id, marker in run.markers.items():
            self.applied[(tenant_id, command_id)] = (marker.fingerprint, marker.events)
        self.entries.extend(run.entries)
        for mark in run.marks:
            index = next(i for i, e in enumerate(self.entries) if e.entry_id == mark.entry_id)
            old = self.entries[index]
            self.entries[index] = replace(
                old,
                reversed_amount=old.reversed_amount + mark.reversed_delta,
                voided_by=mark.voided_by or old.voided_by,
            )
        self.wallets[tenant_id] = run.wallet
        return run.results

    async def apply_runs(self, runs: list[tuple[str, list[Item]]], *, at: datetime) -> list[list[Applied]]:
        return [await self._apply_run(tenant_id, items, at=at) for tenant_id, items in runs]

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
