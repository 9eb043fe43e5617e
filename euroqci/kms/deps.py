"""FastAPI dependencies (who is calling, the KME's context) and the ONE error handler.

Every error answer, 401 included, is ETSI GS QKD 014's Error body (Table 13):
``{"message": ..., "details": [...]}``, built by :func:`error_body`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from euroqci.errors import (
    EuroQCIError,
    KeyNotFound,
    KeyUnavailable,
    RequestRejected,
    Unauthorized,
)
from euroqci.kms.registry import KmeContext

log = logging.getLogger(__name__)

BAD_REQUEST = "bad request format"


async def get_ctx(request: Request) -> KmeContext:
    return request.app.state.ctx


async def caller_cn(request: Request) -> str:
    """The subject CN of the verified client certificate (see ``kms/tls.py``)."""
    return _cn_of_scope(request.scope)


def _cn_of_scope(scope: dict) -> str:
    tls = scope.get("extensions", {}).get("tls") or {}
    cn = tls.get("client_cn")
    if not cn:
        raise Unauthorized("no client certificate identity on this connection")
    return cn


async def sae_caller(request: Request) -> str:
    """The calling SAE's ID; it must be registered at this KME."""
    return sae_of_scope(request.app.state.ctx, request.scope)


def sae_of_scope(ctx: KmeContext, scope: dict) -> str:
    """:func:`sae_caller` on an ASGI scope (the hot paths of ``kms/hot.py``)."""
    cn = _cn_of_scope(scope)
    if ctx.network.saes.get(cn) != ctx.settings.kme_id:
        raise Unauthorized(
            f"certificate {cn!r} is not an SAE registered at KME {ctx.settings.kme_id}"
        )
    return cn


async def kme_caller(request: Request) -> str:
    """The calling peer KME's ID (its own certificate); never an SAE."""
    return kme_of_scope(request.app.state.ctx, request.scope)


def kme_of_scope(ctx: KmeContext, scope: dict) -> str:
    """:func:`kme_caller` on an ASGI scope (the hot paths of ``kms/hot.py``)."""
    cn = _cn_of_scope(scope)
    if cn not in ctx.network.kmes or cn == ctx.settings.kme_id:
        raise Unauthorized(f"certificate {cn!r} is not a peer KME of {ctx.settings.kme_id}")
    return cn


Ctx = Annotated[KmeContext, Depends(get_ctx)]
KmeCaller = Annotated[str, Depends(kme_caller)]


def error_body(status: int, message: str, details: list[dict[str, Any]] | None = None):
    """The one error response of the KME."""
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def status_of(exc: EuroQCIError) -> int:
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, KeyUnavailable):
        return 503
    if isinstance(exc, (RequestRejected, KeyNotFound, ValueError, LookupError)):
        return 400
    return 503


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """Map every exception to the ETSI 014 Error body (installed for all exception types)."""
    ctx: KmeContext | None = getattr(request.app.state, "ctx", None)
    if isinstance(exc, EuroQCIError):
        status = status_of(exc)
        details = exc.details if isinstance(exc, RequestRejected) else None
        if details is None and callable(getattr(exc, "details", None)):
            details = exc.details()  # e.g. the relay's failed nodes and links
        message = exc.message if isinstance(exc, RequestRejected) else str(exc)
        response = error_body(status, message, details)
    elif isinstance(exc, RequestValidationError):
        details = [
            {"loc": ".".join(str(p) for p in e.get("loc", ())), "error": e.get("msg", "")}
            for e in exc.errors()
        ]  # the offending input is not echoed back
        response = error_body(400, BAD_REQUEST, details)
    elif isinstance(exc, HTTPException):
        response = error_body(exc.status_code, str(exc.detail))
    else:
        log.error("unexpected %s on %s", type(exc).__name__, request.url.path)
        if ctx is not None:
            ctx.metrics.inc("euroqci_kms_internal_errors_total")
        response = error_body(503, "Error on server side")
    if ctx is not None:
        ctx.metrics.inc("euroqci_kms_errors_total", status=str(response.status_code))
    return response
