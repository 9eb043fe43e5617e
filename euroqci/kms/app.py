"""The KME application: ``create_app(settings)`` and ``serve(settings)`` (uvicorn, mTLS).

Run one KME: ``python -m euroqci.kms.app`` with its settings in ``EUROQCI_KMS_*``
variables or in the file named by ``EUROQCI_KMS_CONFIG_FILE`` (see docs/kms-api.md).

No answer leaves before the writes it depends on are durable: :class:`DurableResponses`
holds every response's first byte until the key-store writes queued while serving that
request are committed (``KeyStore.barrier``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from collections.abc import Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from euroqci import __version__
from euroqci.errors import EuroQCIError, KeyUnavailable
from euroqci.kms import hot
from euroqci.kms.deps import error_body, handle_error
from euroqci.kms.metrics import Metrics
from euroqci.kms.registry import KmeContext, Network, RelayFactory, Service
from euroqci.kms.routes import etsi014, ops, peer
from euroqci.kms.settings import Settings
from euroqci.kms.store import KeyStore, track_writes


class DurableResponses:
    """ASGI middleware: barrier on the request's store writes before the response starts;
    any exception that escaped the routes becomes the ETSI 014 Error body (503)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        writes = track_writes()
        state = {"started": False, "replaced": False}

        async def guarded_send(message):
            if message["type"] == "http.response.start":
                ctx = scope["app"].state.ctx
                try:
                    await ctx.store.barrier(writes)
                except KeyUnavailable as exc:
                    state["replaced"] = True
                    await _send_response(send, error_body(503, str(exc)))
                    return
                state["started"] = True
            elif state["replaced"]:
                return
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as exc:
            if state["started"] or state["replaced"]:
                raise
            response = await handle_error(Request(scope), exc)
            await guarded_send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response.raw_headers,
                }
            )
            await guarded_send({"type": "http.response.body", "body": response.body})


class KmeApp(FastAPI):
    """FastAPI, with the plain forms of ``enc_keys``/``dec_keys`` served by ``kms/hot.py``
    (same logic and answers, without the framework's per-request layers)."""

    async def __call__(self, scope, receive, send) -> None:
        ctx = getattr(self.state, "ctx", None)
        if scope["type"] == "http" and ctx is not None:
            handler = hot.match(scope)
            if handler is not None:
                scope["app"] = self
                return await hot.respond(ctx, handler, scope, send)
            if scope["method"] == "POST" and scope["path"] == peer.PATH:
                scope["app"] = self
                return await hot.peer_keys(self, ctx, scope, receive, send)
        await super().__call__(scope, receive, send)

    async def fallback(self, scope, receive, send) -> None:
        """Serve through FastAPI (a request the hot paths leave to it)."""
        await super().__call__(scope, receive, send)


async def _send_response(send, response) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})


def create_app(
    settings: Settings,
    *,
    relay_factory: RelayFactory | None = None,
    services: Sequence[Service] = (),
) -> FastAPI:
    """The FastAPI app of one KME.

    ``relay_factory(ctx)`` builds the trusted-node relay (``app.state.relay``; without it
    only local and adjacent slave KMEs are served); each of ``services(ctx)`` (e.g. a
    device feed) runs as a task for the app's lifetime. The store opens at start-up.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        network = Network.from_settings(settings)
        store = await asyncio.to_thread(
            KeyStore,
            settings.store_url,
            settings.kme_id,
            chunk_bytes=settings.chunk_size_bits // 8,
            max_chunks_per_link=settings.max_key_count,
        )
        peers = peer.PeerClients(settings, network.kmes)
        ctx = KmeContext(settings, network, store, Metrics(settings.kme_id), peers)
        ctx.relay = relay_factory(ctx) if relay_factory is not None else None
        app.state.ctx, app.state.relay = ctx, ctx.relay
        tasks = [asyncio.create_task(service(ctx)) for service in services]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await peers.aclose()
            await asyncio.to_thread(store.close)

    app = KmeApp(
        title=f"euroqci KME {settings.kme_id}",
        version=__version__,
        description="ETSI GS QKD 014 V1.1.1 key delivery over mutual TLS (see docs/kms-api.md).",
        lifespan=lifespan,
        strict_content_type=False,  # the standard's clients may POST without Content-Type
        telemetry={"tracing": False, "metrics": False, "logs": False},  # see /ops/metrics
    )
    for exc_type in (EuroQCIError, RequestValidationError, HTTPException):
        app.add_exception_handler(exc_type, handle_error)
    app.include_router(etsi014.router)
    app.include_router(peer.router)
    app.include_router(ops.router)
    if importlib.util.find_spec("euroqci.kms.routes.peer_relay") is not None:
        from euroqci.kms.routes import peer_relay  # the relay's KME-to-KME routes

        app.include_router(peer_relay.router)
    app.add_middleware(DurableResponses)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's OpenAPI document, with the answers this KME really gives: a malformed
    request is a 400 with the Error body (ETSI 014), not FastAPI's 422."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        from euroqci.kms.schemas import Error

        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        error = {
            "description": "Bad request format",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for item in doc.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None or "parameters" in operation:
                    responses.setdefault("400", error)
                responses.setdefault("401", {**error, "description": "Unauthorized"})
                responses.setdefault("503", {**error, "description": "Error on server side"})
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("Error", Error.model_json_schema())
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = doc
    return app.openapi_schema


def uvicorn_config(app: FastAPI, settings: Settings, **overrides):
    """A uvicorn ``Config`` serving ``app`` over HTTPS with client certificates required."""
    import uvicorn

    from euroqci.kms.tls import MTLSHttpToolsProtocol, server_context

    files = (settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)
    if None in files:
        raise EuroQCIError("a KME needs tls_cert_file, tls_key_file and tls_ca_file")
    ctx = server_context(*files)
    options = dict(
        host=settings.host,
        port=settings.port,
        http=MTLSHttpToolsProtocol,
        ssl_certfile=str(settings.tls_cert_file),  # uvicorn's switch to TLS; context below
        ssl_context_factory=lambda _config, _default: ctx,
        log_level=settings.log_level,
        timeout_keep_alive=30,
        proxy_headers=False,  # a KME is reached directly; no X-Forwarded-* is trusted
        lifespan="on",
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(settings: Settings, *, sock: socket.socket | None = None, **kwargs) -> None:
    """Run one KME until SIGINT/SIGTERM (``kwargs`` go to :func:`create_app`)."""
    import sys

    import uvicorn

    # the store's writer thread must get the GIL soon after its fsync returns: every
    # answer waits for a commit, so a 5 ms default switch interval would add to latency
    sys.setswitchinterval(0.0005)
    server = uvicorn.Server(uvicorn_config(create_app(settings, **kwargs), settings))
    server.run(sockets=[sock] if sock is not None else None)


if __name__ == "__main__":  # pragma: no cover - exercised by the SIGKILL test
    serve(Settings())
