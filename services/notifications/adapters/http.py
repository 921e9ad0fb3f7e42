"""Webhook POSTs over httpx: no redirects followed (a 3xx is an answer to log, not a place to send the body)."""

import httpx


class HttpxPoster:
    def __init__(self, *, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        response = await self._client.post(url, content=body, headers=headers)
        return response.status_code

    async def close(self) -> None:
        await self._client.aclose()
