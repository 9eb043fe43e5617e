"""Direct-link KME-to-KME notification: ``POST /peer/v1/keys``.

When a master SAE at KME A gets keys for a slave SAE at an ADJACENT KME B, A builds them
from chunks of the A-B link key (which B holds too, under the same IDs) and announces only
the chunk IDs to B over mutual TLS with both KMEs' own certificates. B marks the chunks
used and stores the keys for its slave SAEs, durably, before it answers; only then does A
answer ``enc_keys``, so ``dec_keys`` at B works at once. For a multicast slave behind
another link the key travels one-time-padded (``otp`` = key XOR that link's chunks).

Announcements to one peer are batched: concurrent ``enc_keys`` calls share one request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
from collections import deque
from typing import Any

import httptools
import httpx
from fastapi import APIRouter

from euroqci.errors import KeyUnavailable, RequestRejected
from euroqci.kms.deps import Ctx, KmeCaller
from euroqci.kms.peerconn import PeerConnection, PeerIdentityError
from euroqci.kms.registry import KmeContext, link_id
from euroqci.kms.schemas import PeerKeys, PeerKeysResult, PeerResult
from euroqci.kms.settings import Settings
from euroqci.kms.store import IncomingKey
from euroqci.kms.tls import client_context

PATH = "/peer/v1/keys"
router = APIRouter(tags=["KME to KME (direct link)"])


@router.post(PATH, response_model=PeerKeysResult)
async def accept_peer_keys(body: PeerKeys, caller: KmeCaller, ctx: Ctx) -> PeerKeysResult:
    """Keys announced by the KME at the other end of a QKD link (caller from its cert)."""
    return accept_keys(ctx, caller, body)


def accept_keys(ctx: KmeContext, caller: str, body: PeerKeys) -> PeerKeysResult:
    """Store the keys peer KME ``caller`` announced; per key, stored or why not."""
    me = ctx.settings.kme_id
    if not ctx.network.adjacent(caller, me):
        raise RequestRejected(f"KME {caller} shares no QKD link with KME {me}")
    chunk_bytes = ctx.store.chunk_bytes
    items, early = [], {}
    for i, key in enumerate(body.keys):
        reason = _check(key, ctx.network.saes, me, chunk_bytes)
        otp = None
        if reason is None and key.otp is not None:
            try:
                otp = base64.b64decode(key.otp, validate=True)
            except (binascii.Error, ValueError):
                reason = "otp is not base64"
        if reason is not None:
            early[i] = reason
            continue
        items.append(
            IncomingKey(
                key.key_ID,
                tuple(key.chunk_IDs),
                key.size // 8,
                key.master_SAE_ID,
                tuple(key.slave_SAE_IDs),
                otp,
            )
        )
    reasons = iter(ctx.store.accept_keys(link_id(caller, me), items))
    results = []
    for i, key in enumerate(body.keys):
        reason = early[i] if i in early else next(reasons)
        results.append(PeerResult(key_ID=key.key_ID, stored=reason is None, reason=reason))
    stored = sum(r.stored for r in results)
    ctx.metrics.inc("euroqci_kms_peer_keys_total", stored, outcome="stored")
    ctx.metrics.inc("euroqci_kms_peer_keys_total", len(results) - stored, outcome="refused")
    return PeerKeysResult(results=results)


def _check(key, saes: dict[str, str], me: str, chunk_bytes: int) -> str | None:
    if key.size % 8:
        return "size is not a multiple of 8"
    if any(saes.get(s) != me for s in key.slave_SAE_IDs):
        return f"a slave SAE is not registered at KME {me}"
    if key.master_SAE_ID not in saes:
        return "unknown master SAE"
    return None


class PeerClients:
    """mTLS HTTP client of one KME towards the others (its own certificate), with batching.

    Announcements go through two workers per peer KME, each with its own keep-alive
    :class:`~euroqci.kms.peerconn.PeerConnection`; ``client`` (httpx) is the relay's
    (``KmeContext.peers.client``).
    """

    def __init__(self, settings: Settings, kme_urls: dict[str, str]):
        self.kme_urls = kme_urls
        self.batch_max = settings.peer_batch_max
        self.timeout_s = settings.peer_timeout_s
        verify: Any = True
        if settings.tls_ca_file is not None:
            verify = client_context(
                settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file
            )
        self.context = verify if verify is not True else ssl.create_default_context()
        self.client = httpx.AsyncClient(
            verify=verify,
            timeout=settings.peer_timeout_s,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self._queues: dict[str, deque] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._workers: list[asyncio.Task] = []

    async def announce(self, kme: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``keys`` (PeerKey dicts) to ``kme``; its per-key results, in order.

        Raises :class:`KeyUnavailable` if the peer cannot be reached or answers an error.
        """
        if kme not in self._queues:
            self._queues[kme] = deque()
            self._wake[kme] = asyncio.Event()
            self._workers += [asyncio.create_task(self._run(kme)) for _ in range(2)]
        fut = asyncio.get_running_loop().create_future()
        self._queues[kme].append((keys, fut))
        self._wake[kme].set()
        return await fut

    async def _run(self, kme: str) -> None:
        queue, wake = self._queues[kme], self._wake[kme]
        conn = PeerConnection(self.kme_urls[kme], kme, self.context, self.timeout_s)
        try:
            while True:
                while not queue:
                    wake.clear()
                    await wake.wait()
                batch, keys = [], []
                while queue and (not keys or len(keys) + len(queue[0][0]) <= self.batch_max):
                    item = queue.popleft()
                    batch.append(item)
                    keys += item[0]
                try:
                    results = await self._send(kme, conn, keys)
                except Exception as exc:  # noqa: BLE001 - every waiter must learn of it
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                offset = 0
                for part, fut in batch:
                    if not fut.done():
                        fut.set_result(results[offset : offset + len(part)])
                    offset += len(part)
        finally:
            conn.close()

    async def _send(
        self, kme: str, conn: PeerConnection, keys: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        payload = json.dumps({"keys": keys}).encode()
        try:
            reused = conn.is_open
            try:
                status, body = await conn.post_json(PATH, payload)
            except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
                if not reused:
                    raise
                # once more, on a fresh connection: a kept one may predate a peer restart.
                # Safe to repeat: the peer refuses a key ID or chunks it already has.
                status, body = await conn.post_json(PATH, payload)
        except PeerIdentityError as exc:  # the CA check alone accepts any KME
            raise KeyUnavailable(f"the server at {self.kme_urls[kme]} is not KME {kme}") from exc
        except (OSError, asyncio.IncompleteReadError, httptools.HttpParserError) as exc:
            raise KeyUnavailable(f"peer KME {kme} unreachable ({type(exc).__name__})") from exc
        try:
            answer = json.loads(body) if body else {}
        except ValueError:
            answer = {}
        if status != 200:
            message = answer.get("message", "") if isinstance(answer, dict) else ""
            raise KeyUnavailable(f"peer KME {kme} refused the keys: {message}")
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(keys):
            count = len(results) if isinstance(results, list) else 0
            raise KeyUnavailable(f"peer KME {kme} answered {count} of {len(keys)} keys")
        return results

    async def aclose(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await self.client.aclose()
