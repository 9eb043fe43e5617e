"""Device feeds: how a KME receives link key from a QKD device (southbound, the ITU-T Kq point).

The interface is shaped like ETSI GS QKD 004 V2.1.1 (2020-08), the application interface of
a QKD module: ``OPEN_CONNECT`` returns a ``Key_stream_ID`` that both ends of the link use,
``GET_KEY`` returns the key chunk at an ``index`` of that stream, ``CLOSE`` ends it. Both
KMEs of a link open the same stream and read the same indices, so they receive the same
chunks: a chunk is named by ``(key_stream_id, index)`` at both ends.

Where ETSI 004 returns status codes, these feeds raise the euroqci errors:
``KeyUnavailable`` (004 status 2, "insufficient key available": ask again later),
``KeyNotFound`` (an unknown or closed stream) and ``InvalidParameter``.

:class:`SimulatedFeed` produces key at the link's secret key rate, with bytes drawn from a
seed that both ends share (a simulation: the bytes are pseudo-random, not secret).
:class:`LinkEngineFeed` takes the key blocks of the QKD link engine (``euroqci.qkd``).
:class:`Etsi014DeviceFeed` pulls keys from a real QKD device's own ETSI 014 interface over
mutual TLS (a common way devices deliver keys today).

:func:`pump` moves chunks from a feed into a KME's store as link-key blocks whose IDs
(:func:`chunk_block_id`) are derived from ``(key_stream_id, index)`` so both ends agree.
"""

from __future__ import annotations

import asyncio
import base64
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import numpy as np

from euroqci.errors import InvalidParameter, KeyNotFound, KeyUnavailable, check_range

#: namespace of the UUIDv5 key IDs derived from (key_stream_id, index, part)
KEY_ID_NAMESPACE = uuid.UUID("5f0c8a52-3a57-4b4e-9b8e-0b7f1a6f2d41")


@dataclass(frozen=True)
class KeyChunk:
    """One ``GET_KEY`` answer: the chunk at ``index`` of a key stream (key hidden in repr).

    ``metadata`` is 004's metadata buffer (e.g. the device's own key ID for an ETSI 014
    device feed).
    """

    key_stream_id: str
    index: int
    key: bytes = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)


class DeviceFeed(Protocol):
    """ETSI GS QKD 004-shaped feed of one end of a QKD link."""

    def open_connect(self, key_stream_id: str | None = None) -> str:
        """Open (or join, when ``key_stream_id`` is given) a key stream; return its ID."""
        ...

    def get_key(
        self, key_stream_id: str, index: int, metadata: dict[str, Any] | None = None
    ) -> KeyChunk:
        """The chunk at ``index``; raise :class:`KeyUnavailable` if not produced yet."""
        ...

    def close(self, key_stream_id: str) -> None:
        """Close the stream; later ``get_key`` calls on it raise :class:`KeyNotFound`."""
        ...


def fiber_rate_bps(length_km: np.ndarray | float, **link_options: Any) -> np.ndarray:
    """Secret key rate (bits per second) of fiber QKD links of ``length_km``: the optimised
    two-decoy BB84 rate of :func:`euroqci.physics.bb84.secret_key_rate` (asymptotic), with
    :meth:`~euroqci.physics.link.LinkParameters.from_fiber` and ``link_options``."""
    from euroqci.physics.bb84 import secret_key_rate
    from euroqci.physics.link import LinkParameters

    link = LinkParameters.from_fiber(np.asarray(length_km, dtype=float), **link_options)
    return np.asarray(secret_key_rate(link).rate_bps, dtype=float)


class SimulatedFeed:
    """A fast simulated QKD device end: key at ``rate_bps`` (secret bits per second).

    The chunk at ``index`` is ``chunk_size_bytes`` drawn from
    ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(index,)))``: the two ends of a
    link are two ``SimulatedFeed`` objects built with the same ``seed`` and ``epoch_s`` and
    return identical chunks, as a QKD pair would after post-processing. Chunk ``index``
    exists once ``(index + 1) * 8 * chunk_size_bytes <= rate_bps * (clock() - epoch_s)``,
    capped at ``max_chunks`` (a device's buffer). A shared seed instead of a passed-in
    ``rng`` because two processes must draw the very same bytes.
    """

    def __init__(
        self,
        rate_bps: float,
        seed: int,
        *,
        chunk_size_bytes: int = 32,
        epoch_s: float | None = None,
        clock: Callable[[], float] = time.time,
        initial_chunks: int = 0,
    ):
        check_range("rate_bps", rate_bps, low=0.0)
        check_range("chunk_size_bytes", chunk_size_bytes, low=1, high=1 << 20)
        check_range("initial_chunks", initial_chunks, low=0)
        self.rate_bps = float(rate_bps)
        self.seed = int(seed)
        self.chunk_size_bytes = int(chunk_size_bytes)
        self.clock = clock
        self.epoch_s = clock() if epoch_s is None else float(epoch_s)
        self.initial_chunks = int(initial_chunks)
        self._open: set[str] = set()

    def produced_chunks(self) -> int:
        """How many chunks the device has produced so far (both ends agree)."""
        elapsed_s = max(0.0, self.clock() - self.epoch_s)
        bits = self.rate_bps * elapsed_s
        return self.initial_chunks + math.floor(bits / (8 * self.chunk_size_bytes))

    def seconds_until(self, index: int) -> float:
        """Wall-clock seconds until chunk ``index`` exists (0 if it does; inf at rate 0)."""
        missing = index + 1 - self.produced_chunks()
        if missing <= 0:
            return 0.0
        if self.rate_bps == 0.0:
            return math.inf
        due_s = (index + 1 - self.initial_chunks) * 8 * self.chunk_size_bytes / self.rate_bps
        return max(0.0, self.epoch_s + due_s - self.clock())

    def open_connect(self, key_stream_id: str | None = None) -> str:
        stream = key_stream_id or str(uuid.uuid5(KEY_ID_NAMESPACE, f"stream/{self.seed}"))
        self._open.add(stream)
        return stream

    def get_key(
        self, key_stream_id: str, index: int, metadata: dict[str, Any] | None = None
    ) -> KeyChunk:
        if key_stream_id not in self._open:
            raise KeyNotFound(f"key stream {key_stream_id!r} is not open on this feed")
        if index < 0:
            raise InvalidParameter("index", index, "must be >= 0")
        if index >= self.produced_chunks():
            raise KeyUnavailable(f"chunk {index} of {key_stream_id} not produced yet")
        sequence = np.random.SeedSequence(self.seed, spawn_key=(index,))
        key = np.random.default_rng(sequence).bytes(self.chunk_size_bytes)
        return KeyChunk(key_stream_id, index, key)

    def close(self, key_stream_id: str) -> None:
        self._open.discard(key_stream_id)


class LinkEngineFeed:
    """One end of the QKD link engine (``euroqci.qkd.pipeline.LinkEngine``) as a feed.

    Pass one object per end as the engine's ``alice_sink`` / ``bob_sink`` (it is a
    ``KeySink``). Blocks are numbered in the order they arrive (``index``; a block that
    failed verification never leaves the engine, at either end, so both ends count alike);
    their device ID is the engine's ``(stream_id, block_id)``. At most ``max_blocks`` are
    buffered (older ones are kept, newer dropped, like a full device buffer).
    """

    def __init__(self, max_blocks: int = 10_000):
        check_range("max_blocks", max_blocks, low=1)
        self.max_blocks = int(max_blocks)
        self._lock = threading.Lock()
        self._blocks: dict[str, dict[int, tuple[int, bytes]]] = {}
        self._count: dict[str, int] = {}
        self._open: set[str] = set()

    def deliver(self, block: Any) -> None:
        """``KeySink.deliver``: called by the engine (from its threads) per final block."""
        with self._lock:
            buffer = self._blocks.setdefault(block.stream_id, {})
            index = self._count.get(block.stream_id, 0)
            self._count[block.stream_id] = index + 1
            if len(buffer) < self.max_blocks:
                buffer[index] = (int(block.block_id), bytes(block.key))

    def open_connect(self, key_stream_id: str | None = None) -> str:
        if key_stream_id is None:
            raise InvalidParameter("key_stream_id", None, "the engine's LinkConfig.stream_id")
        self._open.add(key_stream_id)
        return key_stream_id

    def get_key(
        self, key_stream_id: str, index: int, metadata: dict[str, Any] | None = None
    ) -> KeyChunk:
        if key_stream_id not in self._open:
            raise KeyNotFound(f"key stream {key_stream_id!r} is not open on this feed")
        with self._lock:
            entry = self._blocks.get(key_stream_id, {}).pop(index, None)
        if entry is None:
            raise KeyUnavailable(f"block {index} of {key_stream_id} not delivered yet")
        block_id, key = entry
        device_id = uuid.uuid5(KEY_ID_NAMESPACE, f"engine/{key_stream_id}/{block_id}")
        return KeyChunk(key_stream_id, index, key, {"key_ID": str(device_id)})

    def close(self, key_stream_id: str) -> None:
        self._open.discard(key_stream_id)


class Etsi014DeviceFeed:
    """One end of a QKD link whose devices deliver key over their own ETSI GS QKD 014 API.

    The KME is the SAE of its device (client certificate ``ssl_context``): at the
    ``"master"`` end ``get_key`` calls the device's ``enc_keys`` for ``peer_sae_id`` (the
    KME at the other end, registered at the other device) and returns the device's key ID
    in the chunk's ``metadata["key_ID"]``; at the ``"slave"`` end ``get_key`` must be given
    that metadata (004's metadata buffer; the master KME passes the IDs on) and calls
    ``dec_keys``. ``get_key`` is a coroutine here (a network call); :func:`pump` awaits it.
    """

    def __init__(self, client: httpx.AsyncClient, device_url: str, *, role: str,
                 peer_sae_id: str, key_size_bits: int = 256):
        if role not in ("master", "slave"):
            raise InvalidParameter("role", role, "'master' or 'slave'")
        check_range("key_size_bits", key_size_bits, low=8)
        self.client = client
        self.device_url = device_url.rstrip("/")
        self.role = role
        self.peer = quote(peer_sae_id, safe="")
        self.key_size_bits = int(key_size_bits)
        self._open: set[str] = set()

    def open_connect(self, key_stream_id: str | None = None) -> str:
        stream = key_stream_id or str(uuid.uuid4())
        self._open.add(stream)
        return stream

    async def get_key(
        self, key_stream_id: str, index: int, metadata: dict[str, Any] | None = None
    ) -> KeyChunk:
        if key_stream_id not in self._open:
            raise KeyNotFound(f"key stream {key_stream_id!r} is not open on this feed")
        if self.role == "master":
            url = f"{self.device_url}/api/v1/keys/{self.peer}/enc_keys"
            body: dict[str, Any] = {"number": 1, "size": self.key_size_bits}
        else:
            key_id = (metadata or {}).get("key_ID")
            if key_id is None:
                raise InvalidParameter("metadata", metadata, "the master end's key_ID")
            url = f"{self.device_url}/api/v1/keys/{self.peer}/dec_keys"
            body = {"key_IDs": [{"key_ID": str(key_id)}]}
        try:
            answer = await self.client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise KeyUnavailable(f"QKD device {self.device_url}: {type(exc).__name__}") from exc
        if answer.status_code == 503:
            raise KeyUnavailable(f"QKD device {self.device_url}: {answer.text[:200]}")
        if answer.status_code != 200:
            raise KeyNotFound(f"QKD device {self.device_url} answered {answer.status_code}: "
                              f"{answer.text[:200]}")
        key = answer.json()["keys"][0]
        material = base64.b64decode(key["key"])
        return KeyChunk(key_stream_id, index, material, {"key_ID": key["key_ID"]})

    def close(self, key_stream_id: str) -> None:
        self._open.discard(key_stream_id)


def chunk_block_id(chunk: KeyChunk) -> str:
    """The link-key block ID of a chunk, equal at both ends: the device's own key ID when
    it gave one (ETSI 014 device), else a UUIDv5 of ``(key_stream_id, index)``."""
    key_id = chunk.metadata.get("key_ID")
    if key_id is not None:
        return str(key_id)
    return str(uuid.uuid5(KEY_ID_NAMESPACE, f"{chunk.key_stream_id}/{chunk.index}"))


StoreBlocks = Callable[[list[tuple[str, bytes]]], Awaitable[None] | None]


async def pump(
    feed: DeviceFeed,
    key_stream_id: str,
    store_blocks: StoreBlocks,
    *,
    start_index: int = 0,
    poll_s: float = 0.25,
    max_batch: int = 256,
    stop: asyncio.Event | None = None,
) -> int:
    """Copy chunks ``start_index, start_index + 1, ...`` of a stream into a store, forever.

    ``store_blocks(blocks)`` receives lists of ``(block_id, bytes)`` (sync or async; e.g.
    ``KeyStore.add_link_keys`` bound to the link, which cuts blocks into chunks), at most
    one list per ``poll_s`` seconds unless a backlog of ``max_batch`` blocks waits. Runs
    until ``stop`` is set or the task is cancelled; returns the next index to read.
    """
    index = start_index
    while stop is None or not stop.is_set():
        blocks: list[tuple[str, bytes]] = []
        try:
            while len(blocks) < max_batch:
                chunk = feed.get_key(key_stream_id, index)
                if asyncio.iscoroutine(chunk):  # a networked device (Etsi014DeviceFeed)
                    chunk = await chunk
                blocks.append((chunk_block_id(chunk), chunk.key))
                index += 1
        except KeyUnavailable:
            pass
        if blocks:
            result = store_blocks(blocks)
            if asyncio.iscoroutine(result):
                await result
            if len(blocks) == max_batch:
                continue  # a backlog: keep copying
        wait_s = poll_s  # batch what arrives meanwhile: one store write per interval
        if isinstance(feed, SimulatedFeed):
            wait_s = min(max(feed.seconds_until(index), poll_s), 1.0)
        await asyncio.sleep(wait_s)
    return index
