"""A metering batch's debits travel as one `usage_debits` command per tenant; each line is the debit it stands
for, down to its fingerprint, so the wallet's idempotency by command id does not depend on batch boundaries."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from schemas.usage import UsageEvent
from schemas.wallet import Debit, UsageDebits, UsageLine, WalletCommand
from services.metering.domain.model import Rejection
from services.metering.ports import Recorded
from services.metering.service import MAX_LINES, MeteringService, Outcome, usage_debits
from services.wallet.service import LineDebit, to_request
from shared.idempotency import fingerprint
from shared.runtime import encode

AT = datetime(2026, 12, 2, 9, tzinfo=UTC)
COMMAND = TypeAdapter[WalletCommand](WalletCommand)


def _line(event_id: str, amount: str = "0.15") -> dict[str, Any]:
    line = UsageLine(command_id=f"usage:{event_id}", amount=Decimal(amount), entry_type="sms", occurred_at=AT,
                     site="Lyon", personnel="Philippe Lemaire", source=f"usage.events:{event_id}",
                     description="SMS")  # fmt: skip
    return line.model_dump(mode="json")


def _received(command: dict[str, Any]) -> UsageDebits:
    """The command as the wallet parses it from the wire."""
    parsed = COMMAND.validate_json(encode(command))
    assert isinstance(parsed, UsageDebits)
    return parsed


def _priced(tenant_id: str, event_id: str) -> Outcome:
    return Outcome("priced", debit=_line(event_id), tenant_id=tenant_id)


def test_a_batch_becomes_one_command_per_tenant_with_its_lines_in_event_order() -> None:
    outcomes = [
        _priced("acme", "a-1"),
        _priced("globex", "g-1"),
        Outcome("rejected", rejection=Rejection("unknown_tenant", "no tenant 'x'")),
        Outcome("duplicate"),  # a free unit: nothing to charge
        _priced("acme", "a-2"),
    ]

    commands = [_received(c) for c in usage_debits(outcomes, at=AT)]

    assert [(c.tenant_id, [line.command_id for line in c.lines]) for c in commands] == [
        ("acme", ["usage:a-1", "usage:a-2"]),
        ("globex", ["usage:g-1"]),
    ]


def test_a_tenant_with_more_lines_than_a_command_holds_gets_several_commands() -> None:
    outcomes = [_priced("acme", f"e-{i}") for i in range(MAX_LINES + 1)]

    commands = [_received(c) for c in usage_debits(outcomes, at=AT)]

    assert [len(c.lines) for c in commands] == [MAX_LINES, 1]
    assert len({c.command_id for c in commands}) == 2


def test_the_command_on_the_wire_is_valid_and_each_line_is_exactly_its_debit() -> None:
    [command] = usage_debits([_priced("acme", "a-1"), _priced("acme", "a-2")], at=AT)

    received = _received(command)

    assert received.model_dump(mode="json") == command, "the hand-built JSON is exactly the model's"
    for line, debit in zip(received.lines, received.debits(), strict=True):
        alone = Debit(command_id=line.command_id, tenant_id="acme", issued_at=AT, amount=line.amount,
                      entry_type="sms", occurred_at=AT, site="Lyon", personnel="Philippe Lemaire",
                      source=line.source, description="SMS")  # fmt: skip
        assert debit == alone
        # The wallet's fingerprint (issued_at aside) and request: a line and the same debit sent alone are one
        # command, whichever way it came (a redelivery after an upgrade is a duplicate, not a conflict).
        as_line = LineDebit("acme", line)
        assert as_line.fingerprint() == fingerprint(alone.model_dump(mode="json", exclude={"issued_at"}))
        assert as_line.request() == to_request(alone)


def test_the_same_events_in_other_batches_give_the_same_line_ids() -> None:
    first = [_received(c) for c in usage_debits([_priced("acme", "a-1"), _priced("acme", "a-2")], at=AT)]
    again = [_received(c) for c in usage_debits([_priced("acme", "a-2")], at=AT)]

    assert {line.command_id for line in again[0].lines} <= {line.command_id for line in first[0].lines}


def test_a_priced_event_becomes_a_line_exactly_as_the_schema_writes_it() -> None:
    paris = timezone(timedelta(hours=1))
    event = UsageEvent(event_id="e-1", tenant_id="acme", type="sms", quantity=Decimal(1), site="Lyon",
                       occurred_at=datetime(2026, 12, 2, 10, 30, 0, 250, tzinfo=paris))  # fmt: skip

    outcome = MeteringService._outcome(event, Recorded("new", Decimal("0.150000"), "sms"), AT, "fr")

    assert outcome.debit is not None
    assert UsageLine.model_validate(outcome.debit).model_dump(mode="json") == outcome.debit
    assert (outcome.debit["amount"], outcome.debit["occurred_at"]) == ("0.15", "2026-12-02T09:30:00.000250Z")
    assert outcome.tenant_id == "acme"
