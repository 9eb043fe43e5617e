"""The fixed-point belief-propagation kernel (``_ldpc_fixed.decode_fixed``) and its int16
vector primitives (``_simd16``): box-plus accuracy, the same decoding as the float32
kernel, lanes independent, row-block lanes identical to frame lanes, stopping rules,
saturation, identical results without numba."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.qkd import _ldpc_fixed as fx
from euroqci.qkd import _ldpc_kernels as kern
from euroqci.qkd import _simd16 as v16
from euroqci.qkd import ldpc
from euroqci.qkd._jit import JIT_ENABLED, njit
from euroqci.qkd.ldpc_codes import build_ldpc_code
from tests.qkd.ldpc_frames import bsc_frames, decode_without_jit, lift_code

MAX_ITER, PATIENCE = 100, 8


def _frames(code, n_frames, qber, seed, punctured=0):
    """int16 LLRs in units of 1/UNIT: ``ldpc_frames.bsc_frames``."""
    return bsc_frames(code, n_frames, qber, seed, punctured, unit=fx.UNIT)


def _decode(code, llr, syn, max_iter=MAX_ITER, patience=PATIENCE):
    return fx.decode_fixed(llr, syn, code.check_ptr, code.check_vars, max_iter, patience)


@pytest.fixture(scope="module")
def code():
    # rate 0.6 of ISIT 2009 Table I: check degrees 10-19, variable degrees 2-71
    return build_ldpc_code(2000, 0.6)


def test_correction_table_is_ln_1_plus_e_minus_x():
    table = fx.correction_table()
    x = (np.arange(v16.TABLE_SIZE) + 0.5) / 8  # bin centres, in nats
    assert table.dtype == np.int16 and table.shape == (64,)
    assert np.all(np.abs(table[:-1] / fx.UNIT - np.log1p(np.exp(-x[:-1]))) <= 0.5 / fx.UNIT)
    assert table[0] == round(fx.UNIT * math.log1p(math.exp(-1 / 16))) and table[-1] == 0
    assert np.all(np.diff(table) <= 0)  # non-increasing: |a [+] b| <= min(|a|, |b|)


@njit
def _boxplus_lanes(a, b, table, out):
    big, tab, last, shift, _, _ = fx._consts(table)
    for i in range(0, a.shape[0], v16.LANES):
        v16.vstore(out, i, fx._boxplus(v16.vload(a, i), v16.vload(b, i), tab, last, shift))


def test_boxplus_matches_the_sum_product_rule():
    # |a [+] b| = 2 atanh(tanh(a/2) tanh(b/2)) within two table errors: each read of c
    # (slope >= -1/2) is off by at most half a bin of 1/8 nat times 1/2, plus 1/128 of
    # rounding (0.039); 0.01 on average; never above min(a, b)
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.integers(0, 1200, 64 * 64), np.full(32, 32767), np.zeros(32)])
    b = np.concatenate([rng.integers(0, 1200, 64 * 64), rng.integers(0, 1200, 64)])
    a, b = a.astype(np.int16), b.astype(np.int16)
    out = np.zeros_like(a)
    _boxplus_lanes(a, b, fx._TABLE, out)
    x, y = a / fx.UNIT, b / fx.UNIT
    exact = 2 * np.arctanh(np.tanh(x / 2) * np.tanh(y / 2))
    finite = (x < 20) & (y < 20)
    err = np.abs(out[finite] / fx.UNIT - exact[finite])
    assert np.max(err) < 2 * (1 / 32 + 1 / 128) and np.mean(err) < 0.01
    assert np.all(out <= np.minimum(a, b))
    assert np.array_equal(out[-64:-32], b[-64:-32])  # 32767 is the identity


def test_decodes_as_the_float_kernel(code):
    # same frames through both kernels: the same words wherever both converge, the same
    # verdicts but for a marginal frame, and iteration counts within one or two
    llr, syn, words = _frames(code, 64, 0.06, seed=1)
    bits, ok, iters = _decode(code, llr, syn)
    # as ldpc_decode runs the float kernel: LLRs in units of 1/256, the same cap of 11.1
    llr_f = llr.astype(np.float32) * np.float32(ldpc._LLR_UNIT / fx.UNIT)
    ref = kern.decode_layered_bp(llr_f, syn, code.check_ptr, code.check_vars, MAX_ITER,
                                 ldpc._PHI, PATIENCE)
    assert 40 <= ok.sum() < 64 and np.sum(ok != ref[1]) <= 2
    both = ok & ref[1]
    assert np.array_equal(bits[both], ref[0][both]) and np.array_equal(bits[ok], words[ok])
    assert np.median(np.abs(iters[both] - ref[2][both])) <= 1


def test_converged_means_the_syndrome_is_satisfied(code):
    llr, syn, _ = _frames(code, 40, 0.075, seed=2)  # near threshold
    bits, ok, _ = _decode(code, llr, syn)
    satisfied = np.all(kern.syndromes(bits, code.check_ptr, code.check_vars) == syn, axis=1)
    assert np.array_equal(ok, satisfied)
    assert 0 < ok.sum() < ok.size


def test_lanes_are_independent_and_refilled(code):
    # a full vector of lanes plus 5 (refilled as frames finish) decode exactly as each
    # frame alone
    n = v16.LANES + 5
    llr, syn, _ = _frames(code, n, 0.06, seed=3)
    batch = _decode(code, llr, syn)
    assert len(set(batch[2].tolist())) > 3
    for f in range(0, n, 3):
        alone = _decode(code, llr[f:f + 1], syn[f:f + 1])
        for a, b in zip(alone, batch, strict=True):
            assert np.array_equal(a[0], b[f])


@pytest.mark.parametrize("z", [20, 40, 70])
def test_lifted_code_decodes_the_same_one_row_block_at_a_time(code, z):
    # circulant lifts (Z below and above the 32 lanes, so that row blocks take one, two
    # (a pair, swept together) or three vectors (a pair and one alone), the last partial
    # and one of them wrapping around): many frames go through the frame lanes,
    # few through the row-block lanes, and the tail of the many too; all give the same
    # bits, verdicts and iteration counts
    lifted = lift_code(code, z, seed=8)
    assert kern._circulant_lift(lifted.check_ptr, lifted.check_vars, lifted.n) == z
    llr, syn, _ = _frames(lifted, 40, 0.07, seed=8, punctured=30)
    batch = _decode(lifted, llr, syn)
    few = _decode(lifted, llr[:3], syn[:3])
    max_deg = np.diff(lifted.check_ptr).max()
    bits, iters = fx._decode_lift(llr, syn, lifted.check_ptr, lifted.check_vars, z, MAX_ITER,
                                  fx._TABLE, PATIENCE, max_deg)
    one_by_one = (bits, kern._satisfied(bits, syn, lifted.check_ptr, lifted.check_vars), iters)
    assert batch[1].sum() >= 34 and len(set(batch[2].tolist())) > 3
    for a, b, c in zip(batch, few, one_by_one, strict=True):
        assert np.array_equal(a, c) and np.array_equal(a[:3], b)


def test_continued_frames_resume_from_their_state(code):
    # decode_continued (blind retries on the long codes): from no state it decodes as
    # decode_fixed; the frames that fail keep their state, and with a tenth of their
    # symbols then known they converge from it in fewer iterations than afresh
    lifted = lift_code(code, 20, seed=9)
    llr, syn, words = _frames(lifted, 8, 0.072, seed=12)  # near threshold: 3 of 8 converge
    states = [None] * 8
    got = fx.decode_continued(llr, syn, lifted.check_ptr, lifted.check_vars, MAX_ITER,
                              PATIENCE, states, 20)
    for a, b in zip(got, _decode(lifted, llr, syn, patience=PATIENCE), strict=True):
        assert np.array_equal(a, b)
    failed = np.flatnonzero(~got[1])
    assert 0 < failed.size < 8
    assert [s is not None for s in states] == (~got[1]).tolist()
    told = llr[failed].copy()
    known = np.arange(0, lifted.n, 10)
    told[:, known] = np.where(words[np.ix_(failed, known)] == 1, -3200, 3200)
    resumed = fx.decode_continued(told, syn[failed], lifted.check_ptr, lifted.check_vars,
                                  MAX_ITER, PATIENCE, [states[f] for f in failed], 20)
    afresh = _decode(lifted, told, syn[failed])
    assert resumed[1].all() and afresh[1].all()
    assert np.array_equal(resumed[0], words[failed])
    assert resumed[2].sum() < afresh[2].sum()


def test_early_termination_and_stall_stop(code):
    llr, syn, words = _frames(code, 2, 0.01, seed=4)
    llr[:] = (1 - 2 * words.astype(np.int16)) * 640  # no error: satisfied at once,
    _, ok, iters = _decode(code, llr, syn)  # confirmed at the 2nd iteration
    assert ok.all() and iters.tolist() == [2, 2]
    wrong = syn.copy()
    wrong[:, :40] ^= 1  # a syndrome no nearby word has: stuck
    _, ok, iters = _decode(code, llr, wrong, patience=5)
    assert not ok.any() and (iters <= 30).all()
    _, ok, iters = _decode(code, llr, wrong, max_iter=40, patience=1000)
    assert not ok.any() and iters.tolist() == [40, 40]
    bits, ok, iters = _decode(code, llr, syn, max_iter=0)
    assert ok.all() and iters.tolist() == [0, 0] and np.array_equal(bits, words)


def test_saturated_llrs_keep_their_signs(code):
    # channel LLRs at the int16 limits (and known symbols among them): no wrap-around,
    # the decoder returns the hard decision, which is the word
    llr, syn, words = _frames(code, 3, 0.01, seed=5)
    llr[:] = np.where(words == 1, -32768, 32767).astype(np.int16)
    llr[1, ::2] = np.where(words[1, ::2] == 1, -3200, 3200)
    bits, ok, _ = _decode(code, llr, syn)
    assert ok.all() and np.array_equal(bits, words)


def test_same_results_without_numba(tmp_path):
    # EUROQCI_DISABLE_JIT=1 runs the kernel as plain Python on numpy vectors: integer
    # arithmetic, so identical. Three frames of a plain code (frame lanes) and two of a
    # 3-fold and a 33-fold lift (row-block lanes: one vector, a pair)
    small = build_ldpc_code(400, 0.6)
    cases = [(small, 3), (lift_code(small, 3, seed=6), 2), (lift_code(small, 33, seed=6), 2)]
    frames = [(c, *_frames(c, n_frames, 0.03, seed=6, punctured=20)[:2])
              for c, n_frames in cases]
    plain = decode_without_jit(tmp_path, "_ldpc_fixed", "decode_fixed", "30, 8", frames)
    for (c, llr, syn), outs in zip(frames, plain, strict=True):
        for a, b in zip(_decode(c, llr, syn, max_iter=30), outs, strict=True):
            assert np.array_equal(a, b)


@njit
def _all_primitives(x, y, table, out):
    a, b = v16.vload(x, 0), v16.vload(y, 0)
    ma, mb = v16.vabs(v16.vmax(a, v16.vsplat(-32767))), v16.vabs(v16.vmax(b, v16.vsplat(-32767)))
    idx = v16.vand(a, v16.vsplat(63))
    res = (v16.vadds(a, b), v16.vsubs(a, b), v16.vsub(ma, v16.vshr(mb, np.int16(1))),
           v16.vabs(a), v16.vmin(a, b), v16.vmax(a, b), v16.vshr(a, np.int16(3)),
           v16.vshr(a, np.int16(15)), v16.vand(a, b), v16.vxor(a, b), v16.vflip(ma, b),
           v16.vcount_neg(a, b), v16.vsubus(ma, mb), v16.vsplat(-7),
           v16.vlookup(v16.vload(table, 0), v16.vload(table, v16.LANES), idx),
           v16.vcount_neg_below(a, b, 11))
    for i in range(len(res)):
        v16.vstore(out, i * v16.LANES, res[i])
    return v16.vsum(a)


_vectors = st.lists(st.integers(-32768, 32767), min_size=v16.LANES, max_size=v16.LANES)


@pytest.mark.skipif(not JIT_ENABLED, reason="numba disabled: only one path")
@settings(max_examples=60, deadline=None)
@given(_vectors, _vectors)
def test_primitives_identical_with_and_without_numba(xs, ys):
    x, y = np.array(xs, dtype=np.int16), np.array(ys, dtype=np.int16)
    table = np.arange(100, 164, dtype=np.int16)
    out, plain = (np.zeros(16 * v16.LANES, dtype=np.int16) for _ in range(2))
    total = _all_primitives(x, y, table, out)
    assert total == _all_primitives.py_func(x, y, table, plain) == int(x.astype(int).sum())
    assert np.array_equal(out, plain)


@njit
def _split_primitives(a, lo, hi, split, valid, out):
    v16.vstore_split(out, lo, hi, split, valid, v16.vload_split(a, lo, hi, split))


@pytest.mark.skipif(not JIT_ENABLED, reason="numba disabled: only one path")
def test_rotated_reads_and_masked_writes_identical_with_and_without_numba():
    a = np.random.default_rng(9).integers(-999, 999, 128).astype(np.int16)
    for split in range(0, v16.LANES + 2):
        for valid in (1, 5, v16.LANES, 40):
            outs = [np.zeros(128, dtype=np.int16) for _ in range(2)]
            _split_primitives(a, 60, 20, split, valid, outs[0])
            _split_primitives.py_func(a, 60, 20, split, valid, outs[1])
            assert np.array_equal(outs[0], outs[1])
            lane = np.arange(v16.LANES)[:valid]
            where = np.where(lane < split, 60, 20) + lane
            assert np.array_equal(outs[1][where], a[where])
            assert np.count_nonzero(outs[1]) == np.count_nonzero(a[where])
