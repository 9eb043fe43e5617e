"""ETSI GS QKD 014 V1.1.1: Get status, Get key (enc_keys), Get key with key IDs (dec_keys).

The caller is the SAE named by its client certificate (``deps.sae_caller``). Where the
standard is silent we follow ``docs/kms-api.md`` (e.g. 503 when key material is short).

Extensions (``extension_mandatory`` / ``extension_optional``, vendor prefix from the
settings, ``euroqci_`` by default):

- ``euroqci_route_type``: ``"direct"`` (only a slave at this KME or at a KME sharing a QKD
  link) or ``"relayed"`` (``"indirect"`` accepted: through the trusted-node relay even when
  adjacent). Unset: direct where possible, relayed otherwise.
- ``euroqci_multipath``: number of node-disjoint relay paths carrying XOR shares (>= 1).
"""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from euroqci.errors import KeyUnavailable, RequestRejected
from euroqci.kms.deps import BAD_REQUEST, sae_caller
from euroqci.kms.registry import KmeContext, link_id
from euroqci.kms.schemas import Error, KeyContainer, KeyIDs, KeyRequest, Status
from euroqci.kms.store import xor_bytes

#: the caller is read with ``await sae_caller(request)`` rather than ``Depends``: these are
#: the hot paths, and FastAPI's dependency solving is a sixth of their CPU time
router = APIRouter(prefix="/api/v1/keys", tags=["ETSI GS QKD 014"])
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "Bad request format"},
    401: {"model": Error, "description": "Unauthorized"},
    503: {"model": Error, "description": "Error on server side"},
}
UNSUPPORTED = "not all extension_mandatory parameters are supported"
UNMET = "not all extension_mandatory request options could be met"


@router.get(
    "/{slave_SAE_ID}/status",
    response_model=Status,
    response_model_exclude_none=True,
    responses=ERRORS,
)
async def get_status(slave_SAE_ID: str, request: Request) -> Status:
    """Get status (cheap: answered from memory, never touches the database)."""
    master, ctx = await sae_caller(request), request.app.state.ctx
    s, net = ctx.settings, ctx.network
    target = net.kme_of(slave_SAE_ID)
    if target is None:
        raise RequestRejected(BAD_REQUEST, [{"slave_SAE_ID": "unknown SAE"}])
    per_key = _chunks_per_key(ctx, s.key_size_bits)
    if target == s.kme_id:
        count = s.max_key_count
    elif net.adjacent(target, s.kme_id):
        count = ctx.store.available_chunks(link_id(target, s.kme_id)) // per_key
    else:  # first hop only: far hops are not polled, so that status stays cheap
        hops = [ctx.store.available_chunks(link_id(n, s.kme_id)) for n in net.neighbours(s.kme_id)]
        count = max(hops, default=0) // per_key
    return Status(
        source_KME_ID=s.kme_id,
        target_KME_ID=target,
        master_SAE_ID=master,
        slave_SAE_ID=slave_SAE_ID,
        key_size=s.key_size_bits,
        stored_key_count=min(count, s.max_key_count),
        max_key_count=s.max_key_count,
        max_key_per_request=s.max_key_per_request,
        max_key_size=s.max_key_size_bits,
        min_key_size=s.min_key_size_bits,
        max_SAE_ID_count=s.max_sae_id_count,
    )


@router.get("/{slave_SAE_ID}/enc_keys", response_model=KeyContainer, responses=ERRORS)
async def get_key_simple(
    slave_SAE_ID: str,
    request: Request,
    number: int | None = Query(None, description="number of keys (default 1)"),
    size: int | None = Query(None, description="key size in bits (default key_size)"),
) -> JSONResponse:
    """Get key, GET form (only ``number`` and ``size``)."""
    master, ctx = await sae_caller(request), request.app.state.ctx
    return await issue_keys(ctx, master, slave_SAE_ID, KeyRequest(number=number, size=size))


@router.post("/{slave_SAE_ID}/enc_keys", response_model=KeyContainer, responses=ERRORS)
async def get_key(
    slave_SAE_ID: str,
    request: Request,
    body: Annotated[KeyRequest | None, Body()] = None,
) -> JSONResponse:
    """Get key, POST form (multicast and extensions)."""
    master, ctx = await sae_caller(request), request.app.state.ctx
    return await issue_keys(ctx, master, slave_SAE_ID, body or KeyRequest())


@router.get("/{master_SAE_ID}/dec_keys", response_model=KeyContainer, responses=ERRORS)
async def get_key_with_id(
    master_SAE_ID: str, request: Request, key_ID: str = Query(...)
) -> JSONResponse:
    """Get key with key IDs, GET form (exactly one key ID)."""
    slave, ctx = await sae_caller(request), request.app.state.ctx
    return dec_keys_response(ctx, master_SAE_ID, slave, [key_ID])


@router.post("/{master_SAE_ID}/dec_keys", response_model=KeyContainer, responses=ERRORS)
async def get_key_with_ids(master_SAE_ID: str, request: Request, body: KeyIDs) -> JSONResponse:
    """Get key with key IDs, POST form."""
    slave, ctx = await sae_caller(request), request.app.state.ctx
    return dec_keys_response(ctx, master_SAE_ID, slave, [k.key_ID for k in body.key_IDs])


# ------------------------------------------------------------------------ logic ------


def dec_keys_response(ctx: KmeContext, master: str, slave: str, key_ids: list[str]):
    """Get key with key IDs: hand ``slave`` the named keys (all or none) and forget them."""
    return _container(_take(ctx, master, slave, key_ids))


def _take(ctx: KmeContext, master: str, slave: str, key_ids: list[str]):
    if not key_ids or len(key_ids) > ctx.settings.max_key_per_request:
        raise RequestRejected(BAD_REQUEST, [{"key_IDs": "between 1 and max_key_per_request"}])
    for kid in key_ids:
        try:
            uuid.UUID(kid)
        except ValueError:
            raise RequestRejected(BAD_REQUEST, [{"key_ID": "not a UUID"}]) from None
    keys = ctx.store.take_keys(key_ids, master, slave)
    ctx.metrics.inc("euroqci_kms_keys_delivered_total", len(keys))
    return [(k.key_id, k.material) for k in keys]


def _container(keys: list[tuple[str, bytes]]) -> JSONResponse:
    body = [{"key_ID": kid, "key": base64.b64encode(m).decode()} for kid, m in keys]
    return JSONResponse({"keys": body})


def _chunks_per_key(ctx: KmeContext, size_bits: int) -> int:
    return math.ceil(size_bits / 8 / ctx.store.chunk_bytes)


@dataclass
class Options:
    """The extensions of one request that this KME honours."""

    route_type: str | None = None
    route_mandatory: bool = False
    multipath: int = 1

    def relay_options(self) -> dict[str, Any]:
        """The options handed to the relay, under their default-prefix names."""
        return {"euroqci_multipath": self.multipath}


def parse_extensions(ctx: KmeContext, req: KeyRequest) -> Options:
    """Apply ETSI 014 clause 6.2: mandatory extensions handled or 400, optional may be ignored."""
    prefix = ctx.settings.extension_prefix
    route, multi = f"{prefix}route_type", f"{prefix}multipath"
    given: dict[str, tuple[Any, bool]] = {}
    unsupported = []
    for obj in req.extension_mandatory or []:
        for name, value in obj.items():
            if name in (route, multi):
                given[name] = (value, True)
            else:
                unsupported.append({"extension_mandatory_unsupported": f"{name} is not supported"})
    if unsupported:
        raise RequestRejected(UNSUPPORTED, unsupported)
    for obj in req.extension_optional or []:
        for name, value in obj.items():
            if name in (route, multi) and name not in given:
                given[name] = (value, False)
    opts = Options()
    for name, (value, mandatory) in given.items():
        if name == route and value in ("direct", "relayed", "indirect"):
            opts.route_type = "relayed" if value == "indirect" else value
            opts.route_mandatory = mandatory
        elif name == multi and type(value) is int and 1 <= value <= 16:
            opts.multipath = value
        elif mandatory:
            raise RequestRejected(UNMET, [{name: f"unsupported value {value!r}"}])
    needs_relay = opts.route_type == "relayed" or opts.multipath > 1
    if needs_relay and ctx.relay is None:
        bad = [n for n in (route, multi) if n in given and given[n][1]]
        if bad:
            raise RequestRejected(UNMET, [{n: "no trusted-node relay at this KME"} for n in bad])
        opts = Options()
    return opts


def _check_request(ctx: KmeContext, master: str, slave: str, req: KeyRequest):
    s = ctx.settings
    number = 1 if req.number is None else req.number
    if not 1 <= number <= s.max_key_per_request:
        raise RequestRejected(BAD_REQUEST, [{"number": f"1 to {s.max_key_per_request}"}])
    size = s.key_size_bits if req.size is None else req.size
    if size % 8:
        raise RequestRejected("size shall be a multiple of 8")
    if not s.min_key_size_bits <= size <= s.max_key_size_bits:
        limits = f"{s.min_key_size_bits} to {s.max_key_size_bits} bits"
        raise RequestRejected(BAD_REQUEST, [{"size": limits}])
    extra = req.additional_slave_SAE_IDs
    if extra is not None:
        if not extra or len(extra) > s.max_sae_id_count:
            count = f"1 to max_SAE_ID_count={s.max_sae_id_count} IDs"
            raise RequestRejected(BAD_REQUEST, [{"additional_slave_SAE_IDs": count}])
        if len(set(extra)) != len(extra) or slave in extra or master in extra:
            detail = "no duplicates, no master, no slave"
            raise RequestRejected(BAD_REQUEST, [{"additional_slave_SAE_IDs": detail}])
    slaves = [slave, *(extra or [])]
    if slave == master and not s.allow_self_pairing:
        raise RequestRejected(BAD_REQUEST, [{"slave_SAE_ID": "must differ from the caller"}])
    unknown = [x for x in slaves if ctx.network.kme_of(x) is None]
    if unknown:
        raise RequestRejected(BAD_REQUEST, [{"unknown_SAE_IDs": unknown}])
    return number, size, slaves


async def issue_keys(ctx: KmeContext, master: str, slave: str, req: KeyRequest) -> JSONResponse:
    """Get key: make ``number`` keys and have every slave's KME store them before answering."""
    number, size_bits, slaves = _check_request(ctx, master, slave, req)
    opts = parse_extensions(ctx, req)
    me, net = ctx.settings.kme_id, ctx.network
    by_kme: dict[str, list[str]] = {}
    for sae in slaves:
        by_kme.setdefault(net.kme_of(sae), []).append(sae)
    route_of = {}
    for kme in by_kme:
        if kme == me:
            route_of[kme] = "local"
        elif net.adjacent(kme, me) and opts.route_type != "relayed" and opts.multipath == 1:
            route_of[kme] = "direct"
        elif opts.route_type == "direct" and opts.route_mandatory:
            raise RequestRejected(UNMET, [{"route_type": f"KME {kme} is not adjacent"}])
        else:
            route_of[kme] = "relayed"
    if "relayed" in route_of.values() and ctx.relay is None:
        raise KeyUnavailable(f"no trusted-node relay at KME {me} to reach a non-adjacent KME")
    size_bytes, per_key = size_bits // 8, _chunks_per_key(ctx, size_bits)
    direct = [k for k in by_kme if route_of[k] == "direct"]
    reservations = {}
    try:
        for kme in direct:
            reservations[kme] = ctx.store.reserve(
                link_id(me, kme), number * per_key, oldest_first=me < kme
            )
    except KeyUnavailable:
        for res in reservations.values():
            ctx.store.release(res)
        raise
    stride = per_key * ctx.store.chunk_bytes
    primary = net.kme_of(slave)
    if primary in reservations:  # the key IS the link key: only chunk IDs travel
        pad = reservations[primary].material
        keys = [
            (str(uuid.uuid4()), pad[i * stride : i * stride + size_bytes]) for i in range(number)
        ]
    else:
        keys = [(str(uuid.uuid4()), secrets.token_bytes(size_bytes)) for _ in range(number)]
    jobs = []
    for kme in direct:
        res = reservations[kme]
        announced = []
        for i, (kid, material) in enumerate(keys):
            item = {
                "key_ID": kid,
                "chunk_IDs": list(res.chunk_ids[i * per_key : (i + 1) * per_key]),
                "size": size_bits,
                "master_SAE_ID": master,
                "slave_SAE_IDs": by_kme[kme],
            }
            if kme != primary:
                otp = xor_bytes(material, res.material[i * stride : i * stride + size_bytes])
                item["otp"] = base64.b64encode(otp).decode()
            announced.append(item)
        jobs.append(ctx.peers.announce(kme, announced))
    relayed = [x for k in by_kme if route_of[k] == "relayed" for x in by_kme[k]]
    if relayed:
        jobs.append(ctx.relay.deliver(keys, master, relayed, opts.relay_options()))
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    for res in reservations.values():  # announced: used at the peer, or burned if refused
        ctx.store.commit(res, wait=False)  # the peer's durable record is the authority
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        refused = [r for r in outcome or () if not r["stored"]]
        if refused:
            raise KeyUnavailable(f"peer KME refused the keys: {refused[0]['reason']}")
    local = by_kme.get(me)
    if local:
        ctx.store.add_keys(keys, master, local)
    if relayed:
        ctx.metrics.inc("euroqci_kms_keys_relayed_total", number)
    ctx.metrics.inc("euroqci_kms_keys_issued_total", number, route=route_of[net.kme_of(slave)])
    return _container(keys)
