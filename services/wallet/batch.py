"""Applying a run of one tenant's commands in order, in memory: the part of a batched transaction that has no
I/O. The store loads the wallet, the markers of the batch's command ids and the entries they name, calls
`apply_run`, then writes what it returns in one transaction.

A command id seen before (in the store or earlier in the same batch) is a duplicate with its stored events,
or a conflict if its fingerprint differs: exactly the single-command rules, batch or not.
"""

from dataclasses import dataclass, field, replace
from typing import Any

from shared.frozen import built

from .domain.events import EntryMark
from .domain.model import LedgerEntry, Wallet
from .ports import Applied, Decision, WireEvents


@dataclass(frozen=True)
class Item:
    command_id: str
    fingerprint: str
    decide: Decision
    to_wire: WireEvents
    target_entry_id: str | None = None


@dataclass(frozen=True)
class Marker:
    fingerprint: str
    events: list[dict[str, Any]]


@dataclass
class Run:
    """What one run changes: the final wallet, new entries and markers, marks on entries stored before."""

    wallet: Wallet
    results: list[Applied] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    markers: dict[str, Marker] = field(default_factory=dict)
    marks: list[EntryMark] = field(default_factory=list)


def apply_run(wallet: Wallet, items: list[Item], seen: dict[str, Marker], targets: dict[str, LedgerEntry]) -> Run:
    """`seen`: markers already stored for these command ids; `targets`: stored entries the items name."""
    run = Run(wallet)
    created: dict[str, LedgerEntry] = {}
    for item in items:
        marker = run.markers.get(item.command_id) or seen.get(item.command_id)
        if marker is not None:
            same = marker.fingerprint == item.fingerprint
            run.results.append(Applied("duplicate", marker.events) if same else Applied("conflict", []))
            continue
        target = None
        if item.target_entry_id is not None:
            target = created.get(item.target_entry_id) or targets.get(item.target_entry_id)
        outcome = item.decide(run.wallet, target)
        wire = item.to_wire(outcome)
        run.wallet = outcome.wallet
        for entry in outcome.entries:
            created[entry.entry_id] = entry
            run.entries.append(entry)
        for mark in outcome.marks:
            if mark.entry_id in created:  # an entry of this batch: amend it before it is written
                old = created[mark.entry_id]
                new = replace(
                    old,
                    reversed_amount=old.reversed_amount + mark.reversed_delta,
                    voided_by=mark.voided_by or old.voided_by,
                )
                created[mark.entry_id] = new
                run.entries = [new if e.entry_id == new.entry_id else e for e in run.entries]
            else:
                run.marks.append(mark)
                stored = targets.get(mark.entry_id)
                if stored is not None:  # a later item of this batch may name it again
                    targets[mark.entry_id] = replace(
                        stored,
                        reversed_amount=stored.reversed_amount + mark.reversed_delta,
                        voided_by=mark.voided_by or stored.voided_by,
                    )
        run.markers[item.command_id] = built(Marker, {"fingerprint": item.fingerprint, "events": wire})
        run.results.append(built(Applied, {"status": "applied", "events": wire, "wallet": run.wallet}))
    return run
