"""The shared reconciliation pieces: binary entropy, efficiency, method choice, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from euroqci.errors import InvalidParameter
from euroqci.qkd.ldpc import adapt_code
from euroqci.qkd.reconciliation import (
    LATENCY_RTT_S,
    LDPC_LATENCY_QBER,
    LDPC_MAX_QBER,
    LDPC_QBER_THRESHOLD,
    ReconciliationResult,
    as_frames,
    binary_entropy,
    choose_method,
)


def test_binary_entropy_known_values():
    assert binary_entropy(0.5) == pytest.approx(1.0)
    assert binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    # h(0.11) = 0.4999 (the BB84 one-way limit: 1 - 2 h(Q) = 0 at Q ~ 11 %)
    assert binary_entropy(0.11) == pytest.approx(0.49992, abs=1e-4)
    assert np.allclose(binary_entropy(np.array([0.01, 0.99])), 0.080793, atol=1e-6)


def test_efficiency_is_leakage_over_shannon_limit():
    res = ReconciliationResult(
        method="x", corrected=np.zeros((2, 1000), np.uint8), converged=np.ones(2, bool),
        leaked_bits_per_frame=np.array([100, 120]), errors_corrected_per_frame=np.array([10, 10]),
        round_trips=1, frame_length=1000)
    assert res.leaked_bits == 220
    assert res.efficiency == pytest.approx(220 / (2 * 1000 * binary_entropy(0.01)))
    assert "corrected=" not in repr(res)  # key material never in a repr


def test_choose_method_and_its_range():
    assert choose_method(0.01) == "cascade"
    assert choose_method(LDPC_QBER_THRESHOLD) == "ldpc"
    assert choose_method(0.08) == "ldpc"
    assert choose_method(0.10) == "cascade"
    # the LDPC range is one the rate-adaptive codes can actually serve
    for q in (LDPC_QBER_THRESHOLD, LDPC_MAX_QBER):
        adapt_code(q, seed=0)
    for bad in (-0.1, 0.5, 0.6, float("nan")):
        with pytest.raises(InvalidParameter):
            choose_method(bad)


def test_a_slow_classical_channel_moves_ldpc_down():
    """Over >= LATENCY_RTT_S of round-trip time, Cascade's ~1200-1700 round trips per block
    cost more than LDPC's decoding from 3 % (docs/benchmarks.md, bench_link_latency)."""
    assert choose_method(0.04) == "cascade"
    assert choose_method(0.04, rtt_s=LATENCY_RTT_S) == "ldpc"
    assert choose_method(LDPC_LATENCY_QBER, rtt_s=4e-3) == "ldpc"
    # below 3 %: LDPC would need the 10^6-symbol codes (frames of 900 000 key bits, f ~1.09)
    assert choose_method(0.02, rtt_s=4e-3) == "cascade"
    assert choose_method(0.10, rtt_s=4e-3) == "cascade"
    adapt_code(LDPC_LATENCY_QBER, seed=0)
    with pytest.raises(InvalidParameter, match="rtt_s"):
        choose_method(0.04, rtt_s=-1.0)


def test_as_frames_validates():
    assert as_frames(np.array([0, 1, 1]), "x").shape == (1, 3)
    assert as_frames(np.array([[True, False]]), "x").dtype == np.uint8
    for bad in (np.zeros((0,)), np.array([0, 2]), np.array([-1, 0]), np.zeros((1, 1, 1)),
                np.array([0.5, 1.0])):
        with pytest.raises(InvalidParameter):
            as_frames(bad, "x")
