"""Rate-adaptive LDPC reconciliation: code structure, rate adaptation, decoding, bad input.

References: Elkouss, Leverrier, Alleaume & Boutros, ISIT 2009 (arXiv:0901.2140), Table I
(degree distributions and BSC thresholds p*); Elkouss, Martinez-Mateo & Martin, Quantum
Inf. Comput. 11, 226 (2011) (rate modulation; f <= 1.10 for Q in 5.5-11 % at n = 2e5).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from euroqci.errors import InvalidParameter
from euroqci.qkd import _ldpc_kernels, roles
from euroqci.qkd.authentication import AuthenticatedChannel, KeyPool
from euroqci.qkd.channel import CoroutineChannel, run_pair
from euroqci.qkd.ldpc import (
    LONG_CODE_LENGTH,
    adapt_code,
    code_length,
    ldpc_decode,
    ldpc_frame_length,
    ldpc_reconcile_in_memory,
    ldpc_syndrome,
    rescue_symbols,
)
from euroqci.qkd.ldpc_codes import (
    DEGREE_DISTRIBUTIONS,
    _construct,
    build_ldpc_code,
    cache_dir,
    code_checks,
    lifting_factor,
)
from euroqci.qkd.reconciliation import binary_entropy


@pytest.fixture(autouse=True, scope="module")
def _cold_code_cache(tmp_path_factory):
    """Every code these tests need is built here (a fresh machine: cold on-disk cache)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EUROQCI_CACHE_DIR", str(tmp_path_factory.mktemp("ldpc-cache")))
        build_ldpc_code.cache_clear()
        yield
    build_ldpc_code.cache_clear()


def _frames(rng, n_frames, n, qber):
    alice = rng.integers(0, 2, (n_frames, n), dtype=np.uint8)
    return alice, alice ^ (rng.random((n_frames, n)) < qber).astype(np.uint8)


def test_code_follows_the_degree_distribution_without_4_cycles():
    code = build_ldpc_code(10_000, 0.8)
    lam, rho = DEGREE_DISTRIBUTIONS[0.8]
    node_frac = {d: lam[d] / d for d in lam}
    total = sum(node_frac.values())
    counts = np.bincount(code.var_degree)
    for d, frac in node_frac.items():
        assert abs(counts[d] - 10_000 * frac / total) <= 1
    # design rate 1 - (sum rho_i/i)/(sum lambda_i/i) and the matrix size agree
    assert abs(code.rate - code.design_rate) < 1e-3
    rows = np.repeat(np.arange(code.m), np.diff(code.check_ptr))
    h = sp.csr_matrix((np.ones(rows.size, np.int32), (rows, code.check_vars)),
                      shape=(code.m, code.n))
    overlap = (h.T @ h).tocoo()
    off = overlap.row != overlap.col
    assert h.max() == 1  # no repeated edge
    assert not np.any(overlap.data[off] > 1)  # no two symbols share two checks
    # check degrees concentrated around the average of rho, like rho itself (29/30)
    assert set(np.diff(code.check_ptr)) <= {29, 30, 31}


def _pairs_sharing_two_checks(code) -> int:
    """Symbol pairs that share two or more checks (= 4-cycles), counted without the
    construction's own bookkeeping: every pair of symbols of every check, duplicates."""
    keys = []
    for d in np.unique(np.diff(code.check_ptr)):
        rows = np.nonzero(np.diff(code.check_ptr) == d)[0]
        block = code.check_vars[code.check_ptr[rows][:, None] + np.arange(d)]
        i, j = np.triu_indices(d, 1)
        a, b = block[:, i], block[:, j]
        keys.append((np.minimum(a, b) * code.n + np.maximum(a, b)).ravel())
    _, counts = np.unique(np.concatenate(keys), return_counts=True)
    return int(np.sum(counts > 1))


def test_lifting_factor_and_check_count():
    assert lifting_factor(10_000) == 1  # direct PEG
    assert lifting_factor(100_000) == 25 and lifting_factor(200_000) == 50
    assert code_checks(200_000, 0.6) == 80_000
    with pytest.raises(InvalidParameter):
        lifting_factor(100_003)  # prime: no quasi-cyclic lift


def test_lifted_code_follows_the_degree_distribution_without_4_cycles():
    n, rate = 100_000, 0.6
    code = build_ldpc_code(n, rate)
    z = lifting_factor(n)
    lam, _ = DEGREE_DISTRIBUTIONS[rate]
    node_frac = {d: lam[d] / d for d in lam}
    total = sum(node_frac.values())
    counts = np.bincount(code.var_degree)
    for d, frac in node_frac.items():  # Table I, rounded on the base graph of n/Z symbols
        assert abs(counts[d] - n * frac / total) <= z
    assert code.m == code_checks(n, rate) and abs(code.rate - code.design_rate) < 1e-3
    degs = np.diff(code.check_ptr)
    assert degs.max() - degs.min() <= 2  # concentrated check degrees (rho is 10-19)
    assert _pairs_sharing_two_checks(code) == 0  # the lift promises no 4-cycle at all
    # degree-2 symbols form no cycle among themselves (a cycle of them is a codeword of
    # weight = its length): their graph on the checks is a forest
    rows = np.repeat(np.arange(code.m), degs)
    two = code.var_degree[code.check_vars] == 2
    order = np.argsort(code.check_vars[two], kind="stable")
    ends = rows[two][order].reshape(-1, 2)
    g = sp.coo_matrix((np.ones(len(ends)), (ends[:, 0], ends[:, 1])), shape=(code.m, code.m))
    n_comp, label = sp.csgraph.connected_components(g, directed=False)
    touched = np.unique(ends)
    assert len(ends) == touched.size - np.unique(label[touched]).size


def test_lifted_degree_2_symbols_make_no_short_cycle():
    # R0 = 0.75 has more degree-2 symbols than checks (34 225 > 25 075 at n = 1e5), so they
    # form cycles; a cycle of L of them whose circulant shifts add up to 0 would be a
    # codeword of weight L. Breadth-first search from one copy of each base check (the
    # lift is symmetric): no cycle of <= 9 degree-2 symbols (measured shortest: 14).
    code = build_ldpc_code(100_000, 0.75)
    z = lifting_factor(code.n)
    rows = np.repeat(np.arange(code.m), np.diff(code.check_ptr))
    two = code.var_degree[code.check_vars] == 2
    order = np.argsort(code.check_vars[two], kind="stable")
    ends = rows[two][order].reshape(-1, 2)
    assert len(ends) > code.m
    nbrs = [[] for _ in range(code.m)]
    for k, (a, b) in enumerate(ends):
        nbrs[a].append((b, k))
        nbrs[b].append((a, k))
    shortest = np.inf
    for root in range(0, code.m, z):
        depth, via, frontier = {root: 0}, {root: -1}, [root]
        for level in range(5):
            nxt = []
            for x in frontier:
                for y, k in nbrs[x]:
                    if k == via[x]:
                        continue
                    if y in depth:
                        shortest = min(shortest, depth[x] + depth[y] + 1)
                    else:
                        depth[y], via[y] = level + 1, k
                        nxt.append(y)
            frontier = nxt
    assert shortest > 9


def test_construction_is_deterministic_in_n_rate_seed():
    a = _construct(20_000, 0.7, 3)  # a lift by Z = 5
    b = _construct(20_000, 0.7, 3)
    c = _construct(20_000, 0.7, 4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_code_cache_round_trip_and_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EUROQCI_CACHE_DIR", str(tmp_path / "codes"))
    build_ldpc_code.cache_clear()
    first = build_ldpc_code(2000, 0.8, 1)
    (path,) = (tmp_path / "codes").iterdir()
    assert str(tmp_path / "codes") == cache_dir() and "n2000-r0.8-s1-" in path.name
    with np.load(path) as f:
        assert np.array_equal(f["check_vars"], first.check_vars)
    build_ldpc_code.cache_clear()
    again = build_ldpc_code(2000, 0.8, 1)  # read back from disk
    assert np.array_equal(again.check_ptr, first.check_ptr)
    for garbage in (b"not a zip file", path.read_bytes()[:1000]):
        path.write_bytes(garbage)  # corrupt / truncated: rebuilt and rewritten
        build_ldpc_code.cache_clear()
        rebuilt = build_ldpc_code(2000, 0.8, 1)
        assert np.array_equal(rebuilt.check_vars, first.check_vars)
        with np.load(path) as f:
            assert np.array_equal(f["check_ptr"], first.check_ptr)
    build_ldpc_code.cache_clear()


def test_syndrome_is_h_times_x_mod_2():
    code = build_ldpc_code(1000, 0.7)
    x = np.random.default_rng(1).integers(0, 2, (3, 1000), dtype=np.uint8)
    expected = (code.dense().astype(np.int64) @ x.T.astype(np.int64)).T % 2
    got = _ldpc_kernels.syndromes(x, code.check_ptr, code.check_vars)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("qber", [0.02, 0.05, 0.08])
def test_rate_adaptation_hits_the_target_rate(qber):
    # Elkouss et al. 2011, Sec. 3: R = (R0 - sigma)/(1 - pi - sigma) = 1 - f h(Q).
    ad = adapt_code(qber, seed=3, efficiency=1.1)
    n, d = ad.code.n, ad.code.n - ldpc_frame_length(ad.code.n)
    assert ad.punctured.size + ad.shortened.size == d
    every = np.concatenate([ad.key_positions, ad.punctured, ad.shortened])
    assert np.array_equal(np.sort(every), np.arange(n))
    assert abs(ad.rate - (1 - 1.1 * binary_entropy(qber))) <= 1.0 / (n - d)
    assert ad.leaked_bits == ad.code.m - ad.punctured.size
    # untainted puncturing: no check holds two punctured symbols
    rows = np.repeat(np.arange(ad.code.m), np.diff(ad.code.check_ptr))
    hits = np.bincount(rows[np.isin(ad.code.check_vars, ad.punctured)], minlength=ad.code.m)
    assert hits.max() <= 1
    # ... and chosen lowest degree first: no symbol left free of punctured neighbours
    # (which could still have been punctured) has a lower degree than a punctured one
    free = np.ones(ad.code.n, dtype=bool)
    free[ad.code.check_vars[hits[rows] > 0]] = False
    free[ad.shortened] = False
    if free.any():
        assert ad.code.var_degree[ad.punctured].max() <= ad.code.var_degree[free].min()
    # both ends derive the same code from the same (QBER, seed)
    again = adapt_code(qber, seed=3, efficiency=1.1)
    assert np.array_equal(again.shortened_values, ad.shortened_values)


# ISIT 2009 Table I: the density-evolution thresholds p* give f_thr >= 1.018 for every
# listed rate; no finite code decoded by BP can beat that. Elkouss, Martinez-Mateo & Martin
# (QIC 11, 226 (2011), Figs. 4-5): f <= 1.10 at a frame error rate of 1e-3 with n = 2e5
# codes (R0 = 0.5, 0.6, delta = 0.1) for Q = 5.5-11 %. QBERs here: around the range in
# which choose_method uses LDPC (6-9 %). With the default n = 1e5 (frames of 90 000 key
# bits) we measure f 1.07-1.09 and 0-1 lost frames in 1000 per point at 3-8 %
# (docs/reconciliation.md), so: all 30 frames reconciled, f <= 1.10.
@pytest.mark.parametrize("qber", [0.05, 0.065, 0.08])
def test_reconciles_with_efficiency_near_published(qber):
    rng = np.random.default_rng(int(qber * 1000))
    alice, bob = _frames(rng, 30, ldpc_frame_length(), qber)
    res = ldpc_reconcile_in_memory(alice, bob, qber, rng)
    assert res.converged.all() and np.array_equal(res.corrected, alice)
    assert 1.018 < res.efficiency <= 1.10
    assert res.round_trips <= 4


# Elkouss et al. 2011's own length, n = 2e5 (frames of 180 000 key bits): f <= 1.10
# (their Figs. 4-5 at FER 1e-3); we measure f 1.07-1.08 at Q = 5-8 % with 0-1 lost frames
# in 1500-2000 per point (docs/reconciliation.md). 32 frames: all reconciled, f <= 1.10.
@pytest.mark.parametrize("qber", [0.055, 0.08])
def test_long_code_reconciles_as_published(qber):
    rng = np.random.default_rng(int(qber * 1e4))
    n = 200_000
    alice, bob = _frames(rng, 32, ldpc_frame_length(n), qber)
    res = ldpc_reconcile_in_memory(alice, bob, qber, rng, n=n)
    assert res.converged.all() and np.array_equal(res.corrected, alice)
    assert 1.018 < res.efficiency <= 1.10


# Below 3 % the protocol uses 10^6-symbol codes (code_length): the n = 10^5 codes need
# f > 1.10 there (at Q = 2 %: 27 % of frames lost at f 1.10; f 1.106 at 2.5 %), while
# n = 10^6 gives f 1.096 and no frame lost in 3200 at 2 % from its start at 1.095
# (docs/reconciliation.md). Four frames of 900 000 key bits at 2 %: all reconciled,
# f <= 1.10.
def test_low_qber_uses_the_long_codes():
    assert code_length(0.02) == LONG_CODE_LENGTH and code_length(0.03) == 100_000
    rng = np.random.default_rng(20)
    alice, bob = _frames(rng, 4, ldpc_frame_length(LONG_CODE_LENGTH), 0.02)
    res = ldpc_reconcile_in_memory(alice, bob, 0.02, rng)
    assert res.converged.all() and np.array_equal(res.corrected, alice)
    assert 1.018 < res.efficiency <= 1.10


def test_rescue_symbols_are_the_key_bits_of_the_unsatisfied_checks():
    ad = adapt_code(0.05, seed=1)
    code = ad.code
    rng = np.random.default_rng(4)
    key = rng.integers(0, 2, (1, ad.n_key), dtype=np.uint8)
    syn, punct = ldpc_syndrome(ad, key, rng)
    words = np.zeros((1, code.n), dtype=np.uint8)
    words[0, ad.key_positions], words[0, ad.punctured] = key[0], punct[0]
    words[0, ad.shortened] = ad.shortened_values
    assert rescue_symbols(ad, words, syn)[0].size == 0  # every check satisfied
    v = ad.key_positions[123]
    words[0, v] ^= 1  # one wrong key symbol: its checks are unsatisfied
    checks = np.repeat(np.arange(code.m), np.diff(code.check_ptr))[code.check_vars == v]
    expected = np.concatenate([code.check_vars[code.check_ptr[c]:code.check_ptr[c + 1]]
                               for c in checks])
    expected = np.flatnonzero(np.isin(ad.key_positions, expected))
    got = rescue_symbols(ad, words, syn)[0]
    assert 123 in got and np.array_equal(np.sort(got), expected)
    words[0, ad.key_positions[:2000]] ^= 1  # more than RESCUE_MAX_SYMBOLS: no rescue
    assert rescue_symbols(ad, words, syn)[0].size == 0


# A frame left in a trapping set by the three blind retries (found by search: key seed 48,
# 32 frames at Q = 6 %; with the default start f and decoder, 2 of 150 such runs at 6 % and
# 3 of 150 at 3 % had one) is decoded once Alice reveals her key bits in the checks Bob's decoding
# left unsatisfied: five messages, every frame kept, the same leak counted at both ends,
# identical keys. If the codes, the start f or the decoder change, find another such seed
# (the test asserts that the rescue ran).
def test_two_party_ldpc_rescues_a_frame_stuck_after_the_blind_retries():
    q, n_frames, seed = 0.06, 32, 48
    rng = np.random.default_rng(seed)
    alice = rng.integers(0, 2, n_frames * ldpc_frame_length(), dtype=np.uint8)
    bob = alice ^ (rng.random(alice.size) < q).astype(np.uint8)
    ends = CoroutineChannel.pair()
    psk = bytes(range(256)) * 4
    ch = [AuthenticatedChannel(e, KeyPool(psk), r) for e, r in zip(ends, ("alice", "bob"),
                                                                     strict=True)]
    (leak_a, trips_a, kept_a), (key, leak_b, trips_b, kept_b) = run_pair(ends, (
        lambda: roles._ldpc_alice(ch[0], alice, q, np.random.default_rng(seed)),
        lambda: roles._ldpc_bob(ch[1], bob, q)))
    assert trips_a == trips_b == 5  # syndromes, three reveals, the rescue
    assert kept_a.all() and kept_b.all() and np.array_equal(key, alice)
    assert leak_a == leak_b


def test_decoding_graph_drops_whole_shortened_column_blocks():
    # n = 10^5 (Z = 25): the shortened symbols are whole column blocks but for fewer than
    # Z; those blocks leave the graph Bob decodes, which stays a 25-fold lift, and the
    # syndrome absorbs their known values
    ad = adapt_code(0.03, seed=5)
    g, z = ad.graph, lifting_factor(ad.code.n)
    assert z == 25 and ad.shortened.size - g.removed.size < z
    assert np.all(np.bincount(g.removed // z) % z == 0)
    assert np.array_equal(np.sort(np.concatenate([g.symbols, g.removed])), np.arange(ad.code.n))
    assert g.check_vars.size == ad.code.check_vars.size - ad.code.var_degree[g.removed].sum()
    assert _ldpc_kernels._circulant_lift(g.check_ptr, g.check_vars, g.symbols.size) == z
    words = np.random.default_rng(1).integers(0, 2, (3, ad.code.n), dtype=np.uint8)
    words[:, ad.shortened] = ad.shortened_values
    syn = _ldpc_kernels.syndromes(words, ad.code.check_ptr, ad.code.check_vars)
    assert np.array_equal(
        _ldpc_kernels.syndromes(words[:, g.symbols], g.check_ptr, g.check_vars),
        syn ^ g.syndrome_offset)
    assert np.array_equal(g.symbols[g.key], ad.key_positions)


def test_blind_retries_reveal_the_reserve_in_equal_steps():
    ad = adapt_code(0.05, seed=2, efficiency=1.07, span=0.08)
    h = float(binary_entropy(0.05))
    assert ad.blind_reserve == int(np.ceil(0.08 * ad.n_key * h))
    steps = [ad.revealed_after(i, 3) for i in range(4)]
    assert steps[0] == 0 and steps[3] == min(ad.punctured.size, ad.blind_reserve)
    assert max(np.diff(steps)) - min(np.diff(steps)) <= 1
    # each retry raises f by ~span/steps: 0.08/3 of n_key h(Q)
    assert abs(steps[1] / (ad.n_key * h) - 0.08 / 3) < 1e-3


def test_bad_input_fails_loudly():
    rng = np.random.default_rng(0)
    n_key = ldpc_frame_length()
    alice, bob = _frames(rng, 2, n_key, 0.05)
    with pytest.raises(InvalidParameter):
        ldpc_reconcile_in_memory(alice, bob, 0.6, rng)
    with pytest.raises(InvalidParameter):
        ldpc_reconcile_in_memory(alice, bob[:, :-1], 0.05, rng)
    with pytest.raises(InvalidParameter):
        ldpc_reconcile_in_memory(alice[:, :0], bob[:, :0], 0.05, rng)
    ad = adapt_code(0.05, seed=1)
    with pytest.raises(InvalidParameter):
        ldpc_syndrome(ad, alice[:, :100], rng)
    syn, _ = ldpc_syndrome(ad, alice, rng)
    with pytest.raises(InvalidParameter):
        ldpc_decode(ad, bob, syn[:, :-1], 0.05)
    # a frame with 60 % errors against a 5 % estimate does not decode: flagged, not wrong
    _, noisy = _frames(rng, 2, n_key, 0.6)
    noisy = alice ^ (rng.random(alice.shape) < 0.6).astype(np.uint8)
    res = ldpc_reconcile_in_memory(alice, noisy, 0.05, rng)
    assert not res.converged.any()
    # a syndrome that belongs to another frame is not silently "corrected"
    _, ok = ldpc_decode(ad, bob, syn[::-1], 0.05)
    assert not ok.any()


def test_decoder_same_without_numba():
    # the pure-Python fallback of the kernels (EUROQCI_DISABLE_JIT=1) computes the same
    # thing: run the un-jitted function object on a small code
    code = build_ldpc_code(400, 0.6)
    rng = np.random.default_rng(2)
    x, y = _frames(rng, 2, 400, 0.03)
    syn = _ldpc_kernels.syndromes(x, code.check_ptr, code.check_vars)
    llr = ((1.0 - 2.0 * y) * np.log(0.97 / 0.03)).astype(np.float32)
    table = _ldpc_kernels.phi_table()
    fast = _ldpc_kernels.decode_layered_bp(llr, syn, code.check_ptr, code.check_vars, 30, table,
                                           8)
    plain = getattr(_ldpc_kernels.decode_layered_bp, "py_func",
                    _ldpc_kernels.decode_layered_bp)  # already plain if JIT is disabled
    py = plain(llr, syn, code.check_ptr, code.check_vars, 30, table, 8)
    for a, b in zip(fast, py, strict=True):
        assert np.array_equal(a, b)


# Bigger statistics (slow): 300 frames per point with the defaults (n = 1e5). Target of
# issue 3 and Elkouss et al. 2011 (n = 2e5): f <= 1.10 at FER <= 1e-3. 0 failures in 300
# frames bounds the FER below 1 % (95 %); docs/reconciliation.md has the 1000-2000-frame runs.
@pytest.mark.slow
@pytest.mark.parametrize("qber", [0.03, 0.05, 0.08])
def test_frame_error_rate_over_many_frames(qber):
    rng = np.random.default_rng(100 + int(qber * 1000))
    alice, bob = _frames(rng, 300, ldpc_frame_length(), qber)
    res = ldpc_reconcile_in_memory(alice, bob, qber, rng)
    assert res.converged.all() and np.array_equal(res.corrected, alice)
    assert 1.018 < res.efficiency <= 1.10
