"""KME-to-KME relay routes (Kx) and the ETSI GS QKD 020 (draft) border routes.

Only peer KMEs may call them (``deps.KmeCaller``: the subject CN of the client certificate
names another KME of the network). Semantics: ``kms/relay.py`` (hop-by-hop relay: forward,
ack, void) and ``kms/border.py`` (ETSI 020 ``ext_keys``). A failed relay answers 503 with
the ETSI 014 Error body whose ``details`` name the failed node or link, so that the
source can re-route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from euroqci.errors import KeyManagementError
from euroqci.kms import border
from euroqci.kms.deps import KmeCaller
from euroqci.kms.relay import PEER_PREFIX, Relay

router = APIRouter(tags=["relay (KME to KME)"])


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RelayedKey(_Message):
    key_ID: str
    size: int = Field(gt=0, description="key size in bits")


class Forward(_Message):
    """Relay request for the hop ``path[hop-1] -> path[hop]`` (one share of the key)."""

    relay_id: str
    path: list[str] = Field(min_length=2)
    hop: int = Field(ge=1)
    share_index: int = Field(ge=0)
    share_count: int = Field(ge=1)
    keys: list[RelayedKey] = Field(min_length=1)
    initiator_sae_id: str
    target_sae_ids: list[str] = Field(min_length=1)
    pad_ids: list[str] = Field(min_length=1, description="link-key chunk IDs of the pad")
    ciphertext: str = Field(description="base64 of the share XOR the pad")


class Ack(_Message):
    """Key supply notification from the source to the destination."""

    relay_id: str
    ack_status: str = "relayed"
    initiator_sae_id: str
    target_sae_ids: list[str] = Field(min_length=1)


class Void(_Message):
    relay_id: str


class ExtKey(_Message):
    key_id: str
    value: str = Field(description="base64 key material")
    extension: dict[str, Any] = Field(default_factory=dict)


class ExtKeys(_Message):
    """ETSI GS QKD 020 (draft v0.4.1) ``ext_keys`` request."""

    keys: list[ExtKey] = Field(min_length=1)
    initiator_sae_id: str
    target_sae_ids: list[str] = Field(min_length=1)
    ack_callback_url: str
    extension_mandatory: dict[str, Any] = Field(default_factory=dict)
    extension_optional: dict[str, Any] = Field(default_factory=dict)


class ExtKeyId(_Message):
    key_id: str


class ExtAck(_Message):
    """ETSI GS QKD 020 (draft) acknowledgement sent to ``ack_callback_url``."""

    key_ids: list[ExtKeyId] = Field(min_length=1)
    ack_status: str
    initiator_sae_id: str
    target_sae_id: str
    message: str = ""


def _relay(request: Request) -> Relay:
    relay = getattr(request.app.state, "relay", None)
    if not isinstance(relay, Relay):
        raise KeyManagementError("this KME has no relay service")
    return relay


@router.get(f"{PEER_PREFIX}/links")
async def links(request: Request, caller: KmeCaller) -> dict[str, Any]:
    """Link key held per link of this KME (bits), for route selection by its peers."""
    return _relay(request).advertised_links()


@router.post(f"{PEER_PREFIX}/forward")
async def forward(request: Request, caller: KmeCaller, body: Forward) -> dict[str, Any]:
    """Relay request: remove this hop's pad, then keep (destination) or forward."""
    return await _relay(request).handle_forward(caller, body.model_dump())


@router.post(f"{PEER_PREFIX}/ack")
async def ack(request: Request, caller: KmeCaller, body: Ack) -> dict[str, Any]:
    """Key supply notification: the source confirms; the key becomes fetchable here."""
    return await _relay(request).handle_ack(caller, body.model_dump())


@router.post(f"{PEER_PREFIX}/void")
async def void(request: Request, caller: KmeCaller, body: Void) -> dict[str, Any]:
    """The source abandons a relay: drop its pending shares."""
    return _relay(request).handle_void(caller, body.model_dump())


@router.get("/kmapi/versions")
async def versions(caller: KmeCaller) -> dict[str, Any]:
    """ETSI GS QKD 020 (draft) versions supported."""
    return border.VERSIONS


@router.post(border.EXT_KEYS_PATH)
async def ext_keys(request: Request, caller: KmeCaller, body: ExtKeys) -> dict[str, Any]:
    """ETSI GS QKD 020 (draft) ``ext_keys`` from the border KMS of another domain."""
    return await border.receive_ext_keys(_relay(request), caller, body.model_dump())


@router.post(border.ACK_PATH)
async def ext_keys_ack(request: Request, caller: KmeCaller, body: ExtAck) -> dict[str, Any]:
    """ETSI GS QKD 020 (draft) acknowledgement of an ``ext_keys`` this KME sent."""
    return border.receive_ack(_relay(request), body.model_dump())
