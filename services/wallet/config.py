from shared.config import Settings


class WalletSettings(Settings):
    consumer_group: str = "wallet"
    expiry_sweep_seconds: float = 60.0
