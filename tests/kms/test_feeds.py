"""Device feeds: both ends of a link receive the same chunks with the same IDs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter, KeyNotFound, KeyUnavailable
from euroqci.kms.feeds import (
    Etsi014DeviceFeed,
    KeyChunk,
    LinkEngineFeed,
    SimulatedFeed,
    chunk_block_id,
    fiber_rate_bps,
    pump,
)
from euroqci.kms.store import KeyStore


class FakeClock:
    def __init__(self, now_s: float = 1000.0):
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def test_chunk_repr_hides_key():
    chunk = KeyChunk("s", 0, b"\x01secret-bytes")
    assert "secret" not in repr(chunk) and "\\x01" not in repr(chunk)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63), index=st.integers(0, 10_000),
       size=st.integers(1, 128))
def test_two_ends_get_identical_chunks(seed, index, size):
    clock = FakeClock()
    ends = [SimulatedFeed(1e9, seed, chunk_size_bytes=size, epoch_s=0.0, clock=clock)
            for _ in range(2)]
    stream = ends[0].open_connect()
    assert ends[1].open_connect(stream) == stream
    a, b = (end.get_key(stream, index) for end in ends)
    assert a.key == b.key and len(a.key) == size
    assert chunk_block_id(a) == chunk_block_id(b)
    other = SimulatedFeed(1e9, seed + 1, chunk_size_bytes=size, epoch_s=0.0, clock=clock)
    if size >= 8:  # 2**-64 chance of a false failure
        assert other.get_key(other.open_connect(stream), index).key != a.key


def test_rate_limits_production():
    clock = FakeClock(100.0)
    feed = SimulatedFeed(2560.0, 7, chunk_size_bytes=32, epoch_s=100.0, clock=clock)
    stream = feed.open_connect()
    with pytest.raises(KeyUnavailable):
        feed.get_key(stream, 0)
    clock.now_s = 101.0  # 2560 bits = 10 chunks of 256 bits
    assert feed.produced_chunks() == 10
    feed.get_key(stream, 9)
    with pytest.raises(KeyUnavailable):
        feed.get_key(stream, 10)
    assert feed.seconds_until(10) == pytest.approx(0.1)
    feed.close(stream)
    with pytest.raises(KeyNotFound):
        feed.get_key(stream, 0)


def test_bad_parameters_are_named():
    with pytest.raises(InvalidParameter, match="rate_bps"):
        SimulatedFeed(-1.0, 1)
    feed = SimulatedFeed(1.0, 1, initial_chunks=3)
    with pytest.raises(InvalidParameter, match="index"):
        feed.get_key(feed.open_connect(), -1)


def test_pump_fills_both_stores_identically(tmp_path):
    async def scenario() -> list:
        link = ("A", "B")
        stores, tasks = [], []
        for kme in link:
            store = KeyStore(f"sqlite:///{tmp_path / kme}.db", kme, chunk_bytes=32,
                             max_chunks_per_link=1000)
            feed = SimulatedFeed(0.0, 42, chunk_size_bytes=64, initial_chunks=20)
            stream = feed.open_connect()
            tasks.append(asyncio.create_task(
                pump(feed, stream, lambda blocks, s=store: s.add_link_keys(link, blocks))))
            stores.append(store)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if all(s.available_chunks(link) == 40 for s in stores):
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        views = [s.reserve(link, 40, oldest_first=True) for s in stores]
        for s in stores:
            s.close()
        return views

    a, b = asyncio.run(scenario())
    assert len(a.chunk_ids) == 40 and a.chunk_ids == b.chunk_ids and a.material == b.material


def test_fiber_rate_follows_the_physics():
    """Rates from euroqci.physics (asymptotic decoy BB84); key rate falls with distance
    roughly like the channel transmittance: 0.2 dB/km over 50 km is a factor 10."""
    rate_bps = fiber_rate_bps([25.0, 75.0])
    assert rate_bps[0] > rate_bps[1] > 0
    assert 3.0 < rate_bps[0] / rate_bps[1] < 30.0


def test_link_engine_blocks_reach_both_ends_identically(tmp_path):
    """Two blocks of the QKD link engine (10 km, ~1e5-bit blocks) through one
    LinkEngineFeed per end: same chunks, same IDs."""
    from euroqci.physics.link import LinkParameters
    from euroqci.qkd.pipeline import LinkEngine, optimised_config
    from euroqci.qkd.roles import ProtocolConfig

    cfg, _ = optimised_config(LinkParameters.from_fiber(10.0), block_bits=1e5,
                              protocol=ProtocolConfig(frame_bits=4096, reconciliation="cascade"))
    ends = [LinkEngineFeed(), LinkEngineFeed()]
    report = LinkEngine(cfg, seed=5, alice_sink=ends[0], bob_sink=ends[1]).run(
        2 * cfg.block_pulses / cfg.model.rep_rate_hz)
    assert report.keys_identical is True
    streams = [end.open_connect(cfg.stream_id) for end in ends]
    chunks = [[end.get_key(s, i) for i in range(2)] for end, s in zip(ends, streams, strict=True)]
    for a, b in zip(*chunks, strict=True):
        assert a.key == b.key and len(a.key) > 1000
        assert chunk_block_id(a) == chunk_block_id(b)
    with pytest.raises(KeyUnavailable):  # delivered once, then gone from the buffer
        ends[0].get_key(streams[0], 0)


def test_etsi014_device_adapter_against_our_own_kmes_as_devices(tmp_path):
    """Two of our KMEs play the QKD devices of one link (their own ETSI 014 interfaces);
    the KMEs at the link's ends are their SAEs `kme-a` and `kme-b`. Both ends obtain the
    same keys under the same IDs, over mutual TLS."""
    from euroqci.kms.launcher import FeedOptions, running_network
    from euroqci.kms.netdesc import parse_network
    from euroqci.kms.tls import client_context

    devices = parse_network({
        "name": "devices", "kmes": [{"id": "devA"}, {"id": "devB"}],
        "links": [{"a": "devA", "b": "devB", "rate_bps": 1000}],
        "saes": [{"id": "kme-a", "kme": "devA"}, {"id": "kme-b", "kme": "devB"}]})

    async def both_ends(state: dict) -> list[tuple[KeyChunk, KeyChunk]]:
        pki = Path(state["ca"]).parent
        urls = {k["id"]: k["url"] for k in state["kmes"]}
        pairs = []
        async with (
            httpx.AsyncClient(verify=client_context(
                pki / "ca.pem", pki / "sae-kme-a.pem", pki / "sae-kme-a-key.pem")) as ca,
            httpx.AsyncClient(verify=client_context(
                pki / "ca.pem", pki / "sae-kme-b.pem", pki / "sae-kme-b-key.pem")) as cb,
        ):
            master = Etsi014DeviceFeed(ca, urls["devA"], role="master", peer_sae_id="kme-b")
            slave = Etsi014DeviceFeed(cb, urls["devB"], role="slave", peer_sae_id="kme-a")
            stream = master.open_connect()
            slave.open_connect(stream)
            for index in range(3):
                chunk = await master.get_key(stream, index)
                pairs.append((chunk, await slave.get_key(stream, index, chunk.metadata)))
            with pytest.raises(KeyNotFound):  # a device key is delivered once
                await slave.get_key(stream, 0, pairs[0][0].metadata)
            with pytest.raises(InvalidParameter, match="metadata"):
                await slave.get_key(stream, 9)
        return pairs

    with running_network(devices, tmp_path, FeedOptions(0.0, 1 << 14)) as (runner, _):
        pairs = asyncio.run(both_ends(runner.state))
    for master_chunk, slave_chunk in pairs:
        assert master_chunk.key == slave_chunk.key and len(master_chunk.key) == 32
        assert chunk_block_id(master_chunk) == chunk_block_id(slave_chunk)
    assert len({chunk_block_id(m) for m, _ in pairs}) == 3
