"""E-mail texts per template and language, with figures formatted for the reader's locale."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .domain.model import Delivery, Fact

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


def formatted(fact: Fact, language: str) -> Any:
    locale = LOCALES[language]
    match fact.kind:
        case "credits":
            return credits(Decimal(fact.value), language)
        case "money":
            return format_currency(Decimal(int(fact.value)) / 100, "EUR", locale=locale)
        case "date":
            return format_date(date.fromisoformat(fact.value), format="long", locale=locale)
        case "count":
            return int(fact.value)
        case "flag":
            return fact.value == "true"
    return fact.value


def render(delivery: Delivery) -> Rendered:
    notice, language = delivery.notice, delivery.recipient.language
    values: dict[str, Any] = {"tenant": notice.tenant_name, "name": delivery.recipient.name}
    values.update({fact.name: formatted(fact, language) for fact in notice.facts})
    base = f"{notice.template}.{language}"
    subject = _ENV.get_template(f"{base}.subject.txt").render(values).strip()
    body = _ENV.get_template(f"{base}.txt").render(values)
    return Rendered(
        subject=subject,
        text=body,
        html=_ENV.get_template("layout.html").render(subject=subject, lang=language, body=body),
    )
