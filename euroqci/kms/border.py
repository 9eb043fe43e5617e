"""Domain border: keys handed between the KMSs of two national networks with ETSI GS QKD 020.

ETSI GS QKD 020 (Interoperable Key Management System API, work item DGS/QKD-020) was a
DRAFT when this was written; the message shapes follow its draft OpenAPI v0.4.1 as used by
public implementations (the EuroQCI interoperability demo at ECOC 2024), not a published
GS. A border is two KMEs of different domains in one secure site; keys cross in the clear
inside mutual TLS, as 020 intends ("for use within a trusted node").

Messages (JSON, over HTTPS with client certificates):

* ``POST /kmapi/v1/ext_keys``::

    {"keys": [{"key_id": UUID, "value": BASE64, "extension": {}}],
     "initiator_sae_id": "alice", "target_sae_ids": ["bob"],
     "ack_callback_url": "https://<sender>/kmapi/v1/ext_keys/ack",
     "extension_mandatory": {}, "extension_optional": {}}

  answered ``200 {}`` once the receiving domain stored the keys at the target SAEs' KME
  (relayed inside that domain if needed); then, per target SAE,
* ``POST <ack_callback_url>``::

    {"key_ids": [{"key_id": UUID}], "ack_status": "relayed" | "failed",
     "initiator_sae_id": "alice", "target_sae_id": "bob", "message": "..."}

* ``GET /kmapi/versions`` -> ``{"versions": ["v1"], "extension": {}}``.

Not done: ``ext_keys/void`` (a failed hand-over is reported with ``ack_status: failed``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from euroqci.errors import KeyNotFound, Unauthorized
from euroqci.kms.relay import MULTIPATH_EXTENSION, RelayFailed, b64decode
from euroqci.kms.tls import server_common_name

if TYPE_CHECKING:
    from euroqci.kms.relay import Relay

EXT_KEYS_PATH = "/kmapi/v1/ext_keys"
ACK_PATH = "/kmapi/v1/ext_keys/ack"
VERSIONS = {"versions": ["v1"], "extension": {}}


async def send_ext_keys(
    relay: Relay,
    keys: list[tuple[str, bytes]],
    master_sae: str,
    slave_saes: list[str],
    timeout_s: float = 10.0,
) -> None:
    """Hand ``keys`` to the border peer of the slave SAEs' domain and wait for its acks."""
    topo = relay.topology
    domains = {topo.domain(topo.sae_kme[s]) for s in slave_saes}
    for domain in sorted(domains):
        border, peer = topo.border_towards(domain)
        if border != relay.kme_id:
            raise RelayFailed(f"{relay.kme_id} is not the border of {domain!r} ({border} is)")
        targets = [s for s in slave_saes if topo.domain(topo.sae_kme[s]) == domain]
        loop = asyncio.get_running_loop()
        waiting = {(keys[0][0], s): loop.create_future() for s in targets}
        relay.ext_acks.update(waiting)
        body = {
            "keys": [
                {"key_id": kid, "value": base64.b64encode(m).decode(), "extension": {}}
                for kid, m in keys
            ],
            "initiator_sae_id": master_sae,
            "target_sae_ids": targets,
            "ack_callback_url": f"{topo.kme_urls[relay.kme_id]}{ACK_PATH}",
            "extension_mandatory": {},
            "extension_optional": {},
        }
        try:
            response = await relay.client.post(
                f"{topo.kme_urls[peer]}{EXT_KEYS_PATH}", json=body, timeout=timeout_s
            )
            if server_common_name(response) != peer:
                raise RelayFailed(f"the server at {peer}'s URL is not KME {peer}",
                                  failed_nodes=[peer])
            if response.status_code != 200:
                raise RelayFailed(
                    f"border KMS {peer} refused ext_keys: {response.text[:200]}",
                    failed_nodes=[peer],
                )
            acks = await asyncio.wait_for(asyncio.gather(*waiting.values()), timeout_s)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise RelayFailed(
                f"border KMS {peer}: {type(exc).__name__}", failed_nodes=[peer]
            ) from exc
        finally:
            for item in waiting:
                relay.ext_acks.pop(item, None)
        bad = [a for a in acks if a.get("ack_status") != "relayed"]
        if bad:
            raise RelayFailed(f"border KMS {peer} did not relay: {bad[0].get('message', '')}")
        relay.record(f"ext:{keys[0][0]}", "border-out", (relay.kme_id, peer), 0, 1, keys)


async def receive_ext_keys(relay: Relay, caller_kme: str, msg: Mapping[str, Any]) -> dict:
    """Handle ``POST /kmapi/v1/ext_keys`` from the border peer ``caller_kme``."""
    topo = relay.topology
    peers = {b if a == relay.kme_id else a for a, b in topo.borders if relay.kme_id in (a, b)}
    if caller_kme not in peers:
        raise Unauthorized(f"{caller_kme!r} is not a border peer of {relay.kme_id!r}")
    callback = str(msg["ack_callback_url"])
    if not callback.startswith(f"{topo.kme_urls[caller_kme]}/"):
        raise Unauthorized(f"ack_callback_url must be at {caller_kme}'s own URL")
    keys = [(str(k["key_id"]), b64decode("value", k["value"])) for k in msg["keys"]]
    master = str(msg["initiator_sae_id"])
    targets = [str(s) for s in msg["target_sae_ids"]]
    n_paths = int((msg.get("extension_optional") or {}).get(MULTIPATH_EXTENSION, 1))
    status, message = "relayed", ""
    try:
        unknown = [s for s in targets if s not in topo.sae_kme]
        if unknown or not keys or not targets:
            raise RelayFailed(f"unknown or missing target SAEs {unknown}")
        by_kme: dict[str, list[str]] = {}
        for sae in targets:
            by_kme.setdefault(topo.sae_kme[sae], []).append(sae)
        for kme, saes in sorted(by_kme.items()):
            if kme == relay.kme_id:
                await relay.supply(keys, master, saes)
            else:
                relay_id, _ = await relay.relay(kme, keys, master, saes, n_paths)
                relay.acknowledge(kme, relay_id, master, saes)
        relay.record(f"ext:{keys[0][0]}", "border-in", (caller_kme, relay.kme_id), 0, 1, keys)
    except RelayFailed as exc:
        status, message = "failed", str(exc)
    for sae in targets:
        ack = {
            "key_ids": [{"key_id": kid} for kid, _ in keys],
            "ack_status": status,
            "initiator_sae_id": master,
            "target_sae_id": sae,
            "message": message,
        }
        try:
            await relay.client.post(callback, json=ack)
        except httpx.HTTPError:
            status = "failed"  # the sender times out waiting for this ack
    if status != "relayed":
        raise RelayFailed(f"ext_keys not relayed: {message or 'ack not delivered'}")
    return {}


def receive_ack(relay: Relay, msg: Mapping[str, Any]) -> dict:
    """Handle ``POST /kmapi/v1/ext_keys/ack``: wake the hand-over waiting for it."""
    key_ids = [str(k["key_id"]) for k in msg.get("key_ids") or ()]
    future = relay.ext_acks.get((key_ids[0], str(msg["target_sae_id"]))) if key_ids else None
    if future is None or future.done():
        raise KeyNotFound("no ext_keys hand-over waits for this acknowledgement")
    future.set_result(dict(msg))
    return {}
