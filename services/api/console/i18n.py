"""The console's words in French and English, and numbers and dates in the reader's locale (Babel)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

Language = Literal["fr", "en"]
LOCALES = {"fr": "fr_BE", "en": "en_GB"}

WORDS: dict[str, dict[Language, str]] = {
    "credits": {"fr": "Crédits", "en": "Credits"},
    "remaining": {"fr": "Vos crédits restants", "en": "Your remaining credits"},
    "credit_costs": {"fr": "1 crédit coûte {price}.", "en": "1 credit costs {price}."},
    "amount": {"fr": "Crédits", "en": "Credits"},
    "recharge": {"fr": "Recharger les crédits", "en": "Top up credits"},
    "only_admins": {
        "fr": "Seuls les administrateurs peuvent acheter des crédits : {admins}.",
        "en": "Only admins can buy credits: {admins}.",
    },
    "buckets": {"fr": "Vos crédits, par provenance", "en": "Your credits, by source"},
    "kind": {"fr": "Provenance", "en": "Source"},
    "expires": {"fr": "Expire le", "en": "Expires on"},
    "never": {"fr": "jamais", "en": "never"},
    "ledger": {"fr": "Sur quoi les crédits ont été dépensés", "en": "What the credits were spent on"},
    "items": {"fr": "{n} éléments", "en": "{n} items"},
    "items_one": {"fr": "1 élément", "en": "1 item"},
    "datetime": {"fr": "Date et heure", "en": "Datetime"},
    "site": {"fr": "Site", "en": "Site"},
    "personnel": {"fr": "Personnel", "en": "Personnel"},
    "type": {"fr": "Type", "en": "Type"},
    "value": {"fr": "Valeur", "en": "Value"},
    "filter": {"fr": "Filtrer", "en": "Filter"},
    "since": {"fr": "Depuis", "en": "Since"},
    "until": {"fr": "Jusqu'au", "en": "Until"},
    "csv": {"fr": "Télécharger en CSV", "en": "Download as CSV"},
    "previous": {"fr": "Page précédente", "en": "Previous page"},
    "next": {"fr": "Page suivante", "en": "Next page"},
    "auto_recharge": {"fr": "Recharge automatique", "en": "Automatic recharge"},
    "auto_recharge_rule": {
        "fr": "Sous {below} crédits, achat de {amount} crédits (au plus {cap} par mois).",
        "en": "Below {below} credits, buy {amount} credits (at most {cap} a month).",
    },
    "auto_recharge_off": {"fr": "Désactivée.", "en": "Off."},
    "thresholds": {"fr": "Alertes par e-mail aux administrateurs sous", "en": "E-mail alerts to admins below"},
    "requested": {
        "fr": "Paiement demandé : les crédits arrivent dès qu'il est confirmé.",
        "en": "Payment requested: the credits arrive as soon as it is confirmed.",
    },
    "credited": {"fr": "{credits} crédits ajoutés.", "en": "{credits} credits added."},
    "refused": {"fr": "Refusé : {detail}", "en": "Refused: {detail}"},
    "language": {"fr": "English", "en": "Français"},
    "signed_in_as": {"fr": "Connecté : {member}", "en": "Signed in: {member}"},
    "kind_purchased": {"fr": "achetés", "en": "purchased"},
    "kind_allowance": {"fr": "inclus dans le plan", "en": "plan allowance"},
    "kind_promotional": {"fr": "offerts", "en": "promotional"},
    "kind_adjustment": {"fr": "correction", "en": "adjustment"},
    "kind_restored": {"fr": "restitués", "en": "restored"},
    "kind_overdraft": {"fr": "découvert", "en": "overdraft"},
    "none_yet": {"fr": "Aucune opération pour l'instant.", "en": "Nothing yet."},
}


class Words:
    def __init__(self, language: Language) -> None:
        self.language = language
        self.locale = LOCALES[language]

    def __call__(self, key: str, **values: object) -> str:
        return WORDS[key][self.language].format(**values)

    def credits(self, amount: Decimal | str) -> str:
        """'279,50' (fr) or '279.50' (en): two decimals, more only when the amount has them."""
        value = Decimal(str(amount))
        places = max(2, -value.normalize().as_tuple().exponent) if value % 1 else 2  # type: ignore[operator]
        return format_decimal(value, format=f"#,##0.{'0' * places}", locale=self.locale)

    def euros(self, amount: Decimal | str) -> str:
        return format_currency(Decimal(str(amount)), "EUR", locale=self.locale)

    def day(self, value: date | datetime | str) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_date(moment, format="long", locale=self.locale)

    def moment(self, value: datetime | str) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(moment, format="dd-MM-yyyy HH:mm", tzinfo=moment.tzinfo, locale=self.locale)
