"""The message middleware: retries what can succeed later, dead-letters a poison message after a few tries."""

import asyncio
import gc
import os
from dataclasses import dataclass
from typing import Any

import pymongo.errors
import pytest

from shared import runtime
from shared.runtime import POISON_AFTER, MessageContext


@dataclass
class Record:
    topic: str = "usage.events"
    partition: int = 3
    offset: int = 42
    key: bytes = b"acme"


@dataclass
class Message:
    raw_message: Record


async def deliver(error: Exception, times: int, letters: list[tuple[str, str]]) -> list[str]:
    """Deliver one failing message `times` times, as the consumer would after each failure."""
    middleware = MessageContext.__new__(MessageContext)
    outcomes: list[str] = []

    async def handler(_: Any) -> None:
        raise error

    for _ in range(times):
        try:
            await middleware.consume_scope(handler, Message(Record()))  # type: ignore[arg-type]
            outcomes.append("acknowledged")
        except Exception:
            outcomes.append("retry")
    return outcomes


@pytest.fixture
def letters(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    sent: list[tuple[str, str]] = []

    async def dead_letter(msg: Any, reason: str, detail: str) -> None:
        sent.append((reason, detail))

    async def no_pause(_: float) -> None:
        return None

    monkeypatch.setattr(MessageContext, "dead_letter", dead_letter)
    monkeypatch.setattr(MessageContext, "attempts", {})
    monkeypatch.setattr(asyncio, "sleep", no_pause)
    return sent


async def test_a_message_that_keeps_failing_for_its_own_reasons_is_dead_lettered_after_a_few_tries(
    letters: list[tuple[str, str]],
) -> None:
    outcomes = await deliver(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), 6, letters)

    assert outcomes == ["retry"] * (POISON_AFTER - 1) + ["acknowledged"] + ["retry"]
    assert letters[0][0] == "processing_failed"
    assert "UnicodeEncodeError" in letters[0][1]


async def test_an_infrastructure_outage_is_retried_for_as_long_as_it_lasts(letters: list[tuple[str, str]]) -> None:
    outcomes = await deliver(pymongo.errors.ServerSelectionTimeoutError("no primary"), 2 * POISON_AFTER, letters)

    assert outcomes == ["retry"] * 2 * POISON_AFTER
    assert letters == []


def test_a_tenants_id_range_holds_its_own_ids_and_no_other_tenants() -> None:
    from shared.mongo import ids_of_tenant

    found = ids_of_tenant("acme")
    low, high = found["_id"]["$gte"], found["_id"]["$lt"]

    def within(doc_id: str) -> bool:
        return bool(low <= doc_id < high)

    assert within("acme|usage:e-1") and within("acme|") and within("acme|~~~")
    assert not any(within(i) for i in ("acme2|usage:e-1", "acm|x", "acme-eu|x", "acmf|x", "acme"))
    assert found["tenant_id"] == "acme"


class Letters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, str]] = []

    async def dead_letter_record(self, record: Record, reason: str, detail: str) -> None:
        self.sent.append((record.offset, reason, detail))


async def test_a_record_that_fails_is_dead_lettered_alone_and_the_rest_of_its_batch_is_handled() -> None:
    handled: list[int] = []

    async def handle(record: Record) -> None:
        if record.offset == 2:
            raise ValueError("no such meter")
        handled.append(record.offset)

    letters = Letters()
    await runtime.for_each_record(letters, [Record(offset=i) for i in (1, 2, 3)], handle)  # type: ignore[arg-type]

    assert handled == [1, 3]
    assert letters.sent == [(2, "processing_failed", "ValueError: no such meter")]


async def test_the_infrastructure_failing_stops_the_batch_so_that_all_of_it_comes_again() -> None:
    async def handle(record: Record) -> None:
        raise pymongo.errors.AutoReconnect("primary stepped down")

    letters = Letters()
    with pytest.raises(pymongo.errors.AutoReconnect):
        await runtime.for_each_record(letters, [Record(offset=1), Record(offset=2)], handle)  # type: ignore[arg-type]
    assert letters.sent == []


async def test_a_worker_forgets_what_it_kept_whenever_its_partitions_change() -> None:
    from shared.runtime import ForgetOnRebalance

    forgotten: list[str] = []
    listener = ForgetOnRebalance(lambda: forgotten.append("all"))

    await listener.on_partitions_revoked(set())
    await listener.on_partitions_assigned(set())

    assert forgotten == ["all", "all"]


def test_a_settled_heap_keeps_start_up_out_of_the_collectors_sight_and_collects_the_young_less_often() -> None:
    threshold = gc.get_threshold()
    try:
        runtime.settle_heap()

        assert gc.get_freeze_count() > 0  # what start-up built is no longer walked by a full collection
        assert gc.get_threshold() == (runtime.YOUNG_OBJECTS, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(runtime.c_heap_trimmer() is None, reason="glibc only: other C libraries return freed memory")
def test_memory_freed_in_the_middle_of_the_c_heap_goes_back_to_the_system_when_trimmed() -> None:
    trim = runtime.c_heap_trimmer()
    assert trim is not None
    blocks = [bytes(2000) + bytes([i % 256]) for i in range(40_000)]  # ~80 MiB in the C heap (over 512 bytes each)
    kept = blocks[::10]  # one in ten stays: the heap cannot shrink from its top
    del blocks
    before = _rss_mib()

    trim(0)

    assert _rss_mib() < before - 40, "the free pages between the kept blocks went back"
    assert len(kept) == 4_000


async def test_a_worker_trims_its_c_heap_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(runtime, "c_heap_trimmer", lambda: calls.append)

    task = asyncio.create_task(runtime.return_free_memory(interval=0.01))
    await asyncio.sleep(0.1)
    task.cancel()

    assert len(calls) >= 3 and set(calls) == {0}
