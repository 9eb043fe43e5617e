"""``euroqci up``: every KME of a described network in one process, on 127.0.0.1.

One asyncio loop runs one uvicorn server per KME (HTTPS, client certificates required,
``kms/tls.py``), each with its own FastAPI app (``create_app``), durable store
(``RUN_DIR/data``), relay service (``kms/relay.py``) and one simulated device feed per QKD
link (``kms/feeds.py``, rate from the link physics). The PKI is created in ``RUN_DIR/pki``
if missing. Once every KME answers over mutual TLS, ``RUN_DIR/network-state.json`` is
written::

    {"kmes": [{"id": "A", "url": "https://127.0.0.1:PORT"}, ...],
     "saes": [{"id": "alice", "kme": "A", "cert": PATH, "key": PATH}, ...],
     "ca": PATH}

All paths are absolute. :class:`NetworkRunner` is the library face (tests drive it in a
thread with :func:`running_network`); the CLI waits for SIGINT/SIGTERM and stops cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from euroqci.errors import ScenarioError, check_range
from euroqci.kms.feeds import SimulatedFeed, fiber_rate_bps, pump
from euroqci.kms.netdesc import NetworkDescription
from euroqci.kms.relay import Relay, RelayTopology

STATE_FILE = "network-state.json"
#: the simulated feeds produce blocks of this size (the store cuts them into chunks)
FEED_BLOCK_BYTES = 1024


@dataclass(frozen=True)
class FeedOptions:
    """How the simulated link feeds run: ``max_rate_bps`` caps a link's key rate (one
    machine cannot store tens of Mbit/s per link end), ``initial_key_bits`` is the key each
    link holds at start (as if it had been running)."""

    max_rate_bps: float = 200_000.0
    initial_key_bits: int = 1 << 20

    def __post_init__(self) -> None:
        check_range("max_rate_bps", self.max_rate_bps, low=0.0)
        check_range("initial_key_bits", self.initial_key_bits, low=0)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the launcher (several share one loop)."""

    def capture_signals(self):  # noqa: D102 - uvicorn API
        return contextlib.nullcontext()


@dataclass
class _Kme:
    id: str
    url: str
    sock: socket.socket
    app: Any
    server: _Server
    task: asyncio.Task | None = None


def link_rates_bps(desc: NetworkDescription) -> dict[tuple[str, str], float]:
    """Secret key rate of every link: ``rate_bps`` as given, or from ``length_km`` with
    :func:`~euroqci.kms.feeds.fiber_rate_bps` (one vectorised physics call)."""
    rates = {link.id: link.rate_bps for link in desc.links if link.rate_bps is not None}
    by_length = [link for link in desc.links if link.rate_bps is None]
    if by_length:
        computed = fiber_rate_bps([link.length_km for link in by_length])
        rates.update({link.id: float(r) for link, r in zip(by_length, computed, strict=True)})
    return rates


class NetworkRunner:
    """Start, inspect and stop the KMEs of ``desc`` inside the running event loop."""

    def __init__(
        self,
        desc: NetworkDescription,
        run_dir: str | Path,
        feeds: FeedOptions = FeedOptions(),
        log_level: str = "warning",
    ):
        self.desc = desc
        self.run_dir = Path(run_dir).resolve()
        self.feeds = feeds
        self.log_level = log_level
        self.kmes: dict[str, _Kme] = {}
        self.state: dict[str, Any] = {}
        # set once a link end's store holds the feed's initial key (one event per link end)
        self._initial_loaded: list[asyncio.Event] = []

    async def start(self, ready_timeout_s: float = 30.0) -> dict[str, Any]:
        """Start every KME, wait until each answers, write and return the state."""
        from euroqci.kms.pki import init_pki

        self.run_dir.mkdir(parents=True, exist_ok=True)
        pki = await asyncio.to_thread(
            init_pki,
            self.run_dir / "pki",
            [k.id for k in self.desc.kmes],
            [(s.id, s.kme) for s in self.desc.saes],
        )
        self._pki = {
            name: (files.cert.resolve(), files.key.resolve()) for name, files in pki.items()
        }
        socks = {k.id: _bind(k.port) for k in self.desc.kmes}
        urls = {kid: f"https://127.0.0.1:{s.getsockname()[1]}" for kid, s in socks.items()}
        rates = link_rates_bps(self.desc)
        epoch_s = time.time()
        for spec in self.desc.kmes:
            self.kmes[spec.id] = self._build(spec.id, socks[spec.id], urls, rates, epoch_s)
        for kme in self.kmes.values():
            kme.task = asyncio.create_task(kme.server.serve(sockets=[kme.sock]))
        await self._wait_ready(ready_timeout_s)
        try:  # the state file promises usable KMEs: their stores hold the initial key
            await asyncio.wait_for(
                asyncio.gather(*(e.wait() for e in self._initial_loaded)), ready_timeout_s
            )
        except TimeoutError:
            raise ScenarioError(
                f"the link stores did not receive their initial key in {ready_timeout_s} s"
            ) from None
        ca = self._pki["ca"][0]
        self.state = {
            "kmes": [{"id": k, "url": urls[k]} for k in self.kmes],
            "saes": [
                {
                    "id": s.id,
                    "kme": s.kme,
                    "cert": str(self._pki[f"sae:{s.id}"][0]),
                    "key": str(self._pki[f"sae:{s.id}"][1]),
                }
                for s in self.desc.saes
            ],
            "ca": str(ca),
        }
        path = self.run_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(path)
        return self.state

    def _build(
        self,
        kme_id: str,
        sock: socket.socket,
        urls: dict[str, str],
        rates: dict[tuple[str, str], float],
        epoch_s: float,
    ) -> _Kme:
        from euroqci.kms.app import create_app, uvicorn_config
        from euroqci.kms.settings import Settings
        from euroqci.kms.tls import client_context

        cert, key = self._pki[f"kme:{kme_id}"]
        ca = self._pki["ca"][0]
        settings = Settings(
            kme_id=kme_id,
            host="127.0.0.1",
            port=sock.getsockname()[1],
            tls_cert_file=cert,
            tls_key_file=key,
            tls_ca_file=ca,
            data_dir=self.run_dir / "data",
            kmes=urls,
            links=[link.id for link in self.desc.links],
            saes={s.id: s.kme for s in self.desc.saes},
            key_size_bits=self.desc.key_size_bits,
            log_level=self.log_level,
        )
        (self.run_dir / "data").mkdir(exist_ok=True)
        domains, borders = self.desc.kme_domain(), self.desc.borders

        def relay_factory(ctx) -> Relay:
            client = httpx.AsyncClient(
                verify=client_context(ca, cert, key), timeout=ctx.settings.peer_timeout_s
            )
            return Relay(ctx, RelayTopology.of(ctx, domains, borders), client)

        services = [
            self._feed_service(link, rates[link.id], epoch_s)
            for link in self.desc.links
            if kme_id in link.id
        ]
        app = create_app(
            settings, relay_factory=relay_factory, services=[*services, _close_relay_on_exit]
        )
        # idle keep-alive peers never answer TLS close_notify: bound the graceful stop
        config = uvicorn_config(app, settings, timeout_graceful_shutdown=1)
        return _Kme(kme_id, urls[kme_id], sock, app, _Server(config))

    def _feed_service(self, link, rate_bps: float, epoch_s: float):
        block_bits = 8 * FEED_BLOCK_BYTES
        seed = link.seed(self.desc.name)
        initial = math.ceil(self.feeds.initial_key_bits / block_bits)
        rate = min(rate_bps, self.feeds.max_rate_bps)
        loaded = asyncio.Event()
        self._initial_loaded.append(loaded)

        async def run(ctx) -> None:
            stored = 0

            async def store_blocks(blocks) -> None:
                nonlocal stored
                await ctx.store.add_link_keys(link.id, blocks)
                stored += len(blocks)
                if stored >= initial:
                    loaded.set()

            if initial == 0:
                loaded.set()
            feed = SimulatedFeed(
                rate,
                seed,
                chunk_size_bytes=FEED_BLOCK_BYTES,
                epoch_s=epoch_s,
                initial_chunks=initial,
            )
            stream = feed.open_connect()
            try:
                await pump(feed, stream, store_blocks)
            finally:
                feed.close(stream)

        return run

    async def _wait_ready(self, timeout_s: float) -> None:
        """Every KME answers an mTLS request (any HTTP status) within ``timeout_s``."""
        from euroqci.kms.tls import client_context

        ids = list(self.kmes)
        deadline = time.monotonic() + timeout_s
        for kme_id in ids:
            caller = next((i for i in ids if i != kme_id), kme_id)
            cert, key = self._pki[f"kme:{caller}"]
            async with httpx.AsyncClient(
                verify=client_context(self._pki["ca"][0], cert, key), timeout=2.0
            ) as client:
                while True:
                    task = self.kmes[kme_id].task
                    if task is not None and task.done():
                        raise ScenarioError(
                            f"KME {kme_id} stopped while starting: {task.exception()!r}"
                        )
                    try:
                        await client.get(f"{self.kmes[kme_id].url}/peer/v1/relay/links")
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline:
                            raise ScenarioError(
                                f"KME {kme_id} did not answer in {timeout_s} s"
                            ) from None
                        await asyncio.sleep(0.05)

    def relay_of(self, kme_id: str) -> Relay:
        """The relay service of a running KME (inspection by tests and tools)."""
        return self.kmes[kme_id].app.state.relay

    async def stop_kme(self, kme_id: str) -> None:
        """Stop one KME (a node failure); the others keep running."""
        kme = self.kmes[kme_id]
        kme.server.should_exit = True
        if kme.task is not None:
            await kme.task

    async def stop(self) -> None:
        """Stop every KME cleanly (in-flight requests finish, stores are closed)."""
        for kme in self.kmes.values():  # no idle KME-to-KME connection holds a server up
            relay = getattr(kme.app.state, "relay", None)
            if relay is not None:
                relay.pool.close()
                await relay.client.aclose()
        for kme in self.kmes.values():
            kme.server.should_exit = True
        await asyncio.gather(
            *(k.task for k in self.kmes.values() if k.task is not None), return_exceptions=True
        )


async def _close_relay_on_exit(ctx) -> None:
    """A service that only closes the relay's HTTP client when the KME stops."""
    try:
        await asyncio.Event().wait()
    finally:
        await ctx.relay.aclose()


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise ScenarioError(f"cannot bind 127.0.0.1:{port}: {exc}") from exc
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def running_network(
    desc: NetworkDescription, run_dir: str | Path, feeds: FeedOptions = FeedOptions()
) -> Iterator[tuple[NetworkRunner, Any]]:
    """Run the network in a background thread; yield ``(runner, loop)``.

    Use ``asyncio.run_coroutine_threadsafe(coro, loop)`` to act on it (e.g. ``stop_kme``).
    """
    loop = asyncio.new_event_loop()
    runner = NetworkRunner(desc, run_dir, feeds)
    thread = threading.Thread(target=loop.run_forever, name="euroqci-up", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(runner.start(), loop).result(timeout=60)
        yield runner, loop
    finally:
        asyncio.run_coroutine_threadsafe(runner.stop(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
