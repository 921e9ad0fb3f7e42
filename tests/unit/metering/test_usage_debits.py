"""A metering batch's debits travel as one `usage_debits` command per tenant; each line is the debit it stands
for, down to its fingerprint, so the wallet's idempotency by command id does not depend on batch boundaries."""

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import TypeAdapter

from schemas.wallet import Debit, UsageDebits, UsageLine, WalletCommand
from services.metering.domain.model import Rejection
from services.metering.service import MAX_LINES, Outcome, usage_debits
from services.wallet.service import LineDebit, to_request
from shared.idempotency import fingerprint
from shared.runtime import encode

AT = datetime(2026, 12, 2, 9, tzinfo=UTC)
COMMAND = TypeAdapter[WalletCommand](WalletCommand)


def _line(event_id: str, amount: str = "0.15") -> UsageLine:
    return UsageLine(command_id=f"usage:{event_id}", amount=Decimal(amount), entry_type="sms", occurred_at=AT,
                     site="Lyon", personnel="Philippe Lemaire", source=f"usage.events:{event_id}",
                     description="SMS")  # fmt: skip


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

    commands = usage_debits(outcomes, at=AT)

    assert [(c.tenant_id, [line.command_id for line in c.lines]) for c in commands] == [
        ("acme", ["usage:a-1", "usage:a-2"]),
        ("globex", ["usage:g-1"]),
    ]


def test_a_tenant_with_more_lines_than_a_command_holds_gets_several_commands() -> None:
    outcomes = [_priced("acme", f"e-{i}") for i in range(MAX_LINES + 1)]

    commands = usage_debits(outcomes, at=AT)

    assert [len(c.lines) for c in commands] == [MAX_LINES, 1]
    assert len({c.command_id for c in commands}) == 2


def test_the_command_on_the_wire_is_valid_and_each_line_is_exactly_its_debit() -> None:
    [command] = usage_debits([_priced("acme", "a-1"), _priced("acme", "a-2")], at=AT)

    received = COMMAND.validate_json(encode(command))  # what the wallet parses

    assert isinstance(received, UsageDebits)
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
    first = usage_debits([_priced("acme", "a-1"), _priced("acme", "a-2")], at=AT)
    again = usage_debits([_priced("acme", "a-2")], at=AT)

    assert {line.command_id for line in again[0].lines} <= {line.command_id for line in first[0].lines}
