"""Cascade: correctness, exact leakage accounting, and the published efficiency figures.

Reference figures: Martinez-Mateo, Pacher, Peev, Ciurana & Martin, "Demystifying the
information reconciliation protocol Cascade", Quantum Inf. Comput. 15, 453 (2015),
Figs. 1, 8-11 (n = 10^4, Bernoulli errors); values read off the figures (+-0.005 in f).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter
from euroqci.qkd.cascade import (
    CascadeOracle,
    ParityRequest,
    cascade_block_sizes,
    cascade_in_memory,
    cascade_permutations,
    cascade_reconcile,
    pack_parities,
    unpack_parities,
)


def _frames(rng, n_frames, n, qber):
    alice = rng.integers(0, 2, (n_frames, n), dtype=np.uint8)
    bob = alice ^ (rng.random((n_frames, n)) < qber).astype(np.uint8)
    return alice, bob


class CountingOracle:
    def __init__(self, oracle):
        self.oracle = oracle
        self.calls = 0
        self.questions = 0

    def __call__(self, req):
        self.calls += 1
        self.questions += len(req)
        return self.oracle(req)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 600), n_frames=st.integers(1, 4), qber=st.floats(0.0, 0.2),
       variant=st.sampled_from(["optimized", "pow2", "original"]), seed=st.integers(0, 2**32))
def test_cascade_never_adds_errors_and_counts_leakage_exactly(n, n_frames, qber, variant, seed):
    rng = np.random.default_rng(seed)
    alice, bob = _frames(rng, n_frames, n, qber)
    sizes = cascade_block_sizes(n, max(qber, 0.01), variant)
    oracle = CountingOracle(CascadeOracle(alice, cascade_permutations(n, sizes.size, seed)))
    res = cascade_reconcile(bob, max(qber, 0.01), oracle, seed, variant=variant)
    flipped = res.corrected != bob
    # every flip corrects a real error: a bit is flipped only when its one-bit block has
    # odd error parity, so Cascade can leave errors but never creates one
    assert not np.any(flipped & (alice == bob))
    assert np.array_equal(res.errors_corrected_per_frame, flipped.sum(axis=1))
    assert res.leaked_bits == oracle.questions  # one bit per parity answered
    assert res.round_trips == oracle.calls
    assert np.array_equal(res.converged, res.leaked_bits_per_frame < n)


def test_cascade_corrects_all_frames_and_serialises():
    rng = np.random.default_rng(7)
    alice, bob = _frames(rng, 40, 2000, 0.03)
    seed = 99
    n_passes = cascade_block_sizes(2000, 0.03).size
    oracle = CascadeOracle(alice, cascade_permutations(2000, n_passes, seed))

    def over_the_wire(req: ParityRequest) -> np.ndarray:
        back = ParityRequest.from_bytes(req.to_bytes())
        answers = oracle(back)
        return unpack_parities(pack_parities(answers), len(back))

    wire = cascade_reconcile(bob, 0.03, over_the_wire, seed)
    direct = cascade_reconcile(bob, 0.03, CascadeOracle.from_seed(alice, seed), seed)
    assert np.array_equal(wire.corrected, alice)
    assert np.array_equal(wire.leaked_bits_per_frame, direct.leaked_bits_per_frame)
    assert wire.round_trips == direct.round_trips
    # 1-D input gives 1-D output
    one = cascade_in_memory(alice[0], bob[0], 0.03, rng)
    assert one.corrected.shape == (2000,) and np.array_equal(one.corrected, alice[0])


# (QBER, Demystifying opt. (4) f [Figs. 8/11], original f [Fig. 1]); the original row of
# cascade-cpp (10^4 runs) gives 1.143 / 1.159 / 1.185, i.e. the figure plus ~0.01.
PAPER = [(0.01, 1.068, 1.13), (0.02, 1.065, 1.15), (0.05, 1.077, 1.18)]


@pytest.mark.parametrize(("qber", "f_opt4", "f_orig"), PAPER)
def test_efficiency_matches_demystifying_cascade(qber, f_opt4, f_orig):
    rng = np.random.default_rng(int(qber * 1000))
    alice, bob = _frames(rng, 150, 10_000, qber)
    # opt. (4) run sequentially (one top-level search at a time), as the paper's protocol
    opt4 = cascade_in_memory(alice, bob, qber, rng, max_parallel=1)
    orig = cascade_in_memory(alice, bob, qber, rng, variant="original")
    best = cascade_in_memory(alice, bob, qber, rng, variant="pow2")
    # Tolerance: the figure reading (+-0.005) plus 2 standard errors of the mean over 150
    # frames (per-frame f has sd ~0.03-0.05 -> ~0.008), rounded up to 0.015.
    assert abs(opt4.efficiency - f_opt4) <= 0.015
    assert f_orig - 0.015 <= orig.efficiency <= f_orig + 0.02
    # the power-of-two k1 must do at least as well as opt. (4), and meet the issue 3
    # target f <= 1.08 with the same statistical margin; so must the default (max_parallel
    # 2), within the margin
    assert best.efficiency <= min(f_opt4 + 0.015, 1.08)
    default = cascade_in_memory(alice, bob, qber, rng)
    assert default.efficiency <= 1.085
    # Fig. 10: FER of opt.(3)-type Cascade ~3e-5, original ~1e-4..4e-4 at n = 10^4; Fig.
    # 12: ~1e-4 after 14 passes. In 150 frames at most one failure (two or more: P < 1e-3).
    for res in (opt4, orig, best, default):
        assert np.sum(np.any(res.corrected != alice, axis=1)) <= 1


def test_round_trips_of_original_cascade_match_fig_9():
    # Fig. 9: original Cascade needs 40-49 channel uses at n = 10^4, Q = 1-4 %. One frame
    # per batch so the count is per frame; median over 9 frames, tolerance +-12 because our
    # Bob opens all four passes' top-level parities in the first round trip (saving 3) and
    # the spread between frames is ~+-10.
    rng = np.random.default_rng(3)
    trips = []
    for _ in range(9):
        alice, bob = _frames(rng, 1, 10_000, 0.02)
        trips.append(cascade_in_memory(alice, bob, 0.02, rng, variant="original").round_trips)
    assert 33 <= np.median(trips) <= 61


@pytest.mark.slow
@pytest.mark.parametrize("qber", [0.01, 0.02, 0.05])
def test_frame_error_rate_large_sample(qber):
    # Issue 3: FER <= 1e-4 at n = 10^4 (Demystifying Fig. 12: ~1e-4 after 14 passes,
    # ~1e-5 after 17). 20 000 frames: expect ~0-2 failures; allow 6 (FER <= 3e-4).
    rng = np.random.default_rng(11)
    failures = 0
    for _ in range(20):
        alice, bob = _frames(rng, 1000, 10_000, qber)
        res = cascade_in_memory(alice, bob, qber, rng)
        failures += int(np.any(res.corrected != alice, axis=1).sum())
        assert res.efficiency <= 1.085
    assert failures <= 6


def test_request_wire_form_is_compact_when_it_fits():
    small = ParityRequest.from_arrays([0, 65535], [0, 15], [0, 100], [65535, 200])
    wide = ParityRequest.from_arrays([0, 3], [0, 15], [0, 70_000], [65536, 140_000])
    assert len(small.to_bytes()) == 1 + 2 * 7 and len(wide.to_bytes()) == 1 + 2 * 13
    for req in (small, wide, ParityRequest.from_arrays([], [], [], [])):
        assert np.array_equal(ParityRequest.from_bytes(req.to_bytes()).rows, req.rows)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 15, 16, 17, 64, 65, 130])
def test_oracle_answers_every_block_as_a_direct_sum(n):
    """Alice's answers vs summing the shuffled bits: first the whole frame and its halves
    (from packed words, before any prefix exists), then every (start, end) of every pass
    and frame (bit-packed prefix parities, built on demand) and the halves again; lengths
    around the byte and word boundaries of the packing."""
    rng = np.random.default_rng(n)
    bits = rng.integers(0, 2, (3, n), dtype=np.uint8)
    perm = cascade_permutations(n, 4, n)
    half = -(-n // 2)
    tops = np.array([(f, q, lo, hi) for f in range(3) for q in range(4)
                     for lo, hi in ((0, n), (0, half), (half, n)) if lo < hi])
    rows = np.array([(f, q, lo, hi) for f in range(3) for q in range(4) for lo in range(n)
                     for hi in range(lo + 1, n + 1)])
    oracle = CascadeOracle(bits, perm)
    for request in (tops, rows, tops):
        expected = [int(bits[f, perm[q, lo:hi]].sum()) & 1 for f, q, lo, hi in request]
        assert oracle(ParityRequest(request)).tolist() == expected


def test_bad_input_is_rejected():
    rng = np.random.default_rng(0)
    alice, bob = _frames(rng, 2, 100, 0.02)
    with pytest.raises(InvalidParameter):
        cascade_in_memory(alice, bob[:, :50], 0.02, rng)
    with pytest.raises(InvalidParameter):
        cascade_in_memory(alice[:, :0], bob[:, :0], 0.02, rng)
    with pytest.raises(InvalidParameter):
        cascade_in_memory(alice, bob, 0.6, rng)
    with pytest.raises(InvalidParameter):
        cascade_in_memory(alice, bob, 0.02, rng, variant="nope")
    with pytest.raises(InvalidParameter):
        cascade_in_memory(alice, bob + 2, 0.02, rng)
    with pytest.raises(InvalidParameter):
        cascade_reconcile(bob, 0.02, lambda req: np.zeros(len(req) + 1, np.uint8), 1)
    oracle = CascadeOracle(alice, cascade_permutations(100, 4, 1))
    with pytest.raises(InvalidParameter):
        oracle(ParityRequest.from_arrays([5], [0], [0], [10]))
    for bad in (b"", b"\x00" * 14, b"\x02" + b"\x00" * 7, b"\x01" + b"\x00" * 7):
        with pytest.raises(InvalidParameter, match="parity request"):
            ParityRequest.from_bytes(bad)
    assert "alice" not in repr(oracle).lower() or "frames=" in repr(oracle)


def test_far_too_low_qber_estimate_is_flagged():
    # A true error rate of 60 % with an estimate of 2 %: Cascade keeps asking until it has
    # disclosed more parities than the frame has bits; the frame is flagged (no secret can
    # be left) instead of being passed on as a success.
    rng = np.random.default_rng(5)
    alice, bob = _frames(rng, 3, 2000, 0.6)
    res = cascade_in_memory(alice, bob, 0.02, rng)
    assert not res.converged.any()
    assert (res.leaked_bits_per_frame >= 2000).all()
    assert not np.any((res.corrected != bob) & (alice == bob))


def test_same_result_without_numba():
    code = (
        "import numpy as np\n"
        "from euroqci.qkd._jit import JIT_ENABLED\n"
        "from euroqci.qkd.cascade import cascade_in_memory\n"
        "r = np.random.default_rng(4)\n"
        "a = r.integers(0, 2, (3, 300), dtype=np.uint8)\n"
        "b = a ^ (r.random((3, 300)) < 0.05).astype(np.uint8)\n"
        "res = cascade_in_memory(a, b, 0.05, np.random.default_rng(1))\n"
        "print(JIT_ENABLED, res.leaked_bits, res.round_trips, int(res.corrected.sum()))\n"
    )
    outs = {}
    for flag in ("0", "1"):
        env = dict(os.environ, EUROQCI_DISABLE_JIT=flag)
        outs[flag] = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                    capture_output=True, text=True).stdout.split()
    assert outs["0"][0] == "True" and outs["1"][0] == "False"
    assert outs["0"][1:] == outs["1"][1:]
