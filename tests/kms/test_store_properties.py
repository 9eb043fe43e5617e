"""Property test: two key stores at the ends of one link, driven by random operations.

Keys are issued in both directions (the master end reserves chunks, the slave end accepts
them), delivered, re-asked, and either store restarts, sometimes having lost its own
record of chunks it used (a write that a crash may lose, as ``commit(wait=False)``).
Whatever the order: a delivered key equals the issued one, no chunk serves two keys, a key
is delivered once, and each store's pending keys are exactly the undelivered ones.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from euroqci.errors import KeyNotFound
from euroqci.kms.store import IncomingKey, KeyStore

LINK = ("A", "B")
CHUNK = 16


class TwoEnds(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="kms-prop-")
        self.loop = asyncio.new_event_loop()
        self.stores = {k: self._open(k) for k in LINK}
        self.fed = 0
        self.issued: dict[str, tuple[bytes, str]] = {}  # key ID -> (key, slave end)
        self.delivered: set[str] = set()

    def _open(self, kme: str) -> KeyStore:
        url = f"sqlite:///{os.path.join(self.dir, kme)}.sqlite3"
        return KeyStore(url, kme, chunk_bytes=CHUNK, max_chunks_per_link=10_000)

    def _run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self):
        for store in self.stores.values():
            store.close()
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(n=st.integers(1, 6))
    def feed(self, n):
        blocks = [(f"b{self.fed + i}", os.urandom(2 * CHUNK)) for i in range(n)]
        self.fed += n
        for store in self.stores.values():
            self._run(store.add_link_keys(LINK, blocks))

    @rule(
        master=st.sampled_from(LINK),
        n_chunks=st.integers(1, 3),
        size=st.integers(1, 3 * CHUNK),
        record_lost=st.booleans(),
    )
    def issue(self, master, n_chunks, size, record_lost):
        slave = LINK[1] if master == LINK[0] else LINK[0]
        sender, receiver = self.stores[master], self.stores[slave]
        size = min(size, n_chunks * CHUNK)
        if sender.available_chunks(LINK) < n_chunks:
            return
        res = sender.reserve(LINK, n_chunks, oldest_first=master == LINK[0])
        key_id = str(uuid.uuid4())
        (reason,) = receiver.accept_keys(
            LINK, [IncomingKey(key_id, res.chunk_ids, size, "m", ("s",))]
        )
        self._run(receiver.barrier())
        if not record_lost:
            sender.commit(res)
            self._run(sender.barrier())
        if reason is None:
            self.issued[key_id] = (res.material[:size], slave)

    @precondition(lambda self: set(self.issued) - self.delivered)
    @rule(data=st.data())
    def deliver(self, data):
        key_id = data.draw(st.sampled_from(sorted(set(self.issued) - self.delivered)))
        material, slave = self.issued[key_id]
        store = self.stores[slave]
        (key,) = store.take_keys([key_id], "m", "s")
        self._run(store.barrier())
        assert key.material == material
        self.delivered.add(key_id)
        with pytest.raises(KeyNotFound):
            store.take_keys([key_id], "m", "s")

    @rule(kme=st.sampled_from(LINK))
    def restart(self, kme):
        self.stores[kme].close()
        self.stores[kme] = self._open(kme)

    @invariant()
    def no_chunk_serves_two_keys(self):
        keys = [m for m, _ in self.issued.values()]
        assert len(set(keys)) == len(keys)  # random chunks: equal keys would share chunks

    @invariant()
    def pending_keys_are_the_undelivered_ones(self):
        for kme, store in self.stores.items():
            waiting = [
                k for k, (_, s) in self.issued.items() if s == kme and k not in self.delivered
            ]
            assert store.pending_key_count() == len(waiting)


TwoEnds.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_two_ends = TwoEnds.TestCase
