from shared.config import Settings


class WalletSettings(Settings):
    consumer_group: str = "wallet"
