"""The SIMD-lane belief-propagation kernel (``_ldpc_kernels.decode_layered_bp``) and its
vector primitives (``_simd``): same decoding as the one-frame table decoder it replaced,
lanes independent of each other, early termination and stall stop, identical results
without numba."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.bench_ldpc_decoder import reference_decode_layered_bp
from euroqci.qkd import _ldpc_kernels as kern
from euroqci.qkd import _simd
from euroqci.qkd._jit import JIT_ENABLED, njit
from euroqci.qkd.ldpc_codes import build_ldpc_code
from tests.qkd.ldpc_frames import bsc_frames, decode_without_jit, lift_code

TABLE = kern.phi_table()
MAX_ITER, PATIENCE = 100, 8


def _decode(decoder, code, llr, syn, max_iter=MAX_ITER, patience=PATIENCE, table=TABLE):
    return decoder(llr, syn, code.check_ptr, code.check_vars, max_iter, table, patience)


@pytest.fixture(scope="module")
def code():
    # rate 0.6 of ISIT 2009 Table I: check degrees 10-19, variable degrees 2-71
    return build_ldpc_code(2000, 0.6)


@pytest.mark.parametrize("n_frames", [0, 1, 70])
def test_syndromes_packed_64_frames_to_a_word(code, n_frames):
    words = np.random.default_rng(n_frames).integers(0, 2, (n_frames, code.n), dtype=np.uint8)
    expect = (words.astype(np.int64) @ code.dense().T.astype(np.int64)) % 2
    assert np.array_equal(kern.syndromes(words, code.check_ptr, code.check_vars), expect)


def test_decodes_what_the_reference_decodes_on_easybsc_frames(code):
    # BSC threshold of the R = 0.6 distribution: p* = 0.0840 (ISIT 2009 Table I); at 4 % a
    # 2000-symbol code decodes nearly every frame (an error floor of a few % remains)
    llr, syn, words = bsc_frames(code, 40, 0.04, seed=1)
    bits, ok, iters = _decode(kern.decode_layered_bp, code, llr, syn)
    ref_bits, ref_ok, ref_iters = _decode(reference_decode_layered_bp, code, llr, syn)
    assert ref_ok.sum() >= 37 and ok.sum() >= 37
    assert np.sum(ref_ok & ~ok) <= 1  # the exact arithmetic may tip a marginal frame
    both = ok & ref_ok
    assert np.array_equal(bits[both], ref_bits[both])
    assert np.array_equal(bits[ok], words[ok])
    # the same schedule; arithmetic more exact than the table's bins of 1/64
    assert np.median(np.abs(iters[both] - ref_iters[both])) <= 1


def test_converged_means_the_syndrome_is_satisfied(code):
    llr, syn, _ = bsc_frames(code, 24, 0.075, seed=2)  # near threshold
    bits, ok, _ = _decode(kern.decode_layered_bp, code, llr, syn)
    satisfied = np.all(kern.syndromes(bits, code.check_ptr, code.check_vars) == syn, axis=1)
    assert np.array_equal(ok, satisfied)
    assert 0 < ok.sum() < ok.size  # some frames decode, some do not


def test_lanes_are_independent_and_refilled(code):
    # 21 frames (one full vector of lanes plus 5, refilled as frames finish) and 1 frame
    # decode exactly as each frame alone
    n = _simd.LANES + 5
    llr, syn, _ = bsc_frames(code, n, 0.06, seed=3)
    batch = _decode(kern.decode_layered_bp, code, llr, syn)
    assert len(set(batch[2].tolist())) > 3  # frames finish at different iterations
    for f in range(n):
        alone = _decode(kern.decode_layered_bp, code, llr[f:f + 1], syn[f:f + 1])
        for a, b in zip(alone, batch, strict=True):
            assert np.array_equal(a[0], b[f])


def test_lifted_code_decodes_the_same_one_row_block_at_a_time(code):
    # a 20-fold circulant lift (as ldpc_codes builds codes longer than 16384): a few frames
    # go through _decode_lift (20 checks of a row block in the lanes), many through the
    # frame lanes; both give exactly the same bits, verdicts and iteration counts
    z = 20
    lifted = lift_code(code, z, seed=8)
    ptr, cv = lifted.check_ptr, lifted.check_vars
    assert kern._circulant_lift(ptr, cv, lifted.n) == z
    assert kern._circulant_lift(code.check_ptr, code.check_vars, code.n) == 1
    llr, syn, words = bsc_frames(lifted, 20, 0.045, seed=8)
    batch = _decode(kern.decode_layered_bp, lifted, llr, syn)  # 20 frames: frame lanes
    few = _decode(kern.decode_layered_bp, lifted, llr[:3], syn[:3])  # 3 frames: row blocks
    bits, iters = kern._decode_lift(llr, syn, ptr, cv, z, MAX_ITER, 1.0, TABLE[0], PATIENCE,
                                    np.diff(ptr).max())
    one_by_one = (bits, kern._satisfied(bits, syn, ptr, cv), iters)
    assert batch[1].sum() >= 17 and len(set(batch[2].tolist())) > 3
    for a, b, c in zip(batch, few, one_by_one, strict=True):
        assert np.array_equal(a, c) and np.array_equal(a[:3], b)


def test_early_termination_and_stall_stop(code):
    llr, syn, words = bsc_frames(code, 2, 0.001, seed=4)
    llr[:] = (1.0 - 2.0 * words) * 10.0  # no error: satisfied from the first iteration,
    _, ok, iters = _decode(kern.decode_layered_bp, code, llr, syn)  # confirmed at the 2nd
    assert ok.all() and iters.tolist() == [2, 2]
    wrong = syn.copy()
    wrong[:, :40] ^= 1  # a syndrome no nearby word has: stuck
    _, ok, iters = _decode(kern.decode_layered_bp, code, llr, wrong, patience=5)
    assert not ok.any() and (iters <= 30).all()
    _, ok, iters = _decode(kern.decode_layered_bp, code, llr, wrong, max_iter=40,
                           patience=1000)
    assert not ok.any() and iters.tolist() == [40, 40]
    bits, ok, iters = _decode(kern.decode_layered_bp, code, llr, syn, max_iter=0)
    assert ok.all() and iters.tolist() == [0, 0] and np.array_equal(bits, words)


def test_same_words_with_a_scaled_table(code):
    # a table K phi(y/K) over K times the range declares LLRs in units of 1/K: the same
    # frames scaled by K decode to the same words
    k = 4
    y = (np.arange(k * TABLE.shape[0]) + 0.5) / 64.0
    scaled = (k * -np.log(np.tanh(y / k / 2.0))).astype(np.float32)
    llr, syn, _ = bsc_frames(code, 16, 0.05, seed=5)
    bits, ok, _ = _decode(kern.decode_layered_bp, code, llr, syn)
    bits_k, ok_k, _ = _decode(kern.decode_layered_bp, code, llr * k, syn, table=scaled)
    assert ok.sum() >= 12 and np.array_equal(ok, ok_k) and np.array_equal(bits, bits_k)


def test_same_results_without_numba(tmp_path):
    # EUROQCI_DISABLE_JIT=1 runs the kernels as plain Python on numpy vectors of LANES:
    # bit-identical, since the LLVM vector code has no fast-math flags. Three frames of a
    # plain code (frame lanes) and two of a 3-fold lift (row-block lanes)
    small = build_ldpc_code(400, 0.6)
    cases = [(small, 3), (lift_code(small, 3, seed=6), 2)]
    frames = [(c, *bsc_frames(c, n_frames, 0.03, seed=6, punctured=20)[:2])
              for c, n_frames in cases]
    plain = decode_without_jit(tmp_path, "_ldpc_kernels", "decode_layered_bp",
                               "30, k.phi_table(), 8", frames)
    for (c, llr, syn), outs in zip(frames, plain, strict=True):
        for a, b in zip(_decode(kern.decode_layered_bp, c, llr, syn, max_iter=30), outs,
                        strict=True):
            assert np.array_equal(a, b)


def test_llr_unit_from_the_table_length(code):
    # one sweep with LLRs in units of 1/4 and a table 4 phi(y/4) (4x as long) gives 4x
    # the a posteriori LLRs of the plain one (messages below both caps)
    llr, syn, _ = bsc_frames(code, 1, 0.2, seed=7)
    deg = np.diff(code.check_ptr)
    posts = []
    for k in (1.0, 4.0):
        post = np.repeat(llr[0] * np.float32(k), _simd.LANES)
        msg = np.zeros(code.check_vars.shape[0] * _simd.LANES, dtype=np.float32)
        syn_l = np.repeat(np.where(syn[0] == 1, -0.0, 0.0).astype(np.float32), _simd.LANES)
        scratch = np.zeros(kern.SCRATCH_PER_EDGE * deg.max() * _simd.LANES,
                           dtype=np.float32)
        unsat = np.zeros(_simd.LANES, dtype=np.float32)
        kern._sweep(post, msg, syn_l, scratch, code.check_ptr, code.check_vars, k,
                    np.float32(1e3), np.ones(_simd.LANES, dtype=np.float32), unsat)
        posts.append(post)
    np.testing.assert_allclose(posts[1], 4 * posts[0], rtol=1e-3, atol=1e-3)


def test_check_node_arithmetic_accuracy():
    # tanh(a/2) = (1 - e^-a)/(1 + e^-a) to 1e-4 relative (1e-7 absolute near a = 0), and
    # 2 atanh(p) to 5e-4 relative: far below the table's errors (up to 0.08 in phi)
    lanes = _simd.LANES
    a = np.concatenate([[0.0], np.geomspace(1e-4, 80.0, 100 * lanes - 1)]).astype(np.float32)
    exp_neg = getattr(kern._exp_neg, "py_func", kern._exp_neg)
    atanh2 = getattr(kern._atanh2, "py_func", kern._atanh2)
    t = np.concatenate([exp_neg(a[i:i + lanes], _simd.vconst(-kern._LOG2E))
                        for i in range(0, a.size, lanes)])
    exact = np.tanh(a.astype(np.float64) / 2)
    assert np.all(np.abs((1 - t) / (1 + t) - exact) <= 1e-4 * exact + 1e-7)
    p = np.linspace(0.0, 0.995, 200 * lanes).astype(np.float32)
    log_k = tuple(_simd.vconst(c) for c in (kern._LN2, *kern._LOG1P))
    r = np.concatenate([atanh2(p[i:i + lanes], log_k, _simd.vconst(100.0))
                        for i in range(0, p.size, lanes)])
    exact = 2 * np.arctanh(p.astype(np.float64))
    assert np.all(np.abs(r - exact) <= 5e-4 * exact + 1e-6)


@njit
def _all_primitives(x, y, pos, out):
    a, b, p = _simd.vload(x, 0), _simd.vload(y, 0), _simd.vload(pos, 0)
    k = _simd.vmax(_simd.vmin(_simd.vrint(a), _simd.vconst(127.0)), _simd.vconst(-126.0))
    res = (_simd.vadd(a, b), _simd.vsub(a, b), _simd.vmul(a, b), _simd.vdiv(a, b),
           _simd.vmin(a, b), _simd.vmax(a, b), _simd.vabs(a), _simd.vxor_sign(a, b),
           _simd.vcount_neg(a, b), _simd.vrint(a), _simd.vexponent(p), _simd.vmantissa(p),
           _simd.vpow2(k), _simd.vzeros(), _simd.vfma(a, b, p), _simd.vfma(a, b, _simd.vsub(p, a)))
    for i in range(len(res)):
        _simd.vstore(out, i * _simd.LANES, res[i])


_vectors = st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False),
                    min_size=_simd.LANES, max_size=_simd.LANES)


@pytest.mark.skipif(not JIT_ENABLED, reason="numba disabled: only one path")
@settings(max_examples=60, deadline=None)
@given(_vectors, _vectors)
def test_primitives_identical_with_and_without_numba(xs, ys):
    x = np.array(xs, dtype=np.float32)
    y = np.array(ys, dtype=np.float32)
    pos = np.abs(x) + np.float32(1e-30)
    out = np.zeros(16 * _simd.LANES, dtype=np.float32)
    with np.errstate(all="ignore"):
        _all_primitives(x, y, pos, out)
        plain = np.zeros_like(out)
        _all_primitives.py_func(x, y, pos, plain)
    assert np.array_equal(out.view(np.int32), plain.view(np.int32))


@njit
def _split_primitives(a, x, lo, hi, split, valid, out):
    _simd.vstore_split(out, lo, hi, split, valid, _simd.vload_split(a, lo, hi, split))
    xv = _simd.vload(x, 0)
    return _simd.vsum(_simd.vcount_neg_first(_simd.vzeros(), xv, valid)), _simd.vsum(xv)


@pytest.mark.skipif(not JIT_ENABLED, reason="numba disabled: only one path")
def test_rotated_reads_and_masked_writes_identical_with_and_without_numba():
    rng = np.random.default_rng(9)
    a = rng.normal(size=64).astype(np.float32)
    x = rng.normal(size=_simd.LANES).astype(np.float32)
    for split in range(0, _simd.LANES + 2):
        for valid in (1, 5, _simd.LANES, 40):
            outs = [np.zeros(64, dtype=np.float32) for _ in range(2)]
            sums = [f(a, x, 30, 10, split, valid, out) for f, out in
                    zip((_split_primitives, _split_primitives.py_func), outs, strict=True)]
            assert np.array_equal(outs[0], outs[1]) and sums[0] == sums[1]
            lane = np.arange(_simd.LANES)[:valid]
            assert np.array_equal(outs[1][np.where(lane < split, 30, 10) + lane],
                                  a[np.where(lane < split, 30, 10) + lane])
            assert sums[1][0] == np.sum(x[:valid] < 0)
