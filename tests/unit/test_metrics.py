"""creditflow's own counters move where the work happens."""

from typing import Any

import pytest

from shared.metrics import EMAILS, INVOICES


def _count(counter: Any, *labels: str) -> float:
    return float(counter.labels(*labels)._value.get())


async def test_an_invoice_event_published_from_the_outbox_is_counted_by_kind() -> None:
    from services.subscriptions.worker import publish

    class Worker:
        async def publish(self, payload: dict[str, Any], topic: str, key: str) -> None:
            return None

    class Store:
        async def mark_published(self, ids: list[str]) -> None:
            return None

    before = _count(INVOICES, "invoice.paid")
    messages = [
        {"id": f"m-{kind}", "topic": "subscriptions.events", "key": "acme", "payload": {"kind": kind}}
        for kind in ("invoice.paid", "subscription.renewed")
    ]

    await publish(Worker(), Store(), messages)  # type: ignore[arg-type]

    assert _count(INVOICES, "invoice.paid") == before + 1


async def test_a_failed_send_is_counted_and_still_raised_for_the_retry() -> None:
    from services.notifications.adapters.smtp import CountedMailer

    class Down:
        async def send(self, *, to: str, rendered: Any, message_id: str) -> None:
            raise ConnectionRefusedError("smtp down")

    before = _count(EMAILS, "failed")
    with pytest.raises(ConnectionRefusedError):
        await CountedMailer(Down()).send(to="a@b.example", rendered=None, message_id="<m@x>")

    assert _count(EMAILS, "failed") == before + 1
