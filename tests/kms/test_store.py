"""The durable key store, on SQLite (embedded) and PostgreSQL, through the same code."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import KeyNotFound, KeyUnavailable, Unauthorized
from euroqci.kms.store import IncomingKey, KeyStore, chunk_ids_of_block, xor_bytes
from tests.kms.conftest import postgres_url

LINK = ("A", "B")
CHUNK = 32


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def make_store(request, tmp_path):
    """``make_store(kme) -> KeyStore``; the same KME ID reopens the same data."""
    url = f"sqlite:///{tmp_path}/store.sqlite3" if request.param == "sqlite" else postgres_url()
    tag = uuid.uuid4().hex[:8]  # KMEs of this test only, in a shared PostgreSQL database
    opened: list[KeyStore] = []

    def make(kme: str, max_chunks: int = 10_000) -> KeyStore:
        store = KeyStore(url, f"{kme}-{tag}", chunk_bytes=CHUNK, max_chunks_per_link=max_chunks)
        opened.append(store)
        return store

    yield make
    for store in opened:
        if store._writer.is_alive():
            store.close()
    if request.param == "postgresql":
        from euroqci.kms.store import link_chunks, sae_keys

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for table in (link_chunks, sae_keys):
                conn.execute(table.delete().where(table.c.kme.like(f"%-{tag}")))
        engine.dispose()


def _blocks(n: int, size: int = CHUNK, seed: str = "s"):
    return [(f"{seed}-{i}", bytes((i * 7 + j) % 256 for j in range(size))) for i in range(n)]


def test_both_ends_derive_the_same_chunks_and_keys(make_store):
    async def scenario():
        a, b = make_store("A"), make_store("B")
        blocks = _blocks(4, 3 * CHUNK + 5)  # 3 chunks each, a 5-byte tail dropped at both ends
        assert await a.add_link_keys(LINK, blocks) == await b.add_link_keys(LINK, blocks) == 12
        assert chunk_ids_of_block("s-0", 3) == chunk_ids_of_block("s-0", 3)
        res = a.reserve(LINK, 2, oldest_first=True)
        item = IncomingKey(str(uuid.uuid4()), res.chunk_ids, 40, "alice", ("bob",))
        assert b.accept_keys(LINK, [item]) == [None]
        a.commit(res)
        await a.barrier()
        await b.barrier()
        (key,) = b.take_keys([item.key_id], "alice", "bob")
        assert key.material == res.material[:40]
        assert a.available_chunks(LINK) == b.available_chunks(LINK) == 10

    asyncio.run(scenario())


def test_refeeding_never_revives_used_chunks_and_the_pool_is_capped(make_store):
    async def scenario():
        a = make_store("A", max_chunks=5)
        blocks = _blocks(8)
        assert await a.add_link_keys(LINK, blocks) == 5
        assert a.available_chunks(LINK) == 5
        a.commit(a.reserve(LINK, 5, oldest_first=True))
        await a.barrier()
        assert await a.add_link_keys(LINK, blocks[:5]) == 0
        assert await a.add_link_keys(LINK, blocks[5:]) == 3

    asyncio.run(scenario())


def test_claims_on_missing_or_reused_chunks_are_refused(make_store):
    async def scenario():
        b = make_store("B")
        await b.add_link_keys(LINK, _blocks(4))
        ids = [f"s-{i}" for i in range(4)]
        good = IncomingKey(str(uuid.uuid4()), (ids[0],), CHUNK, "alice", ("bob",))
        twice = IncomingKey(str(uuid.uuid4()), (ids[0],), CHUNK, "alice", ("bob",))
        unknown = IncomingKey(str(uuid.uuid4()), ("nope",), CHUNK, "alice", ("bob",))
        short = IncomingKey(str(uuid.uuid4()), (ids[1],), CHUNK + 1, "alice", ("bob",))
        same_id = IncomingKey(good.key_id, (ids[2],), CHUNK, "alice", ("bob",))
        reasons = b.accept_keys(LINK, [good, twice, unknown, short, same_id])
        assert reasons[0] is None and all(reasons[1:])
        await b.barrier()
        with pytest.raises(KeyNotFound):
            b.take_link_keys_by_id(LINK, [ids[0]])
        assert b.take_link_keys_by_id(LINK, [ids[3]]) == [_blocks(4)[3][1]]

    asyncio.run(scenario())


def test_take_keys_is_all_or_nothing_and_checks_the_slave(make_store):
    async def scenario():
        b = make_store("B")
        k1, k2 = str(uuid.uuid4()), str(uuid.uuid4())
        b.add_keys([(k1, b"\x01" * 16), (k2, b"\x02" * 16)], "alice", ["bob", "carol"])
        with pytest.raises(KeyNotFound):
            b.take_keys([k1, str(uuid.uuid4())], "alice", "bob")
        with pytest.raises(Unauthorized):
            b.take_keys([k1], "alice", "dave")
        with pytest.raises(Unauthorized):
            b.take_keys([k1], "eve", "bob")
        assert [k.material for k in b.take_keys([k1, k2], "alice", "bob")] == [
            b"\x01" * 16,
            b"\x02" * 16,
        ]
        with pytest.raises(KeyNotFound):
            b.take_keys([k1], "alice", "bob")
        assert b.pending_key_count() == 2  # carol's copies
        await b.barrier()

    asyncio.run(scenario())


def test_restart_keeps_stored_keys_and_forgets_delivered_ones(make_store):
    async def scenario():
        b = make_store("B")
        await b.add_link_keys(LINK, _blocks(6))
        kept, gone = str(uuid.uuid4()), str(uuid.uuid4())
        b.add_keys([(kept, b"k" * 32), (gone, b"g" * 32)], "alice", ["bob"])
        b.take_keys([gone], "alice", "bob")
        b.take_link_keys(LINK, 2, sender="B")
        await b.barrier()
        b.close()
        again = make_store("B")
        assert again.available_chunks(LINK) == 4
        assert again.pending_key_count() == 1
        assert again.take_keys([kept], "alice", "bob")[0].material == b"k" * 32

    asyncio.run(scenario())


def test_a_failed_write_stops_the_store(make_store):
    async def scenario():
        b = make_store("B")
        b.add_keys([(str(uuid.uuid4()), b"x" * 8)], "alice", ["bob"])
        await b.barrier()
        dup = str(uuid.uuid4())
        b.add_keys([(dup, b"y" * 8)], "alice", ["bob"])
        b._pending.clear()  # make memory believe the key is new: the database refuses it
        b.add_keys([(dup, b"y" * 8)], "alice", ["bob"])
        with pytest.raises(KeyUnavailable):
            await b.barrier()
        assert b.failed
        with pytest.raises(KeyUnavailable):
            b.take_link_keys(LINK, 1, sender="B")

    asyncio.run(scenario())


def test_key_material_is_never_in_a_repr_or_a_log(make_store, caplog):
    async def scenario():
        a, b = make_store("A"), make_store("B")
        secret = bytes(range(32))
        await a.add_link_keys(LINK, [("blk", secret)])
        await b.add_link_keys(LINK, [("blk", secret)])
        res = a.reserve(LINK, 1, oldest_first=True)
        item = IncomingKey(str(uuid.uuid4()), res.chunk_ids, CHUNK, "alice", ("bob",), secret)
        b.accept_keys(LINK, [item])
        await b.barrier()
        keys = b.take_keys([item.key_id], "alice", "bob")
        text = " ".join(repr(x) for x in (a, b, res, item, keys, keys[0]))
        for form in (repr(secret), secret.hex(), base64.b64encode(secret).decode()):
            assert form not in text and form not in caplog.text

    with caplog.at_level(logging.DEBUG):
        asyncio.run(scenario())


@settings(max_examples=50, deadline=None)
@given(key=st.binary(min_size=1, max_size=96), pad_extra=st.integers(0, 31))
def test_one_time_pad_round_trip(key, pad_extra):
    pad = bytes((i * 31 + 7) % 256 for i in range(len(key) + pad_extra))[: len(key)]
    assert xor_bytes(xor_bytes(key, pad), pad) == key
