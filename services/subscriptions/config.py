from pathlib import Path

from shared.config import Settings

BUNDLED_CATALOGUE = Path(__file__).parent / "catalogue.json"


class SubscriptionSettings(Settings):
    consumer_group: str = "subscriptions"
    catalogue_file: Path = BUNDLED_CATALOGUE
    outbox_relay_seconds: float = 5.0
