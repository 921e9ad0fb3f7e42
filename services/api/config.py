"""The API's settings, from the environment (the servers' addresses come from the shared settings)."""

from pydantic import Field

from shared.config import Settings


class ApiSettings(Settings):
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, alias="API_PORT")
    api_public_url: str | None = Field(None, alias="API_PUBLIC_URL")
    """The address people reach the API at (portal links are built on it); default http://host:port."""
    max_body_bytes: int = Field(17 * 1024 * 1024, ge=1024)
    """Larger bodies are refused with 413: a batch of 1,000 usage events of at most 16 KiB each fits."""
    portal_link_minutes: int = Field(5, ge=1, le=60)
    portal_session_minutes: int = Field(60, ge=5, le=24 * 60)

    @property
    def public_url(self) -> str:
        return (self.api_public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")
