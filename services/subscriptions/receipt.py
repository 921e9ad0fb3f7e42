"""An invoice or receipt as a standalone HTML page (`creditflow invoices export`)."""

from decimal import Decimal
from pathlib import Path

from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .domain.catalogue import Seller
from .domain.model import BillingInfo, Invoice

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


def render_receipt(invoice: Invoice, seller: Seller, billing: BillingInfo | None) -> str:
    """The invoice as issued: its own seller and buyer details when it carries them (every invoice issued since
    they are recorded does); `seller` and `billing` only stand in for invoices stored before."""

    def money(cents: int) -> str:
        return format_currency(Decimal(cents) / 100, "EUR", locale="fr_BE")

    return _ENV.get_template("receipt.html").render(
        invoice=invoice,
        seller=invoice.seller or seller,
        billing=invoice.buyer if invoice.seller is not None else billing,
        money=money,
    )
