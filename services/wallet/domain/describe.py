"""What a ledger entry was for, in words a tenant's people read (PlanManager's ledger shows "App d'inspecteur
frais mensuels", "sms"). An entry caused by another service carries its own description (the app's catalogue
name for a fee, the meter's name for usage); the wallet words its own entries (purchases, grants, expiries,
voids, refunds, adjustments) here, in the reader's language."""

from typing import Literal

from .model import AUTO_RECHARGE, CREDIT, LedgerEntry

Language = Literal["fr", "en"]
_DEFAULT_GRANT_SOURCE = "granted by an operator"

_WORDS: dict[str, dict[Language, str]] = {
    "purchase": {"fr": "Achat de {amount} crédits", "en": "Purchase of {amount} credits"},
    "auto_recharge": {"fr": "Recharge automatique de {amount} crédits", "en": "Automatic recharge of {amount} credits"},
    "grant": {"fr": "Crédits offerts", "en": "Credits granted"},
    "expiry": {"fr": "Crédits expirés", "en": "Expired credits"},
    "void": {"fr": "Annulation", "en": "Void"},
    "refund": {"fr": "Remboursement", "en": "Refund"},
    "adjustment": {"fr": "Correction", "en": "Adjustment"},
}


def credits_text(micros: int, language: Language) -> str:
    """Credits as a person writes them: 300, 12.5 (en) or 12,5 (fr); exact, no rounding."""
    whole, fraction = divmod(abs(micros), CREDIT)
    text = str(whole) + (f".{fraction:06d}".rstrip("0") if fraction else "")
    text = "-" + text if micros < 0 else text
    return text.replace(".", ",") if language == "fr" else text


def describe(entry: LedgerEntry, language: Language) -> str:
    if entry.description:
        return entry.description
    words = {key: texts[language] for key, texts in _WORDS.items()}
    amount = credits_text(entry.amount, language)
    separator = " : " if language == "fr" else ": "
    match entry.entry_type:
        case "topup":
            key = "auto_recharge" if entry.personnel == AUTO_RECHARGE else "purchase"
            return words[key].format(amount=amount)
        case "grant":
            if entry.source and entry.source != _DEFAULT_GRANT_SOURCE:
                return f"{words['grant']}{separator}{entry.source}"
            return words["grant"]
        case "expiry":
            return words["expiry"]
        case "void" | "refund" | "adjustment":
            return f"{words[entry.entry_type]}{separator}{entry.source}" if entry.source else words[entry.entry_type]
    return entry.entry_type
