"""Relay accounting: one-time-pad hop charges and a balanced key ledger."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter, KeyUnavailable
from euroqci.network.relay import KeyLedger, hop_charges
from euroqci.network.topology import link_id


def test_hop_charges_one_time_pad():
    assert hop_charges(["A", "T", "B"], 256) == {("A", "T"): 256, ("B", "T"): 256}
    assert hop_charges(["A"], 256) == {}
    with pytest.raises(InvalidParameter):
        hop_charges(["A", "B"], -1)


def test_ledger_capacity_relay_and_books():
    led = KeyLedger({("A", "T"): 1000, ("T", "B"): 500})
    assert led.add(("T", "A"), 800) == 800
    assert led.add(("B", "T"), 700) == 500  # 200 discarded: store full
    assert led.can_serve(hop_charges(["A", "T", "B"], 500))
    assert not led.can_serve(hop_charges(["A", "T", "B"], 501))
    led.relay(["A", "T", "B"], 300)
    a, b = led.account(("A", "T")), led.account(("B", "T"))
    assert (a.delivered, a.consumed_by_relay, a.stored) == (300, 0, 500)
    assert (b.delivered, b.consumed_by_relay, b.stored, b.discarded) == (0, 300, 200, 200)
    with pytest.raises(KeyUnavailable):
        led.relay(["A", "T", "B"], 300)
    # all-or-nothing: the failed relay changed nothing
    assert led.account(("A", "T")).stored == 500
    assert led.discard(("A", "T")) == 500
    assert led.max_imbalance() == 0.0
    with pytest.raises(InvalidParameter):
        led.add(("A", "Z"), 1)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 3), st.floats(0, 5000)), max_size=60))
def test_conservation_under_any_sequence(ops):
    nodes = ["A", "T1", "T2", "B"]
    caps = {link_id(u, v): 3000.0 for u, v in zip(nodes, nodes[1:], strict=False)}
    led = KeyLedger(caps, default_capacity_bits=math.inf)
    links = list(caps)
    for op, x in ops:
        if op == 0:
            led.add(links[int(x) % 3], x)
        elif op == 1:
            path = nodes[: 2 + int(x) % 3]
            if led.can_serve(hop_charges(path, x / 10)):
                led.relay(path, x / 10)
        elif op == 2:
            led.discard(links[int(x) % 3], x / 3)
        elif led.can_serve({links[0]: x / 50}):
            led.consume({links[0]: x / 50}, delivered=[links[0]])
    assert led.max_imbalance() < 1e-9
    for lid in links:
        acc = led.account(lid)
        assert 0 <= acc.stored <= acc.capacity
