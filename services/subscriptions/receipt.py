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


_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


def render_receipt_pdf(invoice: Invoice, seller: Seller, billing: BillingInfo | None) -> bytes:
    """The same record as `render_receipt`, as a one-page PDF (fpdf2). DejaVu Sans when the system has it (any
    character); else the PDF core font, whose Latin-1 covers French and the euro written as EUR."""
    from fpdf import FPDF

    seller = invoice.seller or seller
    buyer = invoice.buyer if invoice.seller is not None else billing
    pdf = FPDF(format="A4")
    pdf.set_title(f"{invoice.number}")
    pdf.add_page()
    unicode = (_FONT_DIR / "DejaVuSans.ttf").exists() and (_FONT_DIR / "DejaVuSans-Bold.ttf").exists()
    if unicode:
        pdf.add_font("DejaVu", "", str(_FONT_DIR / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(_FONT_DIR / "DejaVuSans-Bold.ttf"))
    family = "DejaVu" if unicode else "Helvetica"

    def text(value: str) -> str:
        return value if unicode else value.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")

    def money(cents: int) -> str:
        return text(format_currency(Decimal(cents) / 100, "EUR", locale="fr_BE"))

    pdf.set_font(family, "B", 16)
    title = "Reçu" if invoice.status == "paid" else "Facture"
    pdf.cell(0, 10, text(f"{title} {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    pdf.multi_cell(0, 5, text(f"{seller.name}\nTVA {seller.vat_number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    if buyer is not None:
        lines = [buyer.company_name, buyer.address_line1, buyer.address_line2 or "",
                 f"{buyer.postal_code} {buyer.city}, {buyer.country}",
                 f"TVA {buyer.vat_number}" if buyer.vat_number else ""]  # fmt: skip
        pdf.multi_cell(0, 5, text("\n".join(line for line in lines if line)), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    status = {"paid": "payée", "open": "à payer", "payment_failed": "paiement échoué", "void": "annulée"}
    pdf.cell(0, 6, text(f"Date : {invoice.issued_on} — échéance : {invoice.due_on} — statut : "
                        f"{status.get(invoice.status, invoice.status)}"), new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    pdf.ln(3)
    rows = [(line.description, money(line.amount)) for line in invoice.lines]
    rows += [("Sous-total", money(invoice.subtotal)), (f"TVA {invoice.vat_rate} %", money(invoice.vat))]
    for label, amount in rows:
        pdf.cell(150, 7, text(label), border="B")
        pdf.cell(0, 7, amount, border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "B", 11)
    pdf.cell(150, 8, "Total")
    pdf.cell(0, 8, money(invoice.total), align="R", new_x="LMARGIN", new_y="NEXT")
    if invoice.vat_note:
        pdf.set_font(family, "", 9)
        pdf.ln(2)
        pdf.multi_cell(0, 5, text(invoice.vat_note))
    return bytes(pdf.output())
