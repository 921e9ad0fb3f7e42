"""The `creditflow` command line."""

import asyncio
import contextlib
import csv
import json
import signal
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
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


EXIT_NO_ANSWER = 3
EXIT_UNREACHABLE = 2


def _run(coro: Awaitable[T]) -> T:
    """Run one command's work. A slow worker or an unreachable server is an expected outcome for a command
    line: it is said in a sentence with a non-zero exit code, never as a traceback."""
    from aiokafka.errors import KafkaError
    from pymongo.errors import PyMongoError

    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except TimeoutError as exc:
        typer.echo(
            f"No answer yet: {exc}. The request was sent and may still be applied: look again in a moment "
            "(or set CREDITFLOW_WAIT_SECONDS to wait longer).",
            err=True,
        )
        raise typer.Exit(EXIT_NO_ANSWER) from None
    except KafkaError as exc:
        typer.echo(f"Cannot reach Kafka: {exc or type(exc).__name__}. Is the stack running (`make up`)?", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None
    except PyMongoError as exc:
        typer.echo(f"Cannot reach MongoDB: {type(exc).__name__}. Is the stack running (`make up`)?", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None


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
        typer.echo(f"HTTP API: {supervisor.api_url} (OpenAPI: {supervisor.api_url}/docs)")
        _remember(state_dir, api_url=supervisor.api_url, workers=supervisor.health_urls)
        if demo and not stopping:
            from .demo import show_api

            mailbox = stack.mailbox_dir if stack else state_dir / "mailbox"
            _run(_with_ops(settings, lambda ops: run_demo(ops, mailbox, say=typer.echo)))
            _run(_with_ops(settings, lambda ops: show_api(ops, str(supervisor.api_url), say=typer.echo)))
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


def _remember(state_dir: Path, **values: Any) -> None:
    """Add to `<state-dir>/stack.json` what became known after the servers started (the API's address)."""
    from shared.config import STACK_FILE

    path = state_dir / STACK_FILE
    current = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**current, **values}, indent=2))


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
    billing_anchor: Annotated[
        str | None, typer.Option("--billing-anchor", help="YYYY-MM-DD: usage resets monthly on this day.")
    ] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Create or update a tenant with its admins; waits until every service knows it."""
    if language not in ("fr", "en"):
        raise typer.BadParameter("language must be fr or en")
    settings = _settings(state_dir)
    anchor = _when(billing_anchor).date() if billing_anchor else None
    tenant = _run(
        _with_ops(
            settings,
            lambda ops: ops.create_tenant(
                tenant_id, name=name, admins=admin, members=member or [], language=language, billing_anchor=anchor
            ),
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


def _report(outcome: dict[str, Any] | None) -> None:
    """Print what the wallet decided; exit 1 if it refused or rejected the command."""
    assert outcome is not None
    failed = False
    for event in outcome["events"]:
        kind = event["kind"]
        if kind == "command.refused":
            typer.echo(f"refused ({event['reason']}): {event['detail']}", err=True)
            failed = True
        elif kind == "debit.rejected":
            typer.echo(f"rejected: {event['reason']} (balance {event['balance']})", err=True)
            failed = True
        elif kind == "topup.failed":
            typer.echo(f"payment {event['payment_id']} failed: {event['reason']}", err=True)
            failed = True
        elif kind == "entry.recorded":
            typer.echo(
                f"{event['entry_type']} {event['amount']} credits ({event['entry_id']}); "
                f"balance {event['balance_after']}"
            )
        elif kind == "topup.requested":
            typer.echo(f"payment {event['payment_id']} requested: {event['amount_minor'] / 100:.2f} EUR")
        elif kind == "settings.changed":
            typer.echo(f"changed: {', '.join(event['changed'])}")
        elif kind.startswith("threshold."):
            typer.echo(f"threshold {event['threshold']} {'crossed' if kind.endswith('crossed') else 'recovered'}")
    if failed:
        raise typer.Exit(1)


By = Annotated[str | None, typer.Option("--by", help="Who does it (kept in the ledger).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the ledger).")]


@wallet_app.command("topup")
def wallet_topup(
    tenant_id: str,
    credits: str,
    by: Annotated[str, typer.Option("--by", help="E-mail of the admin buying the credits.")],
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Buy credits for a tenant (1 credit = 1 EUR unless the tenant's credit price says otherwise). Only an admin
    of the tenant may buy; the credits arrive when the payment provider confirms the payment."""
    settings = _settings(state_dir)
    _report(_run(_with_ops(settings, lambda ops: ops.top_up(tenant_id, _credits(credits), by=by))))


@wallet_app.command("grant")
def wallet_grant(
    tenant_id: str,
    credits: str,
    kind: Annotated[str, typer.Option("--kind", help="promotional, allowance or purchased")] = "promotional",
    expires: Annotated[str | None, typer.Option("--expires", help="ISO date-time (UTC if no offset)")] = None,
    priority: Annotated[int | None, typer.Option("--priority", help="Lower is drawn first.")] = None,
    reason: Reason = "granted by an operator",
    by: By = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Give credits (promotional and allowance credits must expire)."""
    settings = _settings(state_dir)
    expires_at = _when(expires) if expires else None
    _report(
        _run(
            _with_ops(
                settings,
                lambda ops: ops.grant(
                    tenant_id,
                    _credits(credits),
                    kind=kind,
                    expires_at=expires_at,
                    priority=priority,
                    source=reason,
                    by=by,
                ),
            )
        )
    )


@wallet_app.command("void")
def wallet_void(
    tenant_id: str, entry_id: str, reason: Reason, by: By = None, state_dir: StateDir = DEFAULT_STATE_DIR
) -> None:
    """Cancel a ledger entry: a debit's credits go back where they came from; a credit's remainder is removed."""
    settings = _settings(state_dir)
    _report(_run(_with_ops(settings, lambda ops: ops.void(tenant_id, entry_id, reason=reason, by=by))))


@wallet_app.command("refund")
def wallet_refund(
    tenant_id: str, entry_id: str, credits: str, reason: Reason, by: By = None, state_dir: StateDir = DEFAULT_STATE_DIR
) -> None:
    """Give back part or all of a debit."""
    settings = _settings(state_dir)
    _report(
        _run(_with_ops(settings, lambda ops: ops.refund(tenant_id, entry_id, _credits(credits), reason=reason, by=by)))
    )


@wallet_app.command("adjust")
def wallet_adjust(
    tenant_id: str,
    credits: Annotated[str, typer.Argument(help="Signed amount, e.g. 5 or -2.5")],
    reason: Reason,
    by: By = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """An operator's correction, positive or negative."""
    settings = _settings(state_dir)
    amount = _credits(credits.lstrip("-")) * (-1 if credits.startswith("-") else 1)
    _report(_run(_with_ops(settings, lambda ops: ops.adjust(tenant_id, amount, reason=reason, by=by))))


@wallet_app.command("policy")
def wallet_policy(
    tenant_id: str,
    policy: Annotated[str, typer.Argument(help="hard or overdraft")],
    limit: Annotated[str, typer.Option("--limit", help="Overdraft limit in credits.")] = "0",
    by: By = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Zero-balance policy: `hard` refuses debits that do not fit; `overdraft` allows down to -limit."""
    if policy not in ("hard", "overdraft"):
        raise typer.BadParameter("policy must be hard or overdraft")
    settings = _settings(state_dir)
    overdraft_limit = Decimal(limit) if policy == "overdraft" else None
    _report(
        _run(
            _with_ops(
                settings, lambda ops: ops.configure(tenant_id, policy=policy, overdraft_limit=overdraft_limit, by=by)
            )
        )
    )


@wallet_app.command("thresholds")
def wallet_thresholds(
    tenant_id: str,
    thresholds: Annotated[list[str], typer.Argument(help="Balances that alert admins when crossed, e.g. 100 0")],
    by: By = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Set the alert thresholds (default 100 and 0)."""
    settings = _settings(state_dir)
    values = [Decimal(t) for t in thresholds]
    _report(_run(_with_ops(settings, lambda ops: ops.configure(tenant_id, thresholds=values, by=by))))


@wallet_app.command("auto-recharge")
def wallet_auto_recharge(
    tenant_id: str,
    below: Annotated[str | None, typer.Option("--below", help="Recharge when the balance falls below this.")] = None,
    buy: Annotated[str | None, typer.Option("--buy", help="Buy this many credits each time.")] = None,
    up_to: Annotated[str | None, typer.Option("--up-to", help="Or: top up to this balance.")] = None,
    monthly_cap: Annotated[str | None, typer.Option("--monthly-cap", help="Most credits per month.")] = None,
    max_failures: Annotated[int, typer.Option("--max-failures", help="Disable after N failed payments.")] = 3,
    off: Annotated[bool, typer.Option("--off", help="Disable automatic recharge.")] = False,
    by: By = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Automatic recharge: buy credits when the balance falls below a trigger (one payment in flight at most)."""
    from schemas.wallet import AutoRechargeRule

    settings = _settings(state_dir)
    if off:
        changes: dict[str, Any] = {"disable_auto_recharge": True}
    else:
        if below is None or monthly_cap is None or (buy is None) == (up_to is None):
            raise typer.BadParameter("give --below, --monthly-cap and one of --buy or --up-to (or --off)")
        rule = AutoRechargeRule(
            trigger=Decimal(below),
            mode="fixed" if buy else "target",
            amount=Decimal(buy or up_to or 0),
            monthly_cap=Decimal(monthly_cap),
            max_failures=max_failures,
        )
        changes = {"auto_recharge": rule}
    _report(_run(_with_ops(settings, lambda ops: ops.configure(tenant_id, by=by, **changes))))


@wallet_app.command("payment-method")
def wallet_payment_method(tenant_id: str, method: str, by: By = None, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """The tenant's payment method at the provider (sandbox: pm_card_chargeDeclined is declined)."""
    settings = _settings(state_dir)
    _report(_run(_with_ops(settings, lambda ops: ops.configure(tenant_id, payment_method=method, by=by))))


@wallet_app.command("credit-price")
def wallet_credit_price(tenant_id: str, eur: str, by: By = None, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Euros per credit for this tenant's purchases (default 1)."""
    settings = _settings(state_dir)
    _report(_run(_with_ops(settings, lambda ops: ops.configure(tenant_id, credit_price=Decimal(eur), by=by))))


@wallet_app.command("balance")
def wallet_balance(tenant_id: str, as_json: JsonFlag = False, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """The tenant's balance, per bucket with expiries, and its wallet settings."""
    from .views import wallet_view

    settings = _settings(state_dir)

    async def read(ops: Ops) -> Any:
        async with ops.wallet_store() as store:
            return await store.wallet(tenant_id)

    wallet = _run(_with_ops(settings, read))
    view = wallet_view(wallet)
    buckets, rule = view["buckets"], wallet.auto_recharge
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    typer.echo(f"{tenant_id}: {display(wallet.balance)} credits ({wallet.policy.kind} policy, floor {view['floor']})")
    for b in buckets:
        expiry = f"expires {b['expires_at']}" if b["expires_at"] else "no expiry"
        typer.echo(f"  {b['kind']:<12} {b['remaining']:>12}  {expiry}  ({b['bucket_id']})")
    if rule is not None:
        typer.echo(f"  auto-recharge: {view['auto_recharge']}")


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO date or date-time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@wallet_app.command("ledger")
def wallet_ledger(
    tenant_id: str,
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    page: Annotated[int, typer.Option(min=1)] = 1,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV export.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="From this date-time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this date-time.")] = None,
    entry_type: Annotated[str | None, typer.Option("--type", help="e.g. sms, topup, expiry")] = None,
    site: Annotated[str | None, typer.Option("--site")] = None,
    personnel: Annotated[str | None, typer.Option("--personnel")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Ledger entries, newest first: Datetime, Site, Personnel, Description (what it was for, in the tenant's
    language), Type, Value, Balance. Nothing is cut: columns are as wide as their longest value."""
    from services.wallet.ports import LedgerQuery

    settings = _settings(state_dir)
    query = LedgerQuery(
        since=_when(since) if since else None,
        until=_when(until) if until else None,
        entry_type=entry_type,
        site=site,
        personnel=personnel,
    )

    rows = _run(
        _with_ops(settings, lambda ops: ops.ledger(tenant_id, limit=limit, skip=(page - 1) * limit, query=query))
    )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif as_csv:
        from .views import LEDGER_COLUMNS

        writer = csv.DictWriter(sys.stdout, fieldnames=LEDGER_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        from .views import ledger_table

        for line in ledger_table(rows):
            typer.echo(line)


@app.command("reconcile")
def reconcile(
    tenant_id: Annotated[str | None, typer.Argument(help="One tenant; all tenants if left out.")] = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Check that balance == sum of ledger entries == sum of buckets and no balance is below its policy floor.
    Exits 1 with a report if any tenant does not reconcile."""
    settings = _settings(state_dir)
    report = _run(_with_ops(settings, lambda ops: ops.reconcile(tenant_id)))
    broken = {t: p for t, p in report.items() if p}
    if as_json:
        typer.echo(json.dumps({"tenants": len(report), "problems": broken}, indent=2))
    else:
        for tenant, found in broken.items():
            for problem in found:
                typer.echo(f"{tenant}: {problem}")
        typer.echo(f"{len(report)} tenants checked, {len(broken)} with problems")
    if broken:
        raise typer.Exit(1)


@app.command("usage")
def usage(
    tenant_id: str,
    period: Annotated[str | None, typer.Option(help="A period (YYYY-MM-DD, its start) or a month (YYYY-MM)")] = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Usage per meter and billing period: events, quantity, max, distinct personnel and sites, credits priced and
    charged (priced minus what the wallet rejected)."""
    settings = _settings(state_dir)

    async def read(ops: Ops) -> Any:
        async with ops.usage_store() as store:
            return await store.usage(tenant_id, period)

    rows = _run(_with_ops(settings, read))
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    header = ("Period", "Meter", "Events", "Quantity", "Max", "Users", "Credits", "Charged")
    typer.echo("{:<10} {:<16} {:>7} {:>10} {:>8} {:>5} {:>12} {:>12}".format(*header))
    for row in rows:
        users = row["distinct"].get("personnel", 0)
        typer.echo(
            f"{row['period']:<10} {row['meter']:<16.16} {row['count']:>7} {row['quantity']:>10} "
            f"{row['max_quantity']:>8} {users:>5} {row['credits']:>12} {row['charged']:>12}"
        )


prices_app = typer.Typer(help="Per-tenant price versions of the meters.", no_args_is_help=True)
app.add_typer(prices_app, name="prices")


@prices_app.command("set")
def prices_set(
    tenant_id: str,
    meter: str,
    unit_price: Annotated[str | None, typer.Option("--unit-price", help="Credits per unit.")] = None,
    tier: Annotated[
        list[str] | None, typer.Option("--tier", help="UP_TO:PRICE, last one :PRICE (graduated, per period).")
    ] = None,
    effective_from: Annotated[str | None, typer.Option("--from", help="ISO instant; default now.")] = None,
    per_property: Annotated[str | None, typer.Option("--per-property", help="Multiply units by this property.")] = None,
    entry_type: Annotated[str | None, typer.Option("--entry-type", help="Ledger type; default the meter.")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Set a tenant's price for a meter from an instant on; events are priced at their occurred-at."""
    import uuid

    from pydantic import ValidationError

    from schemas.prices import PriceSet, PriceTier

    settings = _settings(state_dir)
    try:
        tiers = [
            PriceTier(up_to=Decimal(up) if up else None, unit_price=Decimal(price))
            for up, _, price in (t.partition(":") for t in tier or [])
        ]
        change = PriceSet(
            change_id=f"price:{uuid.uuid4()}",
            tenant_id=tenant_id,
            meter=meter,
            effective_from=_when(effective_from) if effective_from else datetime.now(UTC),
            unit_price=Decimal(unit_price) if unit_price is not None else None,
            tiers=tiers or None,
            per_property=per_property,
            entry_type=entry_type,
            issued_at=datetime.now(UTC),
        )
    except (ValidationError, InvalidOperation) as exc:
        raise typer.BadParameter(str(exc)) from exc
    _run(_with_ops(settings, lambda ops: ops.set_price(change)))
    typer.echo(f"{tenant_id}: {meter} priced from {change.effective_from.isoformat()}")


@prices_app.command("show")
def prices_show(tenant_id: str, as_json: JsonFlag = False, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """A tenant's own price versions (the defaults apply to every other meter)."""
    settings = _settings(state_dir)

    async def read(ops: Ops) -> Any:
        async with ops.price_store() as store:
            return await store.changes(tenant_id)

    changes = _run(_with_ops(settings, read))
    rows = [c.model_dump(mode="json", exclude={"schema_version", "kind", "tenant_id"}) for c in changes]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        how = (
            row["unit_price"]
            if row["unit_price"] is not None
            else " / ".join(f"{t['up_to'] or '∞'}:{t['unit_price']}" for t in row["tiers"])
        )
        typer.echo(f"{row['meter']:<16} from {row['effective_from']}  {how}")


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


keys_app = typer.Typer(
    help="API keys: operator keys (every tenant) and tenant keys (one tenant, scoped).", no_args_is_help=True
)
app.add_typer(keys_app, name="api-keys")


@keys_app.command("create")
def api_keys_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for, e.g. 'vendor backend'.")],
    operator: Annotated[bool, typer.Option("--operator", help="A key for every tenant.")] = False,
    tenant_id: Annotated[str | None, typer.Option("--tenant", help="A key for this tenant only.")] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Tenant keys: wallet:read, usage:write, ...")
    ] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Create a key and show it once; only its hash is kept."""
    from services.api.domain.keys import SCOPES, check_scopes

    if operator == (tenant_id is not None):
        raise typer.BadParameter("give --operator or --tenant TENANT")
    scopes = tuple(scope or (SCOPES if tenant_id else ()))
    if unknown := check_scopes(list(scopes)):
        raise typer.BadParameter(f"unknown scopes {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    kind = "operator" if operator else "tenant"
    key, whole = _run(
        _with_ops(
            _settings(state_dir), lambda ops: ops.create_api_key(kind, name=name, tenant_id=tenant_id, scopes=scopes)
        )
    )
    typer.echo(f"key {key.key_id} ({kind}{', tenant ' + tenant_id if tenant_id else ''}) created; shown once:")
    typer.echo(whole)


@keys_app.command("list")
def api_keys_list(
    tenant_id: Annotated[str | None, typer.Option("--tenant")] = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Keys by id, kind, tenant, scopes and whether revoked (never the keys themselves)."""

    async def read(ops: Ops) -> Any:
        return await ops.api_store().keys(tenant_id)

    rows = [
        {
            "key_id": k.key_id,
            "kind": k.kind,
            "name": k.name,
            "tenant_id": k.tenant_id,
            "scopes": list(k.scopes),
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in _run(_with_ops(_settings(state_dir), read))
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        typer.echo(
            f"{r['key_id']}  {r['kind']:<8} {r['tenant_id'] or '*':<16} {state:<8} {r['name']}  {' '.join(r['scopes'])}"
        )


@keys_app.command("revoke")
def api_keys_revoke(key_id: str, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Revoke a key at once: every later request with it is refused (401)."""

    async def revoke(ops: Ops) -> bool:
        return bool(await ops.api_store().revoke(key_id, datetime.now(UTC)))

    if not _run(_with_ops(_settings(state_dir), revoke)):
        typer.echo(f"no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")


@app.command("status")
def status(
    as_json: JsonFlag = False,
    watch: Annotated[float, typer.Option("--watch", help="Refresh every so many seconds (Ctrl-C to stop).")] = 0,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Every worker's health, each consumer group's lag, and the dead letters per topic and reason.

    Exit code 1 when a worker is down (for scripts and probes)."""
    from shared.config import STACK_FILE

    from .status import status as read_status

    settings = _settings(state_dir)
    path = state_dir / STACK_FILE
    workers = (json.loads(path.read_text()) if path.exists() else {}).get("workers") or {}
    while True:
        view = _run(read_status(settings, workers))
        if as_json:
            typer.echo(json.dumps(view, indent=2))
        else:
            if watch:
                typer.echo("\x1b[2J\x1b[H", nl=False)  # clear the terminal between refreshes
            _print_status(view)
        if not watch:
            break
        time.sleep(watch)
    if any(w["status"] != "ok" for w in view["workers"]):
        raise typer.Exit(1)


def _print_status(view: dict[str, Any]) -> None:
    typer.echo("workers")
    for w in view["workers"] or [{"worker": "(none known: start them with `creditflow up`)", "status": ""}]:
        typer.echo(f"  {w['worker']:<16} {w['status']:<6} {w.get('error', '')}")
    typer.echo("consumer lag (group, topic: lag over its partitions)")
    totals: dict[tuple[str, str], int] = {}
    for row in view["lag"]:
        totals[(row["group"], row["topic"])] = totals.get((row["group"], row["topic"]), 0) + row["lag"]
    for (group, topic), lag in sorted(totals.items()):
        typer.echo(f"  {group:<32} {topic:<26} {lag:>8,}")
    partial = "" if view.get("dead_letters_complete", True) else ", the first ones only: the topics hold more"
    typer.echo(f"dead letters (topic, reason{partial})")
    for row in view["dead_letters"] or [{"topic": "(none)", "reason": "", "count": 0}]:
        typer.echo(f"  {row['topic']:<26} {row['reason']:<28} {row['count']:>8,}")


def main() -> None:
    import logging

    from . import cli_subscriptions, cli_webhooks  # noqa: F401 - register their commands on `app`

    # The Kafka client logs each failed connection attempt; the CLI says what failed in one sentence instead.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    with contextlib.suppress(KeyboardInterrupt):
        app()
