"""SMTP delivery through aiosmtplib. TLS and credentials come from SMTP_URL:
`smtp://host:25` (plain), `smtp+starttls://user:pass@host:587`, `smtps://user:pass@host:465`."""

from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

import aiosmtplib

from shared.metrics import EMAILS

from ..ports import Mailer, PermanentFailure
from ..templates import Rendered


class SmtpMailer:
    def __init__(self, url: str, sender: str, *, timeout: float = 15.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ValueError(f"SMTP_URL scheme must be smtp, smtps or smtp+starttls, not {parts.scheme!r}")
        self._host = parts.hostname or "localhost"
        self._port = parts.port or {"smtp": 25, "smtps": 465, "smtp+starttls": 587}[parts.scheme]
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._use_tls = parts.scheme == "smtps"
        self._start_tls = parts.scheme == "smtp+starttls"
        self._sender = sender
        self._timeout = timeout

    async def send(self, *, to: str, rendered: Rendered, message_id: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = rendered.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._use_tls,
                start_tls=self._start_tls if self._start_tls else False,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"{exc.code} {exc.message}") from exc
            raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentFailure("; ".join(f"{r.code} {r.message}" for r in exc.recipients)) from exc
            raise


class CountedMailer:
    """A mailer whose sends are counted for `/metrics` (`creditflow_emails_total{outcome}`)."""

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer

    async def send(self, *, to: str, rendered: Rendered, message_id: str) -> None:
        try:
            await self._mailer.send(to=to, rendered=rendered, message_id=message_id)
        except Exception:
            EMAILS.labels("failed").inc()
            raise
        EMAILS.labels("sent").inc()
