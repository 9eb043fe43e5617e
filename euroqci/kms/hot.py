"""The hot paths of a KME served as plain ASGI, next to FastAPI (same logic, same answers).

A direct-link key pair costs a KME one ``GET enc_keys`` (master side) or one ``GET
dec_keys`` (slave side), and a share of one batched ``POST /peer/v1/keys``; on the 2-core
benchmark machine FastAPI's routing, dependency solving and middleware layers took about a
third of each call's CPU (py-spy, see the "Key Management Entity" section of
docs/benchmarks.md). :func:`match` recognises only the plain forms of the two ETSI calls
(``number``/``size`` as positive decimals, exactly one ``key_ID``) and :func:`peer_keys`
the announcements of peer KMEs; anything else (other methods, other parameters, malformed
values) goes to FastAPI, whose validation and OpenAPI document stay the reference. Handled
here, a call runs the very same functions as its FastAPI route and answers through
:func:`respond`, which keeps the KME's one durability rule: no byte of an answer leaves
before the store writes queued while serving it are committed (``KeyStore.barrier``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from euroqci.errors import KeyUnavailable, Unauthorized
from euroqci.kms.deps import error_body, handle_error, kme_of_scope, sae_of_scope
from euroqci.kms.registry import KmeContext
from euroqci.kms.routes import etsi014
from euroqci.kms.routes.peer import accept_keys
from euroqci.kms.schemas import KeyRequest, PeerKeys
from euroqci.kms.store import track_writes

Handler = Callable[[KmeContext, dict], Awaitable[Response]]

_PREFIX = "/api/v1/keys/"
_PEER_BODY_MAX = 8 << 20  # bytes; a longer announcement goes through FastAPI
_COUNT = re.compile(rb"[1-9][0-9]{0,8}")  # a plain positive decimal (else FastAPI parses it)


def match(scope: dict) -> Handler | None:
    """The hot handler for this request, or None (FastAPI serves it)."""
    path = scope["path"]
    if scope["method"] != "GET" or scope.get("root_path") or not path.startswith(_PREFIX):
        return None
    sae, _, call = path[len(_PREFIX) :].partition("/")
    if not sae or "/" in call:
        return None
    query = scope["query_string"]
    if call == "enc_keys":
        params = _counts(query)
        return None if params is None else _enc_keys(sae, params)
    if call == "dec_keys" and query.startswith(b"key_ID=") and b"&" not in query:
        key_id = unquote(query[7:].decode("latin-1").replace("+", " "))
        if key_id and ";" not in key_id:
            return _dec_keys(sae, key_id)
    return None


def _counts(query: bytes) -> dict[str, int] | None:
    """``number``/``size`` of a GET enc_keys, or None for anything but the plain form."""
    params: dict[str, int] = {}
    for pair in query.split(b"&") if query else ():
        name, _, value = pair.partition(b"=")
        if name not in (b"number", b"size") or name.decode() in params:
            return None
        if _COUNT.fullmatch(value) is None:
            return None
        params[name.decode()] = int(value)
    return params


def _enc_keys(slave: str, params: dict[str, int]) -> Handler:
    async def handler(ctx: KmeContext, scope: dict) -> Response:
        master = sae_of_scope(ctx, scope)
        return await etsi014.issue_keys(ctx, master, slave, KeyRequest(**params))

    return handler


def _dec_keys(master: str, key_id: str) -> Handler:
    async def handler(ctx: KmeContext, scope: dict) -> Response:
        slave = sae_of_scope(ctx, scope)
        return etsi014.dec_keys_response(ctx, master, slave, [key_id])

    return handler


async def peer_keys(app, ctx: KmeContext, scope: dict, receive, send) -> None:
    """``POST /peer/v1/keys`` from a peer KME: the body parsed with pydantic directly.

    Anything unusual (a caller that is no peer KME, no or a large ``content-length``, a
    body the model refuses) goes to FastAPI, with the body replayed, for its usual answer.
    """
    length = _content_length(scope)
    try:
        caller = kme_of_scope(ctx, scope)
    except Unauthorized:
        caller = None
    if caller is None or length is None or length > _PEER_BODY_MAX:
        return await app.fallback(scope, receive, send)
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # client gone
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    try:
        announced = PeerKeys.model_validate_json(body)
    except ValidationError:
        return await app.fallback(scope, _replay(body, receive), send)

    async def handler(ctx: KmeContext, scope: dict) -> Response:
        result = accept_keys(ctx, caller, announced)
        return Response(result.model_dump_json(), media_type="application/json")

    await respond(ctx, handler, scope, send)


def _content_length(scope: dict) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def _replay(body: bytes, receive):
    """``receive`` that first hands out ``body`` again."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


async def respond(ctx: KmeContext, handler: Handler, scope: dict, send) -> None:
    """Run ``handler`` and send its answer once the writes it queued are durable."""
    writes = track_writes()
    try:
        response = await handler(ctx, scope)
    except Exception as exc:  # noqa: BLE001 - every error becomes the ETSI 014 Error body
        response = await handle_error(Request(scope), exc)
    try:
        await ctx.store.barrier(writes)
    except KeyUnavailable as exc:
        response = error_body(503, str(exc))
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})
