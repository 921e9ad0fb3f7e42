"""E-mail texts per template and language, with figures formatted for the reader's locale."""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .domain.model import Delivery

LOCALES = {"fr": "fr_FR", "en": "en_GB"}
_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def credits(amount: Decimal, language: str) -> str:
    """95.5 -> '95,50' in French, '95.50' in English; sub-cent amounts keep their digits."""
    return format_decimal(amount, format="#,##0.00####", locale=LOCALES[language])


def render(delivery: Delivery) -> Rendered:
    notice, language = delivery.notice, delivery.recipient.language
    values = {
        "tenant": notice.tenant_name,
        "name": delivery.recipient.name,
        "balance": credits(notice.balance, language),
        "threshold": credits(notice.threshold, language) if notice.threshold is not None else None,
        "amount": credits(notice.amount, language) if notice.amount is not None else None,
    }
    base = f"{notice.template}.{language}"
    subject = _ENV.get_template(f"{base}.subject.txt").render(values).strip()
    return Rendered(
        subject=subject,
        text=_ENV.get_template(f"{base}.txt").render(values),
        html=_ENV.get_template("layout.html").render(
            subject=subject, lang=language, body=_ENV.get_template(f"{base}.txt").render(values)
        ),
    )
