"""Wegman-Carter stage tags over the in-memory channel: agreement, tampering, key accounting."""

import threading

import numpy as np
import pytest

from euroqci.errors import ChannelError, ProtocolAbort
from euroqci.qkd.authentication import AuthenticatedChannel, KeyPool, stage_cost_bits
from euroqci.qkd.channel import InMemoryChannel


def pair(psk: bytes, timeout_s: float = 5.0):
    a, b = InMemoryChannel.pair(timeout_s)
    return (AuthenticatedChannel(a, KeyPool(psk), "alice"),
            AuthenticatedChannel(b, KeyPool(psk), "bob"))


def run_both(alice_fn, bob_fn):
    errors = {}

    def wrap(name, fn):
        try:
            fn()
        except Exception as exc:  # collected for the assertions
            errors[name] = exc

    t = threading.Thread(target=wrap, args=("alice", alice_fn))
    t.start()
    wrap("bob", bob_fn)
    t.join(10)
    return errors


def test_stage_tags_agree_and_consume_pad_bits():
    psk = np.random.default_rng(0).bytes(128)
    alice, bob = pair(psk)

    def a():
        alice.send("hello", x=np.arange(100))
        assert alice.recv("reply")["y"] == 7
        alice.end_stage("s1")

    def b():
        assert bob.recv("hello")["x"].sum() == 4950
        bob.send("reply", y=7)
        bob.end_stage("s1")

    assert run_both(a, b) == {}
    # 128 bits of hash key + one 128-bit pad per direction
    assert alice.pool.consumed_bits == bob.pool.consumed_bits == 128 + stage_cost_bits()
    assert "available_bits" in repr(alice.pool) and "psk" not in repr(alice)


def test_tampered_message_fails_authentication():
    psk = np.random.default_rng(1).bytes(128)
    a_end, b_end = InMemoryChannel.pair(5.0)
    alice = AuthenticatedChannel(a_end, KeyPool(psk), "alice")
    bob = AuthenticatedChannel(b_end, KeyPool(psk), "bob")
    original = a_end.send_bytes

    def tamper(data: bytes) -> None:  # a man in the middle flips one bit of the payload
        if b"hello" in data:
            data = data[:-1] + bytes([data[-1] ^ 1])
        original(data)

    a_end.send_bytes = tamper
    errors = run_both(lambda: (alice.send("hello", x=b"abc"), alice.end_stage("s")),
                      lambda: (bob.recv("hello"), bob.end_stage("s")))
    assert isinstance(errors.get("alice"), ChannelError)
    assert isinstance(errors.get("bob"), ChannelError)


def test_unexpected_message_kind_is_a_channel_error():
    alice, bob = pair(bytes(64))
    alice.send("one")
    with pytest.raises(ChannelError, match="expected message 'two'"):
        bob.recv("two")


def test_pool_exhaustion_aborts():
    pool = KeyPool(bytes(40))
    pool.take(32)
    with pytest.raises(ProtocolAbort, match="exhausted"):
        pool.take(16)


def test_promised_refills_count_at_once_and_settle_in_order():
    pool = KeyPool(b"ab")
    calls = []
    pool.promise(2, lambda: calls.append(1) or b"cd")
    pool.promise(1, lambda: calls.append(2) or b"e")
    assert pool.available_bits == 40 and calls == []
    assert pool.take(1) == b"a" and calls == []  # no need to settle yet
    assert pool.take(3) == b"bcd" and calls == [1]
    assert pool.take(1) == b"e" and calls == [1, 2]
    pool.promise(2, lambda: b"x")  # a refill that does not deliver what it promised
    with pytest.raises(ProtocolAbort, match="promised"):
        pool.take(2)
