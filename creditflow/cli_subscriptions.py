"""`creditflow plan|seats|addon|apps|invoices|billing-info|payment-method|catalogue|scheduler`."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from schemas import subscriptions as wire
from schemas import topics
from shared.config import DEFAULT_STATE_DIR

from .cli import JsonFlag, StateDir, _run, _settings, _when, _with_ops, app

plan_app = typer.Typer(help="The tenant's subscription: plan, period, changes.", no_args_is_help=True)
invoices_app = typer.Typer(help="Invoices and receipts.", no_args_is_help=True)
catalogue_app = typer.Typer(help="Plans, apps and add-ons on sale.", no_args_is_help=True)
scheduler_app = typer.Typer(help="The period scheduler.", no_args_is_help=True)
apps_app = typer.Typer(help="Apps with a monthly fee per user.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(invoices_app, name="invoices")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(apps_app, name="apps")

By = Annotated[str, typer.Option("--by", help="E-mail of the tenant admin making the change.")]
On = Annotated[str | None, typer.Option("--on", help="Business day (YYYY-MM-DD); default today.")]


def _money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f} EUR"


def _send(state_dir: Path, cls: type, tenant_id: str, by: str | None, on: str | None, **fields: Any) -> None:
    issued = _when(on) if on else datetime.now(UTC)
    command = cls(
        command_id=f"{cls.__name__.lower()}:{uuid.uuid4()}", tenant_id=tenant_id, issued_at=issued, by=by, **fields
    )
    outcome = _run(_with_ops(_settings(state_dir), lambda ops: ops.send_subscription(command)))
    failed = False
    for event in outcome["events"] if outcome else []:
        if event["kind"] == "subscription.change_refused":
            typer.echo(f"refused ({event['reason']}): {event['detail']}", err=True)
            failed = True
        elif event["kind"] == "invoice.issued":
            typer.echo(f"invoice {event['invoice_number']}: {_money(event['total_minor'])}")
        else:
            details = {
                k: v for k, v in event.items() if k not in ("schema_version", "event_id", "tenant_id", "occurred_at")
            }
            typer.echo(json.dumps(details, default=str))
    if outcome is not None and not outcome["events"]:
        typer.echo("done")
    if failed:
        raise typer.Exit(1)


@plan_app.command("show")
def plan_show(tenant_id: str, as_json: JsonFlag = False, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Plan, users, add-ons, the current period (first and last day, both included), the renewal day or the last
    day of access, scheduled changes, the next invoice (preview) and the apps with their users."""
    from .views import plan_text

    view = _run(_with_ops(_settings(state_dir), lambda ops: ops.plan(tenant_id)))
    if view is None:
        typer.echo(f"no tenant {tenant_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(view, indent=2, ensure_ascii=False) if as_json else "\n".join(plan_text(view)))


@plan_app.command("start")
def plan_start(
    tenant_id: str,
    plan: str,
    by: By,
    interval: Annotated[str, typer.Option(help="monthly, quarterly or annual")] = "monthly",
    seats: int = 1,
    addon: Annotated[list[str] | None, typer.Option("--addon", help="CODE:PLAN[:SEATS]")] = None,
    on: On = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Subscribe (free or paid); a paid plan is invoiced for its first period at once."""
    choices = [
        wire.AddOnChoice(addon=a, plan=p, seats=int(n or 1))
        for a, p, n in ([*x.split(":"), ""][:3] for x in addon or [])
    ]
    _send(state_dir, wire.Start, tenant_id, by, on, plan=plan, interval=interval, seats=seats, addons=choices)


@plan_app.command("change")
def plan_change(
    tenant_id: str,
    plan: str,
    by: By,
    interval: Annotated[
        str | None, typer.Option(help="monthly, quarterly or annual (from a free plan: quarterly or annual starts now)")
    ] = None,
    seats: Annotated[int | None, typer.Option(help="Number of users with the new plan.")] = None,
    on: On = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Upgrade now (prorated) or downgrade at the renewal; refused within 15 days of the renewal, except when
    leaving a free plan (any day; monthly keeps the billing day, quarterly or annual starts on the day)."""
    _send(state_dir, wire.ChangePlan, tenant_id, by, on, plan=plan, interval=interval, seats=seats)


@plan_app.command("interval")
def plan_interval(
    tenant_id: str, interval: str, by: By, on: On = None, state_dir: StateDir = DEFAULT_STATE_DIR
) -> None:
    """Change the billing period from the next period on."""
    _send(state_dir, wire.ChangeInterval, tenant_id, by, on, interval=interval)


@plan_app.command("cancel")
def plan_cancel(tenant_id: str, by: By, on: On = None, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Cancel: access continues to the last day of the period."""
    _send(state_dir, wire.Cancel, tenant_id, by, on)


@plan_app.command("reactivate")
def plan_reactivate(tenant_id: str, by: By, on: On = None, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Undo a cancellation before the period ends."""
    _send(state_dir, wire.Reactivate, tenant_id, by, on)


@plan_app.command("addon")
def plan_addon(
    tenant_id: str,
    addon: str,
    by: By,
    plan: Annotated[str | None, typer.Option("--plan", help="The add-on's plan; leave out to remove it.")] = None,
    seats: int = 1,
    on: On = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Add an add-on or change its plan (at once, prorated) or remove it (at the renewal)."""
    _send(state_dir, wire.ChangeAddOn, tenant_id, by, on, addon=addon, plan=plan, seats=seats)


@app.command("seats")
def seats(
    tenant_id: str,
    count: int,
    by: By,
    addon: Annotated[str | None, typer.Option("--addon", help="An add-on's own users.")] = None,
    on: On = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Set the number of users: more at once (prorated, any time), fewer at the renewal."""
    _send(state_dir, wire.ChangeSeats, tenant_id, by, on, seats=count, addon=addon)


@apps_app.command("assign")
def apps_assign(
    tenant_id: str,
    app_code: str,
    users: Annotated[
        list[str] | None, typer.Argument(help='USER_ID or USER_ID="Display Name" (e.g. plemaire="Philippe Lemaire")')
    ],
    by: By,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """The users of an app: each pays its monthly fee in credits at month end, shown in the ledger under their
    name (no users: remove the app)."""
    chosen = [wire.AppUser(user_id=uid, name=name or None) for uid, _, name in (u.partition("=") for u in users or [])]
    _send(state_dir, wire.AssignApp, tenant_id, by, None, app=app_code, users=chosen)


@app.command("billing-info")
def billing_info(
    tenant_id: str,
    by: By,
    company: Annotated[str, typer.Option("--company")],
    address: Annotated[str, typer.Option("--address")],
    postal_code: Annotated[str, typer.Option("--postal-code")],
    city: Annotated[str, typer.Option("--city")],
    country: Annotated[str, typer.Option("--country", help="ISO code, e.g. BE")],
    vat: Annotated[str | None, typer.Option("--vat")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Set the company name, address and VAT number printed on invoices."""
    info = wire.BillingInfo(
        company_name=company, address_line1=address, postal_code=postal_code, city=city, country=country, vat_number=vat
    )
    _send(state_dir, wire.SetBillingInfo, tenant_id, by, None, billing_info=info)


@app.command("payment-method")
def payment_method(
    tenant_id: str,
    by: By,
    card: Annotated[
        str | None, typer.Option("--card", help="BRAND:LAST4:MM/YYYY:FUNDING (credit, debit, prepaid)")
    ] = None,
    sepa: Annotated[str | None, typer.Option("--sepa", help="Last four characters of the IBAN")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Card or SEPA for invoices; expired and prepaid cards are refused."""
    if card:
        brand, last4, expiry, funding = card.split(":")
        month, year = expiry.split("/")
        details = wire.Card(brand=brand, last4=last4, exp_month=int(month), exp_year=int(year), funding=funding)
        _send(state_dir, wire.SetPaymentMethod, tenant_id, by, None, method="card", card=details)
    elif sepa:
        _send(state_dir, wire.SetPaymentMethod, tenant_id, by, None, method="sepa", iban_last4=sepa)
    else:
        raise typer.BadParameter("give --card or --sepa")


@invoices_app.command("list")
def invoices_list(tenant_id: str, as_json: JsonFlag = False, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Payment history: every invoice, newest first, with its status."""

    async def read(ops: Any) -> Any:
        async with ops.subscription_store() as store:
            return await store.invoices(tenant_id)

    from .views import invoice_row

    rows = [invoice_row(i) for i in _run(_with_ops(_settings(state_dir), read))]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    for row in [] if as_json else rows:
        total = f"{row['total_eur']} EUR"
        typer.echo(f"{row['number']}  {row['issued_on']}  {row['reason']:<8} {total:>14}  {row['status']}")


def _invoice(state_dir: Path, tenant_id: str, number: str) -> Any:
    from services.subscriptions.domain.catalogue import catalogue_from

    async def read(ops: Any) -> Any:
        async with ops.subscription_store() as store:
            return await store.invoice(tenant_id, number), await store.account(tenant_id), await store.catalogue()

    invoice, account, document = _run(_with_ops(_settings(state_dir), read))
    if invoice is None:
        typer.echo(f"{tenant_id}: no invoice {number}", err=True)
        raise typer.Exit(1)
    return invoice, account, catalogue_from(document)


@invoices_app.command("show")
def invoices_show(tenant_id: str, number: str, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    invoice, _, _ = _invoice(state_dir, tenant_id, number)
    typer.echo(f"{invoice.number} ({invoice.status}) issued {invoice.issued_on}, due {invoice.due_on}")
    for line in invoice.lines:
        typer.echo(f"  {line.description:<70} {_money(line.amount):>14}")
    typer.echo(f"  {'Subtotal':<70} {_money(invoice.subtotal):>14}")
    typer.echo(f"  {'VAT ' + str(invoice.vat_rate) + ' %':<70} {_money(invoice.vat):>14}")
    typer.echo(f"  {'Total':<70} {_money(invoice.total):>14}")
    if invoice.vat_note:
        typer.echo(f"  {invoice.vat_note}")


@invoices_app.command("export")
def invoices_export(
    tenant_id: str,
    number: str,
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: NUMBER.html)")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Write the invoice (a receipt once paid) as a standalone HTML page."""
    from services.subscriptions.receipt import render_receipt

    invoice, account, catalogue = _invoice(state_dir, tenant_id, number)
    target = out or Path(f"{number}.html")
    target.write_text(render_receipt(invoice, catalogue.seller, account.billing_info))
    typer.echo(f"wrote {target}")


@catalogue_app.command("show")
def catalogue_show(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    async def read(ops: Any) -> Any:
        async with ops.subscription_store() as store:
            return await store.catalogue()

    typer.echo(json.dumps(_run(_with_ops(_settings(state_dir), read)), indent=2, ensure_ascii=False))


@catalogue_app.command("load")
def catalogue_load(file: Path, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Publish a catalogue file; the subscriptions service keeps it if its version is newer."""
    document = json.loads(file.read_text())
    wire.CatalogueDocument.model_validate(document)
    _run(
        _with_ops(_settings(state_dir), lambda ops: ops.publish(topics.SUBSCRIPTIONS_CATALOGUE, "catalogue", document))
    )
    typer.echo(f"catalogue version {document['version']} published")


@scheduler_app.command("run-once")
def scheduler_run_once(
    now: Annotated[str | None, typer.Option("--now", help="ISO instant; default now")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Publish the due ticks once, as the scheduler does every minute (needs the lease: stop the scheduler)."""
    moment = _when(now) if now else datetime.now(UTC)
    ticks = _run(_with_ops(_settings(state_dir), lambda ops: ops.run_scheduler_once(moment)))
    typer.echo("\n".join(ticks) if ticks else "nothing due (or another scheduler holds the lease)")
