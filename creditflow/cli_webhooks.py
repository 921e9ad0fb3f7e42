"""`creditflow webhooks ...`: the vendor's endpoints, their delivery log and replays (operator)."""

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.config import DEFAULT_STATE_DIR

from .cli import JsonFlag, StateDir, _run, _settings, _when, _with_ops, app
from .ops import Ops
from .webhooks import UnknownEventType, WebhooksNotConfigured

webhooks_app = typer.Typer(
    help="Signed webhooks to the vendor's systems: endpoints, deliveries, replays.", no_args_is_help=True
)
app.add_typer(webhooks_app, name="webhooks")

EndpointArg = Annotated[str, typer.Argument(help="The endpoint id (we_...).")]


def _do(state_dir: Path, fn: Any) -> Any:
    try:
        return _run(_with_ops(_settings(state_dir), fn))
    except (WebhooksNotConfigured, UnknownEventType) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _said(result: dict[str, Any], what: str) -> None:
    outcome = result.get("outcome") or {}
    if outcome.get("status") == "refused":
        typer.echo(f"refused ({outcome['reason']}): {outcome.get('detail', '')}", err=True)
        raise typer.Exit(1)
    typer.echo(what)


@webhooks_app.command("event-types")
def event_types() -> None:
    """What an endpoint may subscribe to (`*`: all of them)."""
    from schemas.webhooks import EVENT_TYPES

    for name in EVENT_TYPES:
        typer.echo(name)


@webhooks_app.command("create")
def create(
    url: Annotated[str, typer.Option("--url", help="Where to POST (https in production).")],
    event: Annotated[list[str], typer.Option("--event", help="An event type, repeatable; `*` for all.")],
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="Only this tenant's events (repeatable).")
    ] = None,
    alert_email: Annotated[
        list[str] | None, typer.Option("--alert-email", help="Told if the endpoint is disabled (repeatable).")
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    as_json: JsonFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Register an endpoint and show its signing secret, once."""
    result = _do(
        state_dir,
        lambda ops: ops.webhooks.create(
            url=url, event_types=event, tenant_ids=tenant or None, alert_emails=alert_email, description=description
        ),
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    _said(result, f"endpoint {result['endpoint_id']} created for {url}")
    typer.echo(f"signing secret (shown once; verify deliveries with it): {result['secret']}")


@webhooks_app.command("list")
def list_endpoints(as_json: JsonFlag = False, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Every endpoint: id, state, URL, event types."""
    rows = _do(state_dir, lambda ops: ops.webhooks.endpoints())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows or []:
        state = "enabled" if r["enabled"] else f"disabled ({r['disabled_reason']})"
        typer.echo(f"{r['endpoint_id']}  {state:<10} {r['url']}  {' '.join(r['event_types'])}")
    if not rows:
        typer.echo("no endpoints: `creditflow webhooks create --url URL --event threshold.crossed`")


def _update(state_dir: Path, endpoint_id: str, what: str, **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = _do(state_dir, lambda ops: ops.webhooks.update(endpoint_id, **changes))
    _said(result, f"endpoint {endpoint_id} {what}")
    return result


@webhooks_app.command("enable")
def enable(endpoint_id: EndpointArg, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Enable an endpoint again (after it was disabled for failing: then replay what it missed)."""
    _update(state_dir, endpoint_id, "enabled", enabled=True)


@webhooks_app.command("disable")
def disable(endpoint_id: EndpointArg, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop sending to an endpoint; its events are still recorded (held) for a later replay."""
    _update(state_dir, endpoint_id, "disabled", enabled=False)


@webhooks_app.command("update")
def update(
    endpoint_id: EndpointArg,
    url: Annotated[str | None, typer.Option("--url")] = None,
    event: Annotated[list[str] | None, typer.Option("--event", help="The new event types (repeatable).")] = None,
    alert_email: Annotated[list[str] | None, typer.Option("--alert-email")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Change an endpoint's URL, event types or alert e-mails."""
    _update(state_dir, endpoint_id, "updated", url=url, event_types=event, alert_emails=alert_email)


@webhooks_app.command("rotate-secret")
def rotate_secret(endpoint_id: EndpointArg, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """A new signing secret, shown once; deliveries are signed with it as soon as the worker applies it."""
    result = _update(state_dir, endpoint_id, "has a new secret", rotate_secret=True)
    typer.echo(f"signing secret (shown once): {result['secret']}")


@webhooks_app.command("delete")
def delete(endpoint_id: EndpointArg, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Remove an endpoint: nothing more is recorded or sent for it."""
    result = _do(state_dir, lambda ops: ops.webhooks.delete(endpoint_id))
    _said(result, f"endpoint {endpoint_id} deleted")


@webhooks_app.command("deliveries")
def deliveries(
    endpoint_id: EndpointArg,
    status: Annotated[str | None, typer.Option("--status", help="pending, delivered, failed or held.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonFlag = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """The delivery log, newest first: each delivery's status, attempts and last answer."""

    async def read(ops: Ops) -> Any:
        return await ops.webhooks.deliveries(endpoint_id, status=status, limit=limit)

    rows = _do(state_dir, read)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        answer = r["last_error"] or (f"HTTP {r['last_status_code']}" if r["last_status_code"] else "")
        typer.echo(
            f"{r['created_at'][:19]}  {r['type']:<28} {r['status']:<9} tries {r['attempts']:<3} "
            f"{answer:<24} {r['delivery_id']}"
        )


@webhooks_app.command("replay")
def replay(
    endpoint_id: EndpointArg,
    delivery: Annotated[str | None, typer.Option("--delivery", help="One delivery id.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Events received from (ISO time).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="... up to, excluded (ISO time).")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Send again one delivery, or those of a time range: same body, same event id, a fresh signature."""
    start: datetime | None = _when(since) if since else None
    end: datetime | None = _when(until) if until else None
    result = _do(state_dir, lambda ops: ops.webhooks.replay(endpoint_id, delivery_id=delivery, since=start, until=end))
    _said(result, f"{(result.get('outcome') or {}).get('replayed', 0)} deliveries of {endpoint_id} queued again")
