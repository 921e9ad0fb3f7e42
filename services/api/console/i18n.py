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
    "subscription": {"fr": "Abonnement", "en": "Subscription"},
    "usage": {"fr": "Utilisation", "en": "Usage"},
    "usage_period": {"fr": "Du {first} au {last}", "en": "From {first} to {last}"},
    "billing_period": {"fr": "Période de facturation", "en": "Billing period"},
    "show": {"fr": "Afficher", "en": "Show"},
    "usage_resets": {
        "fr": "Votre consommation est réinitialisée chaque mois à la date de facturation.",
        "en": "Your usage resets every month on the billing date.",
    },
    "meter": {"fr": "Compteur", "en": "Meter"},
    "events": {"fr": "Événements", "en": "Events"},
    "quantity": {"fr": "Quantité", "en": "Quantity"},
    "billing": {"fr": "Facturation", "en": "Billing"},
    "notifications": {"fr": "Notifications", "en": "Notifications"},
    "no_plan": {"fr": "Aucun abonnement.", "en": "No subscription."},
    "plan": {"fr": "Forfait", "en": "Plan"},
    "period": {"fr": "Période : du {first} au {last}", "en": "Period: {first} to {last}"},
    "renews_on": {"fr": "Renouvellement le {day}", "en": "Renews on {day}"},
    "next_invoice": {
        "fr": "Prochaine facture : {amount} HTVA, le {day}",
        "en": "Next invoice: {amount} before VAT, on {day}",
    },
    "users": {"fr": "Utilisateurs", "en": "Users"},
    "fewer": {"fr": "Un utilisateur de moins", "en": "One user fewer"},
    "more": {"fr": "Un utilisateur de plus", "en": "One user more"},
    "interval": {"fr": "Période de facturation", "en": "Billing period"},
    "monthly": {"fr": "mensuel", "en": "monthly"},
    "quarterly": {"fr": "trimestriel", "en": "quarterly"},
    "annual": {"fr": "annuel", "en": "annual"},
    "change_plan": {"fr": "Modifier le forfait", "en": "Change the plan"},
    "review": {"fr": "Voir le montant", "en": "Review the amount"},
    "confirm": {"fr": "Confirmer et payer {amount}", "en": "Confirm and pay {amount}"},
    "prorated": {
        "fr": "Montant au prorata pour le reste de la période : {amount} TVAC.",
        "en": "Prorated amount for the rest of the period: {amount} including VAT.",
    },
    "scheduled_change": {
        "fr": "Ce changement s'appliquera au renouvellement, sans frais aujourd'hui.",
        "en": "This change applies at the renewal, with nothing to pay today.",
    },
    "fifteen_days": {
        "fr": "Les modifications (à part les ajouts d'utilisateurs) doivent être faites au moins 15 jours "
        "avant le renouvellement, le {day}.",
        "en": "Changes (other than adding users) must be made at least 15 days before the renewal, on {day}.",
    },
    "addon": {"fr": "L'add-on {name}", "en": "The {name} add-on"},
    "addon_none": {"fr": "Pas d'add-on.", "en": "No add-on."},
    "apply": {"fr": "Appliquer", "en": "Apply"},
    "billing_info": {"fr": "Informations de facturation", "en": "Billing information"},
    "company": {"fr": "Nom de l'entreprise", "en": "Company name"},
    "address": {"fr": "Adresse", "en": "Address"},
    "postal_code": {"fr": "Code postal", "en": "Postal code"},
    "city": {"fr": "Ville", "en": "City"},
    "country": {"fr": "Pays (BE, FR, NL...)", "en": "Country (BE, FR, NL...)"},
    "vat_number": {"fr": "Numéro de TVA", "en": "VAT number"},
    "save": {"fr": "Enregistrer", "en": "Save"},
    "payment_method": {"fr": "Méthode de paiement", "en": "Payment method"},
    "card": {
        "fr": "Carte de crédit (marque, 4 derniers chiffres, MM/AAAA)",
        "en": "Credit card (brand, last 4 digits, MM/YYYY)",
    },
    "sepa": {
        "fr": "Domiciliation SEPA (4 derniers caractères de l'IBAN)",
        "en": "SEPA direct debit (last 4 of the IBAN)",
    },
    "funding": {"fr": "Type de carte", "en": "Card type"},
    "ar_below": {"fr": "Recharger sous (crédits)", "en": "Recharge below (credits)"},
    "ar_buy": {"fr": "Acheter (crédits)", "en": "Buy (credits)"},
    "ar_cap": {"fr": "Au plus par mois", "en": "At most a month"},
    "on": {"fr": "activée", "en": "on"},
    "off": {"fr": "désactivée", "en": "off"},
    "card_expired": {
        "fr": "cette carte a expiré ({expiry}) ; une carte expirée n'est pas acceptée.",
        "en": "this card expired ({expiry}); an expired card is not accepted.",
    },
    "card_prepaid": {"fr": "une carte prépayée n'est pas acceptée.", "en": "a prepaid card is not accepted."},
    "not_an_admin": {"fr": "seuls les administrateurs peuvent le faire.", "en": "only admins can do this."},
    "funding_credit": {"fr": "crédit", "en": "credit"},
    "funding_debit": {"fr": "débit", "en": "debit"},
    "funding_prepaid": {"fr": "prépayée", "en": "prepaid"},
    "cancel": {"fr": "Se désabonner", "en": "Cancel the subscription"},
    "cancel_note": {
        "fr": "Votre accès se terminera le dernier jour de votre licence, le {day}.",
        "en": "Your access ends on the last day of your licence, {day}.",
    },
    "cancelled": {
        "fr": "Abonnement résilié : accès jusqu'au {day} inclus.",
        "en": "Subscription cancelled: access until {day}, included.",
    },
    "reactivate": {"fr": "Réactiver", "en": "Reactivate"},
    "applied": {"fr": "C'est fait.", "en": "Done."},
    "invoices": {"fr": "Historique des paiements", "en": "Payment history"},
    "number": {"fr": "Numéro", "en": "Number"},
    "issued_on": {"fr": "Date", "en": "Date"},
    "total": {"fr": "Total", "en": "Total"},
    "status": {"fr": "Statut", "en": "Status"},
    "view": {"fr": "Voir", "en": "View"},
    "receipt": {"fr": "Reçu (PDF)", "en": "Receipt (PDF)"},
    "status_paid": {"fr": "payée", "en": "paid"},
    "status_open": {"fr": "à payer", "en": "due"},
    "status_payment_failed": {"fr": "paiement échoué", "en": "payment failed"},
    "status_void": {"fr": "annulée", "en": "void"},
    "sent_to": {"fr": "Destinataire", "en": "To"},
    "subject": {"fr": "Objet", "en": "Subject"},
    "start": {"fr": "Choisir ce forfait", "en": "Choose this plan"},
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
