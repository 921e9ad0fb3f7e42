"""The API's composition root: settings, the shared application layer (`Ops`: one Kafka producer, one MongoDB
client), the API's own store, and the spend view fed from the compacted topics; then the routes."""

import asyncio
import contextlib
import gc
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditflow.ops import connect
from creditflow.spend import SpendView
from schemas import topics
from schemas.prices import PriceSet
from schemas.wallet import SpendState
from shared.kafka import admin_kwargs

from .adapters.mongo import ApiStore
from .config import ApiSettings
from .context import Context
from .problems import Problem, on_error, on_http, on_problem, on_validation, problem_response
from .spend_check import SpendCheckFastPath

log = structlog.get_logger()
VERSION = "1.0.0"


async def follow_spend_state(settings: ApiSettings, view: SpendView, ready: asyncio.Event) -> None:
    """Keep the spend view current: every partition of `wallet.spend-state` and `metering.prices` from the
    start (both compacted), then whatever comes. `ready` is set once the backlog present at start is read."""
    consumer = AIOKafkaConsumer(**admin_kwargs(settings), enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        parts = [
            TopicPartition(t, p)
            for t in (topics.WALLET_SPEND_STATE, topics.METERING_PRICES)
            for p in sorted(consumer.partitions_for_topic(t) or await _partitions(consumer, t))
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    _apply(view, tp.topic, record.value)
            if not ready.is_set():
                positions = [await consumer.position(tp) for tp in ends]
                if all(pos >= end for pos, end in zip(positions, ends.values(), strict=True)):
                    ready.set()
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or {0}


def _apply(view: SpendView, topic: str, value: bytes | None) -> None:
    if value is None:
        return
    try:
        if topic == topics.WALLET_SPEND_STATE:
            view.on_spend_state(SpendState.model_validate_json(value))
        else:
            view.on_price(PriceSet.model_validate(json.loads(value)))
    except (ValidationError, ValueError):
        log.warning("spend_view_skipped_message", topic=topic)


class BodyLimit:
    """413 for a body over `limit` bytes, whether it says its length or streams it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise Problem(413, "oversize", f"the body is over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(Request(scope, receive), 413, "oversize", f"the body is over {self.limit} bytes")
        await response(scope, receive, send)


def create_app(settings: ApiSettings, *, wire_context: Callable[[FastAPI], Awaitable[None]] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with connect(settings, app_name="creditflow-api") as ops:
            store = ApiStore(ops.mongo[settings.database_name("api")])
            await store.create_indexes()
            view, ready = SpendView(), asyncio.Event()
            follower = asyncio.create_task(follow_spend_state(settings, view, ready))
            app.state.ctx = Context(settings, ops, store, view)
            app.state.spend_ready = ready
            # What start-up built (the framework, routes, models, clients) lives as long as the process: moved out
            # of the collector's sight, a full collection no longer walks it, and requests no longer wait for it.
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await follower

    app = FastAPI(
        title="creditflow API",
        version=VERSION,
        description="Credits and subscriptions for a SaaS vendor's tenants: wallets, usage, spend checks, "
        "subscriptions and invoices. Authenticate with `Authorization: Bearer <key>`. Errors are RFC 9457 "
        "problem documents with a stable `code`. Every POST honours `Idempotency-Key`.",
        lifespan=lifespan,
    )
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_error)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    from .console import routes as console
    from .routes import admin, subscriptions, usage, wallet, webhooks

    for module in (admin, wallet, usage, subscriptions, webhooks, console):
        app.include_router(module.router)

    # Requests per route template, status and method, latency histograms: prometheus-fastapi-instrumentator, in a
    # registry of this app's own (a process may make more than one app: the tests do). `/metrics` carries no tenant
    # data (routes by template, never by path) and is for the operators' scraper, like the workers'.
    registry = CollectorRegistry()
    Instrumentator(registry=registry, excluded_handlers=["/metrics", "/health.*"]).instrument(app).expose(
        app, include_in_schema=False
    )
    # Outermost: the spend checks it can answer whole never reach the framework (spend_check.py says which).
    app.add_middleware(SpendCheckFastPath, registry=registry)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> JSONResponse:
        """Liveness: the process answers (a database outage is not cured by a restart)."""
        return JSONResponse({"status": "ok"})

    @app.get("/health", include_in_schema=False)
    @app.get("/health/ready", include_in_schema=False)
    async def health(request: Request) -> JSONResponse:
        """Readiness: MongoDB answers (the spend view may still be loading: it says so)."""
        ctx: Context = request.app.state.ctx
        try:
            await ctx.ops.mongo.admin.command("ping")
        except Exception:
            return JSONResponse({"status": "unavailable", "mongodb": "down"}, status_code=503)
        ready = request.app.state.spend_ready.is_set()
        return JSONResponse({"status": "ok", "spend_view": "ready" if ready else "loading"})

    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()
