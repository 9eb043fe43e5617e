"""Fixtures of the KMS tests: a throwaway PKI and KMEs served by uvicorn over mTLS in threads.

The test network (direct links only; the trusted-node version is in test_relay.py):

    alice, eve @ A ---- B @ bob, carol
                 \\
                  C @ dave
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from euroqci.kms.app import create_app, uvicorn_config
from euroqci.kms.pki import init_pki
from euroqci.kms.registry import KmeContext
from euroqci.kms.settings import Settings
from euroqci.kms.tls import client_context

KMES = ("A", "B", "C")
LINKS = (("A", "B"), ("A", "C"))
SAES = {"alice": "A", "eve": "A", "bob": "B", "carol": "B", "dave": "C"}
BLOCKS_PER_LINK = 400  # blocks of 32 bytes = chunk size


def link_blocks(link: tuple[str, str], n: int = BLOCKS_PER_LINK, seed: int = 7):
    """The same (block_id, bytes) at both ends of ``link``, as a device feed would give."""
    rng = random.Random(f"{seed}/{link}")
    return [(f"{link[0]}{link[1]}-{seed}-{i}", rng.randbytes(32)) for i in range(n)]


def seed_links(n: int = BLOCKS_PER_LINK, seed: int = 7):
    """A service that stores link key blocks at start-up (stands in for a device feed)."""

    async def service(ctx: KmeContext) -> None:
        for a, b in ctx.network.links:
            if ctx.settings.kme_id in (a, b):
                await ctx.store.add_link_keys((a, b), link_blocks((a, b), n, seed))

    return service


def postgres_url() -> str:
    """EUROQCI_TEST_POSTGRES_URL, or skip (with the reason) when unset or unreachable."""
    import sqlalchemy as sa

    url = os.environ.get("EUROQCI_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("EUROQCI_TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it)")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at EUROQCI_TEST_POSTGRES_URL unreachable: {type(exc).__name__}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_schema_url():
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards."""
    import sqlalchemy as sa

    url = postgres_url()
    schema = f"kms_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    init_pki(directory, list(KMES), [(s, k) for s, k in SAES.items()])
    return directory


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class KmeServer:
    """One KME served by uvicorn in a thread (started and stopped by :func:`run_kmes`)."""

    settings: Settings
    url: str
    server: object = None
    thread: threading.Thread | None = None

    @property
    def ctx(self) -> KmeContext:
        return self.server.config.app.state.ctx  # type: ignore[attr-defined]


def kme_settings(pki: Path, kme: str, urls: dict[str, str], data_dir: Path, **extra) -> Settings:
    return Settings(
        kme_id=kme,
        port=int(urls[kme].rsplit(":", 1)[1]),
        tls_cert_file=pki / f"kme-{kme}.pem",
        tls_key_file=pki / f"kme-{kme}-key.pem",
        tls_ca_file=pki / "ca.pem",
        data_dir=data_dir,
        kmes=urls,
        links=list(LINKS),
        saes=SAES,
        **extra,
    )


def start_kmes(pki: Path, data_dir: Path, services=None, **extra) -> dict[str, KmeServer]:
    """Start KMEs A, B, C (uvicorn threads on ephemeral ports); stop with :func:`stop_kmes`."""
    import uvicorn

    services = (seed_links(),) if services is None else services
    socks = {k: bound_socket() for k in KMES}
    urls = {k: f"https://127.0.0.1:{s.getsockname()[1]}" for k, s in socks.items()}
    out = {}
    for kme in KMES:
        settings = kme_settings(pki, kme, urls, data_dir, **extra)
        server = uvicorn.Server(uvicorn_config(create_app(settings, services=services), settings))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [socks[kme]]}, daemon=True)
        thread.start()
        out[kme] = KmeServer(settings, urls[kme], server, thread)
    deadline = time.monotonic() + 20
    while not all(s.server.started for s in out.values()):  # type: ignore[attr-defined]
        if time.monotonic() > deadline or not all(s.thread.is_alive() for s in out.values()):
            stop_kmes(out)
            raise RuntimeError("KMEs did not start")
        time.sleep(0.02)
    return out


def stop_kmes(servers: dict[str, KmeServer]) -> None:
    for s in servers.values():  # one at a time: a TLS close needs the peer's loop to answer
        s.server.should_exit = True  # type: ignore[attr-defined]
        s.thread.join(timeout=40)


@pytest.fixture
def run_kmes(pki, tmp_path):
    """``run_kmes(**settings) -> {kme_id: KmeServer}``: start A, B, C; stop them at teardown."""
    started: list[dict[str, KmeServer]] = []

    def start(services=None, **extra) -> dict[str, KmeServer]:
        started.append(start_kmes(pki, tmp_path, services, **extra))
        return started[-1]

    yield start
    for servers in started:
        stop_kmes(servers)


def sae_client(pki: Path, sae: str, base_url: str) -> httpx.Client:
    """An mTLS httpx client for SAE ``sae`` (keep-alive)."""
    ctx = client_context(pki / "ca.pem", pki / f"sae-{sae}.pem", pki / f"sae-{sae}-key.pem")
    return httpx.Client(base_url=base_url, verify=ctx, timeout=10)


@pytest.fixture
def clients(pki) -> Iterator:
    made: list[httpx.Client] = []

    def make(sae: str, server: KmeServer) -> httpx.Client:
        made.append(sae_client(pki, sae, server.url))
        return made[-1]

    yield make
    for c in made:
        c.close()


def wait_for_keys(client: httpx.Client, slave: str, minimum: int = 1) -> None:
    deadline = time.monotonic() + 10
    while True:
        r = client.get(f"/api/v1/keys/{slave}/status")
        if r.status_code == 200 and r.json()["stored_key_count"] >= minimum:
            return
        assert time.monotonic() < deadline, f"no key stored: {r.text}"
        time.sleep(0.02)
