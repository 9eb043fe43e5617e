"""Trusted-node key relay between KMEs (the Kx reference point of ITU-T Y.3802).

A key for a slave SAE whose KME is not adjacent travels hop by hop along a path chosen by
:func:`euroqci.network.routing.route` on the available link key. Each hop encrypts it with
a one-time pad of that link's key (XOR with link-key blocks taken from the hop's store; the
receiver takes the blocks with the same IDs from its own store), so only trusted nodes see
it in the clear (the SECOQC scheme, Peev et al., New J. Phys. 11, 075001, 2009).

The steps follow the key relay procedure of ITU-T Y.3803 / Q.4163 and the semantics of
ETSI GS QKD 020 (key IDs, initiator SAE, target SAEs, acknowledgement):

1. **relay request**: the source sends ``POST /peer/v1/relay/forward`` to the next hop;
   every trusted node removes its pad, re-encrypts with the next link's pad and forwards;
2. **completion**: once it holds every share, the destination stores the key durably for
   the slave SAEs and answers; the answer travels back along the path (each hop's HTTP
   response). Only then does ``enc_keys`` return, so ``dec_keys`` at the far KME works at
   once (nobody can ask for the key earlier: its ID reaches the slave SAE from the master);
3. **acknowledgement** (key supply notification): the source then tells the destination
   ``POST /peer/v1/relay/ack`` that the key went to the master SAE; if ``enc_keys`` fails
   after a completion, it sends ``void`` instead and the destination deletes the key. On a
   failed hop the source re-routes around the node or link named in the error (at most
   ``max_attempts`` routes).

Multipath (option ``euroqci_multipath`` = number of paths): the key material is split into
XOR shares sent over node-disjoint paths (:func:`~euroqci.network.routing.disjoint_routes`),
so no single trusted node learns it (Salvail et al., J. Comput. Secur. 18, 61, 2010).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httptools
import httpx
import networkx as nx
import numpy as np

from euroqci.errors import InvalidParameter, KeyNotFound, KeyUnavailable
from euroqci.kms.peerconn import PeerIdentityError, PeerPool
from euroqci.kms.store import track_writes
from euroqci.kms.tls import server_common_name
from euroqci.network.relay import hop_charges
from euroqci.network.routing import disjoint_routes, path_links, route
from euroqci.network.topology import LinkId, link_id

if TYPE_CHECKING:
    from euroqci.kms.registry import KmeContext

#: ETSI 014 extension (mandatory or optional) asking for multipath relay: number of paths
MULTIPATH_EXTENSION = "euroqci_multipath"
PEER_PREFIX = "/peer/v1/relay"


class RelayFailed(KeyUnavailable):
    """A relay could not be completed; ``failed_nodes``/``failed_links`` say where."""

    def __init__(self, message: str, *, failed_nodes: Sequence[str] = (),
                 failed_links: Sequence[LinkId] = ()):
        super().__init__(message)
        self.failed_nodes = tuple(failed_nodes)
        self.failed_links = tuple(failed_links)

    def details(self) -> list[dict[str, Any]]:
        return ([{"failed_node": n} for n in self.failed_nodes]
                + [{"failed_link": list(lk)} for lk in self.failed_links])


@dataclass(frozen=True)
class RelayTopology:
    """What one KME knows of the network: its domain's graph, peers' URLs, SAE homes,
    domains of KMEs and the borders (pairs of KMEs of two domains talking ETSI 020)."""

    kme_id: str
    graph: nx.Graph
    kme_urls: Mapping[str, str]
    sae_kme: Mapping[str, str]
    kme_domain: Mapping[str, str] = field(default_factory=dict)
    borders: Sequence[LinkId] = ()
    chunk_bytes: int = 32

    @classmethod
    def of(cls, ctx: KmeContext, kme_domain: Mapping[str, str] | None = None,
           borders: Sequence[LinkId] = ()) -> RelayTopology:
        """The topology of the KME of ``ctx`` (graph restricted to its own domain)."""
        domains = dict(kme_domain or {})
        me = ctx.settings.kme_id
        mine = domains.get(me, "default")
        full = ctx.network.graph()
        graph = full.subgraph(n for n in full if domains.get(n, "default") == mine).copy()
        return cls(me, graph, dict(ctx.network.kmes), dict(ctx.network.saes), domains,
                   tuple(borders), ctx.settings.chunk_size_bits // 8)

    def domain(self, kme: str) -> str:
        return self.kme_domain.get(kme, "default")

    def border_towards(self, domain: str) -> tuple[str, str]:
        """(border KME of my domain, its peer KME in ``domain``)."""
        mine = self.domain(self.kme_id)
        for a, b in self.borders:
            for x, y in ((a, b), (b, a)):
                if self.domain(x) == mine and self.domain(y) == domain:
                    return x, y
        raise RelayFailed(f"no border from domain {mine!r} to domain {domain!r}")


@dataclass(frozen=True)
class JournalEntry:
    """What a KME did in one relay (no key material): for operators and tests."""

    relay_id: str
    role: str  # source | trusted | destination | border
    path: tuple[str, ...]
    share_index: int
    share_count: int
    key_ids: tuple[str, ...]


@dataclass
class _Pending:
    source: str
    key_ids: list[str]
    sizes: list[int]
    share_count: int
    shares: dict[int, bytes] = field(default_factory=dict, repr=False)
    created_s: float = field(default_factory=time.monotonic)


def xor_bytes(a: bytes, b: bytes) -> bytes:
    """Bytewise XOR of two equally long byte strings."""
    if len(a) != len(b):
        raise InvalidParameter("pad length", len(b), f"must equal the data length {len(a)}")
    return np.bitwise_xor(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8)).tobytes()


def split_shares(material: bytes, n_shares: int) -> list[bytes]:
    """``n_shares`` XOR shares of ``material``: any ``n_shares - 1`` of them are uniform and
    independent of it. Drawn with :mod:`secrets` (a CSPRNG), as they are key material."""
    if n_shares < 1:
        raise InvalidParameter("n_shares", n_shares, "must be >= 1")
    shares = [secrets.token_bytes(len(material)) for _ in range(n_shares - 1)]
    last = material
    for share in shares:
        last = xor_bytes(last, share)
    return [*shares, last]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64decode(name: str, text: str) -> bytes:
    """Strict base64 decoding; a malformed value is an :class:`InvalidParameter` (400)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameter(name, "<not shown>", "base64 (RFC 4648)") from exc


class Relay:
    """The relay service of one KME (``app.state.relay``, called by ``enc_keys``)."""

    def __init__(self, ctx: KmeContext, topology: RelayTopology,
                 client: httpx.AsyncClient, *, max_attempts: int = 3, view_ttl_s: float = 5.0,
                 pending_ttl_s: float = 60.0, journal_size: int = 1000):
        self.ctx = ctx
        self.store = ctx.store
        self.topology = topology
        self.client = client
        #: kept-alive connections for the hops (``_post``); ``client`` (httpx) for the rest
        self.pool = PeerPool(ctx.peers.context, ctx.settings.peer_timeout_s)
        self.max_attempts = max_attempts
        self.view_ttl_s = view_ttl_s
        self.pending_ttl_s = pending_ttl_s
        self.journal: deque[JournalEntry] = deque(maxlen=journal_size)
        self.counters = {"relayed_keys": 0, "relay_failures": 0, "reroutes": 0}
        #: link key spent per link by relays this KME started (bits, ``hop_charges``)
        self.relayed_bits: dict[LinkId, float] = {}
        #: ETSI 020 hand-overs waiting for their ack: (first key ID, target SAE) -> future
        self.ext_acks: dict[tuple[str, str], asyncio.Future] = {}
        self._pending: dict[str, _Pending] = {}
        #: completed relays awaiting the source's ack or void: relay_id -> (source KME,
        #: key IDs, master, local slave SAEs); bounded, oldest forgotten first
        self._supplied: dict[str, tuple[str, list[str], str, list[str]]] = {}
        self._background: set[asyncio.Task] = set()
        self._view: tuple[float, dict[LinkId, float], set[str]] | None = None

    @property
    def kme_id(self) -> str:
        return self.topology.kme_id

    # ----------------------------------------------------------------- source side
    async def deliver(self, keys: Sequence[tuple[str, bytes]], master_sae: str,
                      slave_saes: Sequence[str], options: Mapping[str, Any] | None = None
                      ) -> None:
        """Make ``keys`` ``[(key_ID, bytes)]`` available at the KMEs of ``slave_saes``.

        Called by ``enc_keys`` with the ETSI 014 extensions it honoured as ``options``
        (``euroqci_multipath``: number of node-disjoint paths). Returns once every target
        KME stored the keys (completion); the acknowledgements follow in the background.
        If one target fails, the others are voided and :class:`RelayFailed` (ETSI 014:
        503) is raised, e.g. when no route has enough key.
        """
        n_paths = int((options or {}).get(MULTIPATH_EXTENSION, 1))
        if n_paths < 1:
            raise InvalidParameter(MULTIPATH_EXTENSION, n_paths, "must be >= 1")
        keys = [(str(k), bytes(m)) for k, m in keys]
        by_kme: dict[str, list[str]] = {}
        for sae in slave_saes:
            kme = self.topology.sae_kme.get(sae)
            if kme is None:
                raise InvalidParameter("slave_SAE_ID", sae, "an SAE registered in the network")
            if kme != self.kme_id:
                by_kme.setdefault(kme, []).append(sae)
        targets = sorted(by_kme.items())
        outcomes = await asyncio.gather(
            *(self._deliver_to(kme, keys, master_sae, saes, n_paths) for kme, saes in targets),
            return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        done = [(kme, o) for (kme, _), o in zip(targets, outcomes, strict=True)
                if isinstance(o, str)]
        if failures:
            await asyncio.gather(*(self._void(kme, relay_id) for kme, relay_id in done))
            raise failures[0]
        for kme, relay_id in done:
            self.acknowledge(kme, relay_id, master_sae, by_kme[kme])

    async def _deliver_to(self, target: str, keys: list[tuple[str, bytes]], master_sae: str,
                          slave_saes: list[str], n_paths: int) -> str | None:
        """Relay to ``target`` (or to the border towards its domain); the relay ID, or
        None when this KME handed the keys over the border itself."""
        if self.topology.domain(target) != self.topology.domain(self.kme_id):
            border, _ = self.topology.border_towards(self.topology.domain(target))
            if border == self.kme_id:
                from euroqci.kms.border import send_ext_keys

                await send_ext_keys(self, keys, master_sae, slave_saes)
                return None
            target = border
        relay_id, _ = await self.relay(target, keys, master_sae, slave_saes, n_paths)
        return relay_id

    def available_bits(self, target_kme: str) -> int:
        """Widest-path bottleneck to ``target_kme`` from the last link view (cheap)."""
        if self._view is None or target_kme not in self.topology.graph:
            return 0
        levels, down = self._view[1], self._view[2]
        path = route(self.topology.graph, self.kme_id, target_kme, key_available_bits=levels,
                     need_bits=0, failed_nodes=down)
        if not path or len(path) < 2:
            return 0
        return int(min(levels.get(lid, 0) for lid in path_links(path)))

    async def relay(self, target: str, keys: list[tuple[str, bytes]], master_sae: str,
                    slave_saes: list[str], n_paths: int = 1) -> tuple[str, list[list[str]]]:
        """Relay ``keys`` to KME ``target`` of this domain up to completion; return the
        relay ID and the path(s) used. The caller acknowledges or voids it."""
        material = b"".join(key for _, key in keys)
        chunk = self.topology.chunk_bytes
        need_bits = math.ceil(len(material) / chunk) * chunk * 8
        failed_nodes: set[str] = set()
        failed_links: set[LinkId] = set()
        last_error: RelayFailed | None = None
        for attempt in range(self.max_attempts):
            levels, down = await self.link_view()
            failed = failed_nodes | down
            if n_paths == 1:
                path = route(self.topology.graph, self.kme_id, target,
                             key_available_bits=levels, need_bits=need_bits,
                             failed_nodes=failed, failed_links=failed_links)
                paths = [path] if path else []
            else:
                paths = disjoint_routes(self.topology.graph, self.kme_id, target, n_paths,
                                        levels, need_bits, failed_nodes=failed,
                                        failed_links=failed_links)
            if len(paths) < n_paths:
                self.counters["relay_failures"] += 1
                raise RelayFailed(
                    f"no {n_paths} node-disjoint route(s) from {self.kme_id} to {target} with "
                    f"{need_bits} bits of link key per hop", failed_nodes=sorted(failed),
                    failed_links=sorted(failed_links)) from last_error
            relay_id = str(uuid.uuid4())
            shares = split_shares(material, len(paths))
            try:
                await asyncio.gather(*(
                    self._send(relay_id, path, 1, i, len(paths), keys, master_sae, slave_saes,
                               share)
                    for i, (path, share) in enumerate(zip(paths, shares, strict=True))))
            except RelayFailed as exc:
                last_error = exc
                failed_nodes.update(n for n in exc.failed_nodes if n != self.kme_id)
                failed_links.update(exc.failed_links)
                self._view = None
                self.counters["reroutes"] += int(attempt + 1 < self.max_attempts)
                await self._void(target, relay_id)
                continue
            for i, path in enumerate(paths):
                self.record(relay_id, "source", path, i, len(paths), keys)
                for lid, bits in hop_charges(path, need_bits).items():
                    self.relayed_bits[lid] = self.relayed_bits.get(lid, 0.0) + bits
            self.counters["relayed_keys"] += len(keys)
            return relay_id, paths
        self.counters["relay_failures"] += 1
        raise RelayFailed(f"relay to {target} failed after {self.max_attempts} routes: "
                          f"{last_error}", failed_nodes=sorted(failed_nodes),
                          failed_links=sorted(failed_links))

    async def _send(self, relay_id: str, path: Sequence[str], hop: int, share_index: int,
                    share_count: int, keys: Sequence[tuple[str, Any]], master_sae: str,
                    slave_saes: Sequence[str], plaintext: bytes) -> dict[str, Any]:
        """One-time-pad ``plaintext`` with link path[hop-1]-path[hop] and send it on.

        The pad chunks are used up whatever the answer: a pad is never reused.
        """
        nxt = path[hop]
        lid = link_id(self.kme_id, nxt)
        n_chunks = math.ceil(len(plaintext) / self.topology.chunk_bytes)
        try:
            pads = self.store.take_link_keys(lid, n_chunks, sender=self.kme_id)
        except KeyUnavailable as exc:
            raise RelayFailed(f"link {lid[0]}-{lid[1]}: {exc}", failed_links=[lid]) from exc
        pad = b"".join(chunk for _, chunk in pads)
        body = {
            "relay_id": relay_id, "path": list(path), "hop": hop,
            "share_index": share_index, "share_count": share_count,
            "keys": [{"key_ID": kid, "size": 8 * len(k) if isinstance(k, bytes) else int(k)}
                     for kid, k in keys],
            "initiator_sae_id": master_sae, "target_sae_ids": list(slave_saes),
            "pad_ids": [cid for cid, _ in pads],
            "ciphertext": _b64(xor_bytes(plaintext, pad[: len(plaintext)])),
        }
        return await self._post(nxt, "forward", body)

    async def _post(self, kme: str, step: str, body: dict[str, Any]) -> dict[str, Any]:
        base = self.topology.kme_urls[kme]
        url = f"{base}{PEER_PREFIX}/{step}"
        try:
            status, raw = await self.pool.post_json(
                base, kme, f"{PEER_PREFIX}/{step}", json.dumps(body).encode()
            )
        except PeerIdentityError as exc:
            raise RelayFailed(f"the server at {url} is not KME {kme}",
                              failed_nodes=[kme]) from exc
        except (OSError, asyncio.IncompleteReadError, httptools.HttpParserError) as exc:
            raise RelayFailed(f"KME {kme} unreachable: {type(exc).__name__}",
                              failed_nodes=[kme]) from exc
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {}
        if status == 200:
            if not isinstance(payload, dict):
                raise RelayFailed(f"KME {kme} answered {step} with no JSON object",
                                  failed_nodes=[kme])
            return payload
        if not isinstance(payload, dict):
            payload = {}
        nodes, links = [], []
        for item in payload.get("details") or ():
            if "failed_node" in item:
                nodes.append(item["failed_node"])
            if "failed_link" in item:
                links.append(link_id(*item["failed_link"]))
        if not nodes and not links:
            nodes = [kme]
        reason = payload.get("message", status)
        raise RelayFailed(f"KME {kme} refused {step}: {reason}", failed_nodes=nodes,
                          failed_links=links)

    async def _void(self, target: str, relay_id: str | None) -> None:
        if relay_id is None:
            return
        try:
            await self._post(target, "void", {"relay_id": relay_id})
        except RelayFailed:
            pass  # the destination drops unfinished shares after pending_ttl_s anyway

    def acknowledge(self, target: str, relay_id: str | None, master_sae: str,
                    slave_saes: list[str]) -> None:
        """Send the key supply notification of a completed relay (in the background)."""
        if relay_id is not None:
            self._spawn(self._post_quietly(target, "ack", {
                "relay_id": relay_id, "ack_status": "relayed", "initiator_sae_id": master_sae,
                "target_sae_ids": slave_saes}))

    async def _post_quietly(self, kme: str, step: str, body: dict[str, Any]) -> None:
        try:
            await self._post(kme, step, body)
        except RelayFailed:
            pass  # the key is stored there already; the ack only closes the books

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ----------------------------------------------------------------- routing view
    async def link_view(self) -> tuple[dict[LinkId, float], set[str]]:
        """Bits of link key per link of the domain (the smaller of what its two ends
        advertise) and the KMEs that did not answer; cached for ``view_ttl_s``."""
        now = time.monotonic()
        if self._view is not None and now - self._view[0] < self.view_ttl_s:
            return self._view[1], self._view[2]
        others = [n for n in self.topology.graph.nodes if n != self.kme_id]
        answers = await asyncio.gather(*(self._links_of(n) for n in others))
        reports = dict(zip(others, answers, strict=True))
        reports[self.kme_id] = self.link_bits()
        levels: dict[LinkId, float] = {}
        down: set[str] = set()
        for node, report in reports.items():
            if report is None:
                down.add(node)
                continue
            for lid, bits in report.items():
                levels[lid] = min(levels.get(lid, math.inf), bits)
        self._view = (now, levels, down)
        return levels, down

    def link_bits(self) -> dict[LinkId, float]:
        """Bits of link key this KME holds per link."""
        return {lid: float(bits) for lid, bits in self.store.link_key_bits().items()}

    async def _links_of(self, kme: str) -> dict[LinkId, float] | None:
        try:
            # the client's timeout is Settings.peer_timeout_s: a slow KME is not a down one
            response = await self.client.get(f"{self.topology.kme_urls[kme]}{PEER_PREFIX}/links")
            response.raise_for_status()
            if server_common_name(response) != kme:
                return None
            return {link_id(e["a"], e["b"]): float(e["bits"]) for e in response.json()["links"]}
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def advertised_links(self) -> dict[str, Any]:
        """This KME's answer to ``GET /peer/v1/relay/links``."""
        links = sorted(self.link_bits().items())
        return {"kme": self.kme_id,
                "links": [{"a": a, "b": b, "bits": int(bits)} for (a, b), bits in links]}

    # ----------------------------------------------------------------- receiving side
    async def handle_forward(self, caller_kme: str, msg: Mapping[str, Any]) -> dict[str, Any]:
        """A relay request from the previous hop (``caller_kme``, from its certificate)."""
        path, hop = [str(n) for n in msg["path"]], int(msg["hop"])
        if not 0 < hop < len(path) or path[hop] != self.kme_id or path[hop - 1] != caller_kme:
            raise RelayFailed(f"relay hop {hop} of {path} does not join {caller_kme} to "
                              f"{self.kme_id}", failed_nodes=[caller_kme])
        lid = link_id(caller_kme, self.kme_id)
        ciphertext = b64decode("ciphertext", msg["ciphertext"])
        # The answer need not wait for the pad's use to be durable here: after a crash the
        # chunks would come back at this KME only, and the sender, which burnt them, refuses
        # any later use of them. So these writes are kept out of this request's barrier.
        track_writes()
        try:
            pad = b"".join(self.store.take_link_keys_by_id(lid, [str(c) for c in msg["pad_ids"]]))
        except KeyNotFound as exc:
            raise RelayFailed(f"link {lid[0]}-{lid[1]}: {exc}", failed_links=[lid]) from exc
        if len(pad) < len(ciphertext):
            raise RelayFailed(f"pad of {len(pad)} bytes for {len(ciphertext)} bytes",
                              failed_links=[lid])
        plaintext = xor_bytes(ciphertext, pad[: len(ciphertext)])
        keys = [(str(k["key_ID"]), int(k["size"])) for k in msg["keys"]]
        share_index, share_count = int(msg["share_index"]), int(msg["share_count"])
        relay_id = str(msg["relay_id"])
        if hop == len(path) - 1:
            return await self._complete(relay_id, path, share_index, share_count, keys,
                                        plaintext, msg)
        self.record(relay_id, "trusted", path, share_index, share_count, keys)
        return await self._send(relay_id, path, hop + 1, share_index, share_count, keys,
                                msg["initiator_sae_id"], msg["target_sae_ids"], plaintext)

    async def _complete(self, relay_id: str, path: list[str], share_index: int,
                        share_count: int, keys: list[tuple[str, int]], plaintext: bytes,
                        msg: Mapping[str, Any]) -> dict[str, Any]:
        """Destination: keep the share; with all shares, store the key (completion)."""
        self._expire()
        pending = self._pending.setdefault(relay_id, _Pending(
            path[0], [k for k, _ in keys], [s for _, s in keys], share_count))
        if (pending.source != path[0] or pending.share_count != share_count
                or not 0 <= share_index < share_count or share_index in pending.shares
                or sum(pending.sizes) != 8 * len(plaintext)):
            raise RelayFailed(f"share {share_index} of relay {relay_id} does not fit")
        pending.shares[share_index] = plaintext
        self.record(relay_id, "destination", path, share_index, share_count, keys)
        if len(pending.shares) < pending.share_count:
            return {"relay_id": relay_id, "status": "share received", "kme": self.kme_id}
        del self._pending[relay_id]
        material = bytes(len(plaintext))
        for share in pending.shares.values():
            material = xor_bytes(material, share)
        out, offset = [], 0
        for key_id, size_bits in zip(pending.key_ids, pending.sizes, strict=True):
            out.append((key_id, material[offset: offset + size_bits // 8]))
            offset += size_bits // 8
        master, slaves = str(msg["initiator_sae_id"]), [str(s) for s in msg["target_sae_ids"]]
        local = await self.supply(out, master, slaves)
        self._supplied[relay_id] = (pending.source, pending.key_ids, master, local)
        while len(self._supplied) > self.journal.maxlen:
            del self._supplied[next(iter(self._supplied))]
        return {"relay_id": relay_id, "status": "relayed", "kme": self.kme_id}

    async def handle_ack(self, caller_kme: str, msg: Mapping[str, Any]) -> dict[str, Any]:
        """Key supply notification from the source: the relay is closed."""
        relay_id = str(msg["relay_id"])
        entry = self._supplied.get(relay_id)
        if entry is None or entry[0] != caller_kme:
            raise KeyNotFound(f"no completed relay {relay_id} from {caller_kme} here")
        del self._supplied[relay_id]
        self.record(relay_id, "acknowledged", (caller_kme, self.kme_id), 0, 1,
                    [(k, 0) for k in entry[1]])
        return {"relay_id": relay_id, "ack_status": "acknowledged", "kme": self.kme_id}

    async def supply(self, keys: list[tuple[str, bytes]], master: str,
                     slaves: list[str]) -> list[str]:
        """Store keys durably for this KME's own slave SAEs (returned); pass those of
        another domain on over the border."""
        local = [s for s in slaves if self.topology.sae_kme.get(s) == self.kme_id]
        if local:
            self.store.add_keys(keys, master, local)
            await self.store.barrier()
        remote = [s for s in slaves if s not in local]
        if remote:
            from euroqci.kms.border import send_ext_keys

            await send_ext_keys(self, keys, master, remote)
        return local

    async def aclose(self) -> None:
        """Finish pending acknowledgements, close the KME-to-KME HTTP client."""
        await asyncio.gather(*self._background, return_exceptions=True)
        self.pool.close()
        await self.client.aclose()

    def handle_void(self, caller_kme: str, msg: Mapping[str, Any]) -> dict[str, Any]:
        """The source abandons a relay: drop its shares, delete its keys if stored."""
        relay_id = str(msg["relay_id"])
        pending = self._pending.get(relay_id)
        if pending is not None and pending.source == caller_kme:
            del self._pending[relay_id]
        entry = self._supplied.get(relay_id)
        if entry is not None and entry[0] == caller_kme:
            del self._supplied[relay_id]
            _, key_ids, master, local = entry
            for slave in local:
                try:
                    self.store.take_keys(key_ids, master, slave)
                except KeyNotFound:
                    pass  # already fetched: nothing left to delete
        return {"relay_id": relay_id, "ack_status": "voided"}

    def _expire(self) -> None:
        limit = time.monotonic() - self.pending_ttl_s
        for relay_id in [r for r, p in self._pending.items() if p.created_s < limit]:
            del self._pending[relay_id]

    def record(self, relay_id: str, role: str, path: Sequence[str], share_index: int,
               share_count: int, keys: Sequence[tuple[str, Any]]) -> None:
        """Add an entry to the journal (key IDs only, never key material)."""
        self.journal.append(JournalEntry(relay_id, role, tuple(path), share_index, share_count,
                                         tuple(k for k, _ in keys)))
