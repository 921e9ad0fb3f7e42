"""`creditflow up --demo`: a tenant, a top-up, and realistic usage, so a newcomer watches the balance
fall and the low-balance e-mail arrive in the local mailbox."""

import asyncio
import email
import random
from decimal import Decimal
from email import policy
from pathlib import Path

from schemas.money import display, from_micros
from schemas.usage import PropertyValue

from .client import UsageClient
from .ops import Ops

TENANT = "demo-insypro"
ADMINS = ("jean-luc.lemaire@insypro.example", "philippe.lemaire@insypro.example")
MEMBER = "stagiaire@insypro.example"
PERSONNEL = ("Jean-Luc Lemaire", "Philippe Lemaire")
START_BALANCE = Decimal(120)


def read_mail(mailbox: Path, seen: set[Path]) -> list[tuple[str, str]]:
    new = []
    for path in sorted(mailbox.glob("*.eml")):
        if path not in seen:
            seen.add(path)
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            new.append((str(msg["To"]), str(msg["Subject"])))
    return new


async def run_demo(ops: Ops, mailbox: Path, *, say: object = print, events: int = 60) -> None:
    echo = say if callable(say) else print
    await ops.create_tenant(TENANT, name="Insypro", admins=list(ADMINS), members=[MEMBER], language="fr")
    echo(f"tenant {TENANT} (admins: {', '.join(ADMINS)}; member: {MEMBER})")
    async with ops.wallet_store() as wallet:
        balance = from_micros((await wallet.wallet(TENANT)).balance)
    if balance < START_BALANCE:  # a second `make up` keeps the data: top up to, not by, 120
        await ops.top_up(TENANT, START_BALANCE - balance, by=ADMINS[0])
        echo(f"{ADMINS[0]} bought {(START_BALANCE - balance).normalize():f} credits: balance {START_BALANCE}")
    seen: set[Path] = set(mailbox.glob("*.eml"))  # noqa: ASYNC240 - a local directory listing
    rng = random.Random(7)
    async with UsageClient(ops.settings.kafka_bootstrap_servers or "") as usage, ops.wallet_store() as wallet:
        for i in range(events):
            kind = rng.choice(["sms", "sms", "sms", "apf", "document"])
            props: dict[str, PropertyValue] = {"recipients": rng.randint(1, 5)} if kind == "document" else {}
            await usage.send(TENANT, kind, 1, site="Insypro", personnel=rng.choice(PERSONNEL), properties=props)
            await asyncio.sleep(0.15)
            if i % 5 == 4:
                micros = (await wallet.wallet(TENANT)).balance
                echo(f"  usage #{i + 1:>3}: balance {display(micros)} credits")
            for to, subject in read_mail(mailbox, seen):
                echo(f"  e-mail to {to}: {subject}")
        await asyncio.sleep(2)
        for to, subject in read_mail(mailbox, seen):
            echo(f"  e-mail to {to}: {subject}")
        echo(
            f"balance now {display((await wallet.wallet(TENANT)).balance)} credits; "
            f"see `creditflow wallet ledger {TENANT}`"
        )


async def show_api(ops: Ops, api_url: str, *, say: object = print) -> None:
    """An operator key for the demo (shown once) and a `curl` line that works as printed."""
    echo = say if callable(say) else print
    _, key = await ops.create_api_key("operator", name="make up demo")
    echo("the HTTP API, with an operator key created for the demo (shown once):")
    echo(f"  curl -s -H 'Authorization: Bearer {key}' {api_url}/v1/tenants/{TENANT}/wallet")
    echo(f"  curl -s -H 'Authorization: Bearer {key}' '{api_url}/v1/tenants/{TENANT}/spend-check?meter=sms&quantity=1'")
    echo("the console (one-time links, valid 5 minutes; ask for new ones with POST /v1/portal-sessions):")
    import httpx

    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}) as client:
        for who, member in (("admin", ADMINS[0]), ("member", MEMBER)):
            link = await client.post("/v1/portal-sessions", json={"tenant_id": TENANT, "member": member})
            echo(f"  {who} {member}: {link.json()['url']}")
