"""The `creditflow` command line."""

import asyncio
import contextlib
import csv
import json
import signal
import sys
import time
from collections.abc import Awaitable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from schemas.money import display
from shared.config import DEFAULT_STATE_DIR, Settings
from shared.kafka import ensure_topics
from shared.localstack import LocalStack

from .ops import Ops, connect

T = TypeVar("T")
app = typer.Typer(help="creditflow: credits and subscriptions backbone.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants and their admins.", no_args_is_help=True)
wallet_app = typer.Typer(help="Balances, ledgers and top-ups.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(wallet_app, name="wallet")

StateDir = Annotated[Path, typer.Option("--state-dir", envvar="CREDITFLOW_STATE_DIR", help="Local stack state.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _settings(state_dir: Path) -> Settings:
    try:
        return Settings(CREDITFLOW_STATE_DIR=state_dir).require_addresses()
    except RuntimeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _with_ops(settings: Settings, fn: Any) -> Any:
    async with connect(settings) as ops:
        return await fn(ops)


@app.command()
def up(
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Create a demo tenant and emit usage.")] = True,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Start the local stack (unless addresses are configured) and every worker, until Ctrl-C."""
    from .demo import run_demo
    from .supervisor import Supervisor

    settings = Settings(CREDITFLOW_STATE_DIR=state_dir)
    stack: LocalStack | None = None
    if not (settings.kafka_bootstrap_servers and settings.mongodb_uri):
        typer.echo(f"starting the embedded stack in {state_dir} (Tansu, SecantusDB, SMTP sink)...")
        stack = LocalStack(state_dir).start()
        settings = settings.model_copy(
            update={
                "kafka_bootstrap_servers": stack.kafka_bootstrap_servers,
                "mongodb_uri": _secret(stack.mongodb_uri),
                "smtp_url": _secret(stack.smtp_url),
            }
        )
        typer.echo(json.dumps(stack.addresses(), indent=2))
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    supervisor = Supervisor(settings, state_dir / "logs")
    try:
        created = _run(ensure_topics(settings))
        typer.echo(f"topics ready ({len(created)} created)")
        supervisor.start()
        typer.echo(f"workers healthy: {', '.join(supervisor.workers)} (logs in {state_dir / 'logs'})")
        if demo and not stopping:
            mailbox = stack.mailbox_dir if stack else state_dir / "mailbox"
            _run(_with_ops(settings, lambda ops: run_demo(ops, mailbox, say=typer.echo)))
        typer.echo("running; Ctrl-C to stop")
        while not stopping:
            for name in supervisor.restart_dead():
                typer.echo(f"worker {name} died; restarted", err=True)
            time.sleep(0.5)
    finally:
        typer.echo("stopping workers...")
        supervisor.stop()
        if stack is not None:
            stack.stop()
        typer.echo("stopped")


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


@tenant_app.command("create")
def tenant_create(
    tenant_id: str,
    admin: Annotated[list[str], typer.Option("--admin", help="E-mail of an admin (repeatable).")],
    member: Annotated[list[str] | None, typer.Option("--member", help="E-mail of a non-admin member.")] = None,
    language: Annotated[str, typer.Option("--language", help="fr or en")] = "fr",
    name: Annotated[str | None, typer.Option("--name")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Create or update a tenant with its admins; waits until every service knows it."""
    if language not in ("fr", "en"):
        raise typer.BadParameter("language must be fr or en")
    settings = _settings(state_dir)
    tenant = _run(
        _with_ops(
            settings,
            lambda ops: ops.create_tenant(tenant_id, name=name, admins=admin, members=member or [], language=language),
        )
    )
    typer.echo(f"tenant {tenant.tenant_id} ready: admins {', '.join(m.email for m in tenant.admins())}")


def _credits(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise typer.BadParameter(f"{value!r} is not a number of credits") from exc
    if amount <= 0 or amount.as_tuple().exponent < -6:  # type: ignore[operator]
        raise typer.BadParameter("credits must be positive, with at most 6 decimal places")
    return amount


@wallet_app.command("topup")
def wallet_topup(
    tenant_id: str,
    credits: str,
    by: Annotated[str, typer.Option("--by", help="E-mail of the admin buying the credits.")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Buy credits for a tenant (1 credit = 1 EUR). Only an admin of the tenant may buy."""
    settings = _settings(state_dir)
    outcome = _run(_with_ops(settings, lambda ops: ops.top_up(tenant_id, _credits(credits), by=by)))
    for event in outcome["events"]:
        if event["kind"] == "command.refused":
            typer.echo(f"refused: {event['detail']}", err=True)
            raise typer.Exit(1)
        if event["kind"] == "entry.recorded":
            typer.echo(f"{event['amount']} credits added; balance {event['balance_after']} credits")


@wallet_app.command("balance")
def wallet_balance(tenant_id: str, as_json: JsonFlag = False, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """The tenant's current balance."""
    settings = _settings(state_dir)

    async def read(ops: Ops) -> Any:
        async with ops.wallet_store() as store:
            return await store.wallet(tenant_id)

    wallet = _run(_with_ops(settings, read))
    if as_json:
        typer.echo(json.dumps({"tenant_id": tenant_id, "balance": display(wallet.balance), "version": wallet.version}))
    else:
        typer.echo(f"{tenant_id}: {display(wallet.balance)} credits")


@wallet_app.command("ledger")
def wallet_ledger(
    tenant_id: str,
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    page: Annotated[int, typer.Option(min=1)] = 1,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV export.")] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Ledger entries, newest first: Datetime, Site, Personnel, Type, Value, Balance."""
    settings = _settings(state_dir)

    async def read(ops: Ops) -> Any:
        async with ops.wallet_store() as store:
            return await store.ledger(tenant_id, limit=limit, skip=(page - 1) * limit)

    entries = _run(_with_ops(settings, read))
    rows = [
        {
            "datetime": e.occurred_at.isoformat(),
            "site": e.site or "",
            "personnel": e.personnel or "",
            "type": e.entry_type,
            "value": display(e.amount),
            "balance_after": display(e.balance_after),
            "entry_id": e.entry_id,
        }
        for e in entries
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["datetime"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        typer.echo(f"{'Datetime':<17} {'Site':<12} {'Personnel':<20} {'Type':<16} {'Value':>10} {'Balance':>10}")
        for e in entries:
            typer.echo(
                f"{e.occurred_at:%d-%m-%Y %H:%M} {e.site or '':<12.12} {e.personnel or '':<20.20} "
                f"{e.entry_type:<16.16} {display(e.amount):>10} {display(e.balance_after):>10}"
            )


@app.command("usage")
def usage(
    tenant_id: str,
    period: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Usage per meter and billing period."""
    settings = _settings(state_dir)

    async def read(ops: Ops) -> Any:
        async with ops.usage_store() as store:
            return await store.usage(tenant_id, period)

    rows = _run(_with_ops(settings, read))
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
    else:
        for row in rows:
            typer.echo(f"{row['period']} {row['meter']:<16} {row['count']:>8} events {row['credits']:>14} credits")


@app.command("notifications")
def notifications(tenant_id: str, as_json: JsonFlag = False, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """The notification log of a tenant: what was e-mailed to whom, and its status."""
    settings = _settings(state_dir)

    async def read(ops: Ops) -> Any:
        async with ops.notification_log() as log:
            return await log.list(tenant_id)

    rows = _run(_with_ops(settings, read))
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
    else:
        for row in rows:
            typer.echo(
                f"{row['created_at']:%d-%m-%Y %H:%M:%S} {row['status']:<9} {row['template']:<12} "
                f"{row['to']} {row.get('subject') or ''}"
            )


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        app()
