from shared.config import Settings


class PaymentsSettings(Settings):
    consumer_group: str = "payments-sandbox"
