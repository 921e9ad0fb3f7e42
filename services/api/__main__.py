"""`python -m services.api`: the HTTP API on uvicorn (API_PORT, or HEALTH_PORT under the local supervisor)."""

import os

import uvicorn

from shared.logging import configure_logging

from .bootstrap import create_app
from .config import ApiSettings


def main() -> None:
    settings = ApiSettings().require_addresses()
    configure_logging("api", settings.log_level, secrets=settings.secret_values())
    port = int(os.environ.get("API_PORT") or os.environ.get("HEALTH_PORT") or settings.api_port)
    settings = settings.model_copy(update={"api_port": port})
    uvicorn.run(create_app(settings), host=settings.api_host, port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
