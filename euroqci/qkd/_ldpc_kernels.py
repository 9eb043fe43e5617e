"""numba kernels of LDPC syndrome reconciliation (see :mod:`euroqci.qkd.ldpc`)."""

from __future__ import annotations

import numpy as np

from euroqci.qkd._jit import njit
from euroqci.qkd._simd import (
    LANES,
    prefetch,
    vabs,
    vadd,
    vconst,
    vcount_neg,
    vcount_neg_first,
    vdiv,
    vexponent,
    vfma,
    vload,
    vload_split,
    vmantissa,
    vmax,
    vmin,
    vmul,
    vpow2,
    vrint,
    vstore,
    vstore_split,
    vsub,
    vsum,
    vxor_sign,
    vzeros,
)


@njit(nogil=True)
def syndromes(words, check_ptr, check_vars):
    """s = H x (mod 2) for each row of ``words`` (uint8[n_frames, n] of 0/1), uint8[n_frames,
    m]: the frames packed 64 to a uint64 word, one XOR per edge for 64 frames."""
    n_frames, n = words.shape
    m = check_ptr.shape[0] - 1
    width = (n_frames + 63) // 64
    packed = np.zeros((n, width), dtype=np.uint64)
    for f in range(n_frames):
        j, bit = f // 64, np.uint64(f % 64)
        for v in range(n):
            packed[v, j] |= np.uint64(words[f, v] & 1) << bit
    acc = np.zeros((m, width), dtype=np.uint64)
    for c in range(m):
        for j in range(width):
            x = np.uint64(0)
            for e in range(check_ptr[c], check_ptr[c + 1]):
                x ^= packed[check_vars[e], j]
            acc[c, j] = x
    out = np.empty((n_frames, m), dtype=np.uint8)
    for f in range(n_frames):
        j, bit = f // 64, np.uint64(f % 64)
        for c in range(m):
            out[f, c] = (acc[c, j] >> bit) & np.uint64(1)
    return out


@njit
def prune_columns(check_ptr, check_vars, index, known):
    """H without the columns ``v`` with ``index[v] = -1``, the others renumbered
    ``index[v]``: (check_ptr, check_vars, offset), ``offset[c]`` the parity of ``known``
    (uint8[n]) over the removed symbols of check c, to be added to its syndrome bit."""
    m = check_ptr.shape[0] - 1
    ptr = np.zeros(m + 1, dtype=np.int64)
    flat = np.empty(check_vars.shape[0], dtype=np.int64)
    offset = np.zeros(m, dtype=np.uint8)
    k = 0
    for c in range(m):
        for e in range(check_ptr[c], check_ptr[c + 1]):
            v = check_vars[e]
            if index[v] < 0:
                offset[c] ^= known[v]
            else:
                flat[k] = index[v]
                k += 1
        ptr[c + 1] = k
    return ptr, flat[:k].copy(), offset


@njit(nogil=True)
def place_columns(n, parts):
    """uint8[n_frames, n] with, for each (values, columns) of ``parts``, ``values[f, i]``
    at column ``columns[i]`` of frame f (a ``values`` of one row serves every frame):
    numpy's fancy-index scatters of the same took ~1 % of a reconciliation at n = 10^6."""
    n_frames = 1
    for values, _ in parts:
        n_frames = max(n_frames, values.shape[0])
    out = np.empty((n_frames, n), dtype=np.uint8)
    for values, columns in parts:
        for f in range(n_frames):
            row = values[0 if values.shape[0] == 1 else f]
            for i in range(columns.shape[0]):
                out[f, columns[i]] = row[i]
    return out


@njit
def untainted(order, var_ptr, var_checks, m, p):
    """Up to ``p`` variables taken greedily in ``order``, each only if none of its checks
    (``var_checks[var_ptr[v]:var_ptr[v + 1]]``, m checks in all) holds one taken before:
    untainted puncturing (see ``ldpc._untainted_positions``), in the order taken."""
    used = np.zeros(m, dtype=np.bool_)
    chosen = np.empty(p, dtype=np.int64)
    k = 0
    for v in order:
        free = True
        for e in range(var_ptr[v], var_ptr[v + 1]):
            if used[var_checks[e]]:
                free = False
                break
        if free:
            for e in range(var_ptr[v], var_ptr[v + 1]):
                used[var_checks[e]] = True
            chosen[k] = v
            k += 1
            if k == p:
                break
    return chosen[:k]


@njit(nogil=True)
def set_llrs(llr, bits, positions, value):
    """``llr[f, positions[i]] = -value if bits[f, i] else value`` for every frame f (a
    ``bits`` of one row is used for all frames): what numpy's column scatter of a float
    temporary did at ~15 % of the decoding time of a block."""
    for f in range(llr.shape[0]):
        row = 0 if bits.shape[0] == 1 else f
        for i in range(positions.shape[0]):
            llr[f, positions[i]] = -value if bits[row, i] & 1 else value


_PHI_STEP = 64.0  # table resolution of phi, entries per unit of LLR
_PHI_MAX = 24.0


def phi_table() -> np.ndarray:
    """phi(x) = -ln tanh(x/2) = ln((e^x + 1)/(e^x - 1)) sampled at bin centres, float32."""
    x = (np.arange(int(_PHI_MAX * _PHI_STEP)) + 0.5) / _PHI_STEP
    return (-np.log(np.tanh(x / 2.0))).astype(np.float32)


# tanh(a/2) = (1 - e^-a)/(1 + e^-a) with e^-a = 2^y, y = -a log2(e) = k + f (k = rint(y),
# |f| <= 1/2) and 2^f = 1 + f g(f), g a cubic fitted in relative error (1.5e-5 for 2^f - 1,
# so tanh(a/2) keeps its relative accuracy for small a); ln(m) on [1, 2) as x h(x), x = m - 1,
# h a cubic (relative error 4e-4). Plain arithmetic, no libm call, so it runs in SIMD
# lanes; far finer than the table's bins of 1/64 (errors up to 0.08 in phi).
_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_EXP2 = (0.6931368708610535, 0.24023254215717316, 0.05583728849887848, 0.009617975912988186)
_LOG1P = (0.9996067881584167, -0.48641014099121094, 0.2540143132209778, -0.07433592528104782)


SCRATCH_PER_EDGE = 3  # vectors kept per edge of the check being updated (see _sweep)
_PREFETCH_EDGES = 40  # how far ahead the sweep prefetches a posteriori LLRs
_LIFT_PREFETCH = 2  # how many vectors ahead the row-block sweep prefetches
# time per edge and frame, frame lanes over row-block lanes at equal lanes busy (measured
# 0.65 / 0.95 ns at n = 2e5): the row-block lanes pay rotated reads and masked writes
_ROWS_VS_FRAMES = 0.7


@njit
def _exp_neg(a, slope):
    """e^(-a/K) per lane for a >= 0, ``slope`` = -log2(e)/K (relative error of 1 - e^-a/K
    < 2e-5, of e^-a/K < 1e-5; flushed to 2^-126 beyond a/K = 87)."""
    y = vmax(vmul(a, slope), vconst(-126.0))
    k = vrint(y)
    f = vsub(y, k)
    g = vfma(vconst(_EXP2[3]), f, vconst(_EXP2[2]))
    g = vfma(g, f, vconst(_EXP2[1]))
    g = vfma(g, f, vconst(_EXP2[0]))
    return vmul(vpow2(k), vfma(g, f, vconst(1.0)))


@njit
def _atanh2(p, log_k, cap):
    """min(2 K atanh(p), cap) = min(K ln((1 + p)/(1 - p)), cap) per lane, 0 <= p <= 1;
    ``log_k`` = (K ln 2, K h_0, ..., K h_3)."""
    one = vconst(1.0)
    u = vdiv(vadd(one, p), vsub(one, p))
    x = vsub(vmantissa(u), vconst(1.0))
    h = vfma(log_k[4], x, log_k[3])
    h = vfma(h, x, log_k[2])
    h = vfma(h, x, log_k[1])
    return vmin(vfma(vexponent(u), log_k[0], vmul(h, x)), cap)


@njit
def _constants(unit, cap):
    """(1, -log2(e)/K, (K ln 2, K h_0, ..., K h_3), cap) as vectors, K = ``unit``."""
    log_k = (vconst(_LN2 * unit), vconst(_LOG1P[0] * unit), vconst(_LOG1P[1] * unit),
             vconst(_LOG1P[2] * unit), vconst(_LOG1P[3] * unit))
    return vconst(1.0), vconst(-_LOG2E / unit), log_k, vconst(cap)


@njit
def _edge_in(q, prod, scratch, j, consts):
    """First pass over a check, edge with variable-to-check message ``q``: keeps q, the
    product of tanh(|q'|/2) over the edges before it, and tanh(|q|/2) in ``scratch[j:]``;
    returns the product including it."""
    one, slope, _, _ = consts
    t = _exp_neg(vabs(q), slope)
    th = vdiv(vsub(one, t), vadd(one, t))
    vstore(scratch, j, q)
    vstore(scratch, j + LANES, prod)
    vstore(scratch, j + 2 * LANES, th)
    return vmul(prod, th)


@njit
def _edge_out(suffix, neg, scratch, j, consts):
    """Second pass (backward), the edge kept at ``scratch[j:]``, ``suffix`` the product of
    tanh(|q'|/2) over the edges after it, ``neg`` the check's parity in the sign bit:
    (check-to-variable message r, a posteriori LLR q + r, the suffix including it)."""
    _, _, log_k, cap = consts
    q = vload(scratch, j)
    mag = _atanh2(vmul(vload(scratch, j + LANES), suffix), log_k, cap)
    r = vxor_sign(vxor_sign(mag, neg), q)
    return r, vadd(q, r), vmul(suffix, vload(scratch, j + 2 * LANES))


@njit
def _sweep(post, msg, syn, scratch, check_ptr, check_vars, unit, cap, keep, unsat_out):
    """One layered sum-product iteration over all checks for ``LANES`` frames at once.

    ``post[v*LANES + l]`` (a posteriori LLR), ``msg[e*LANES + l]`` (check-to-variable
    message of edge ``e``, read as 0 in the lanes where ``keep`` is 0: a frame's first
    iteration), ``syn[c*LANES + l]`` (syndrome bit in the sign: -0.0 / +0.0);
    ``scratch`` holds ``SCRATCH_PER_EDGE`` vectors per edge of one check; LLRs are in
    units of 1/``unit``. Check update in the tanh domain, ``tanh(|r_e|/2) =
    prod_{e' != e} tanh(|q_e'|/2)`` with ``tanh(a/2) = (1 - e^-a)/(1 + e^-a)``, the
    products excluding ``e`` from prefix and suffix products (no division by a
    possibly-zero factor), ``|r_e|`` capped at ``cap``. ``unsat_out[l]``: the
    number of checks whose hard decision was unsatisfied when they were visited.
    """
    unsat = vzeros()
    consts = _constants(unit, cap)
    drop = vsub(vzeros(), vload(keep, 0))  # -1, or -0 in a frame's first iteration
    last = np.uintp(check_vars.shape[0] - 1)
    for c in range(check_ptr.shape[0] - 1):
        e0 = check_ptr[c]
        e1 = check_ptr[c + 1]
        prod = consts[0]
        neg = vload(syn, c * LANES)
        hard = neg
        for e in range(e0, e1):
            # a posteriori LLRs of a check or two ahead: measured -20 % time at n = 2e5
            prefetch(post, check_vars[min(np.uintp(e + _PREFETCH_EDGES), last)] * LANES)
            p = vload(post, check_vars[np.uintp(e)] * LANES)
            q = vfma(vload(msg, e * LANES), drop, p)
            prod = _edge_in(q, prod, scratch, SCRATCH_PER_EDGE * (e - e0) * LANES, consts)
            neg = vxor_sign(neg, q)
            hard = vxor_sign(hard, p)
        unsat = vcount_neg(unsat, hard)
        suffix = consts[0]
        for e in range(e1 - 1, e0 - 1, -1):
            r, p, suffix = _edge_out(suffix, neg, scratch, SCRATCH_PER_EDGE * (e - e0) * LANES,
                                     consts)
            vstore(msg, e * LANES, r)
            vstore(post, check_vars[np.uintp(e)] * LANES, p)
    vstore(unsat_out, 0, unsat)


@njit
def _start_lane(lane, f, llr, syndrome, post, syn, keep):
    """Put frame ``f`` in ``lane``: a posteriori LLRs = channel LLRs, messages read as 0."""
    for v in range(llr.shape[1]):
        post[v * LANES + lane] = llr[f, v]
    for c in range(syndrome.shape[1]):
        syn[c * LANES + lane] = -0.0 if syndrome[f, c] else 0.0
    keep[lane] = 0.0


@njit
def _circulant_lift(check_ptr, check_vars, n):
    """The largest Z >= 2 for which H is a Z-fold circulant lift of a base graph without
    repeated edges (check ``b Z + i`` has the variables ``V_k Z + (i + s_k) mod Z``, as
    :func:`euroqci.qkd._ldpc_construction.lift` builds them); 1 if there is none."""
    m = check_ptr.shape[0] - 1
    a, b = n, m
    while b:
        a, b = b, a % b
    for z in range(a, 1, -1):
        if a % z == 0 and _is_lift(check_ptr, check_vars, n, z):
            return z
    return 1


@njit
def _is_lift(check_ptr, check_vars, n, z):
    seen = np.full(n // z, -1, dtype=np.int64)
    for b in range((check_ptr.shape[0] - 1) // z):
        c0 = b * z
        d = check_ptr[c0 + 1] - check_ptr[c0]
        for k in range(d):
            v0 = check_vars[check_ptr[c0] + k]
            if seen[v0 // z] == b:
                return False
            seen[v0 // z] = b
            for i in range(1, z):
                if check_ptr[c0 + i + 1] - check_ptr[c0 + i] != d:
                    return False
                v = check_vars[check_ptr[c0 + i] + k]
                if v // z != v0 // z or v % z != (v0 + i) % z:
                    return False
    return True


@njit
def _rotations(check_ptr, check_vars, z, lanes):
    """Per base edge g (edge k of base check b): ``rot[2 g]`` = ``lanes`` (the padding
    before ``post``) + the first variable of its column block, ``rot[2 g + 1]`` = the
    circulant shift ``v0 mod Z`` of ``v0``, the variable of check ``b Z``: what
    ``_rotation`` needs, without a division per edge in the sweep (flat, so that the
    sweep indexes it without a multiplication)."""
    rot = np.empty(2 * (check_vars.shape[0] // z), dtype=np.int64)
    for b in range((check_ptr.shape[0] - 1) // z):
        e0 = check_ptr[b * z]
        for k in range(check_ptr[b * z + 1] - e0):
            v0 = check_vars[e0 + k]
            shift = v0 % z
            rot[2 * (e0 // z + k)] = lanes + v0 - shift
            rot[2 * (e0 // z + k) + 1] = shift
    return rot


@njit(inline="always")
def _rotation(rot, g, i0, z, lanes):
    """Where checks ``i0 + l`` (l < ``lanes``) of a row block find their variables of the
    column block of base edge ``g`` (``_rotations``): ``post[lo + l]`` for l < split, else
    ``post[hi + l]`` (the circulant wraps around)."""
    start = rot[np.uintp(2 * g + 1)] + i0
    if start >= z:
        start -= z
    lo = rot[np.uintp(2 * g)] + start
    return lo, (lo - z if z - start < lanes else lo), z - start


@njit
def _sweep_lift(post, msg, syn, scratch, rot, check_ptr, z, unit, cap):
    """One layered iteration for one frame of a Z-fold lifted code, ``LANES`` checks of a
    row block (which share no variable) side by side: the same arithmetic per check as
    ``_sweep``. ``post[LANES + v]``, ``msg[g zp + i]`` (base edge g = edge k of base check
    b, zp = Z rounded up to LANES), ``syn[b zp + i]``, ``rot`` from ``_rotations``; returns
    the unsatisfied-check count.
    """
    zp = -(-z // LANES) * LANES
    unsat = vzeros()
    consts = _constants(unit, cap)
    for b in range((check_ptr.shape[0] - 1) // z):
        e0 = check_ptr[b * z]
        d = check_ptr[b * z + 1] - e0
        g0 = e0 // z  # base edges of the row block: the first check's edges, in order
        for i0 in range(0, z, LANES):
            prod = consts[0]
            neg = vload(syn, b * zp + i0)
            hard = neg
            for k in range(d):
                lo, hi, split = _rotation(rot, g0 + k, i0, z, LANES)
                # each base edge streams through its column block as i0 advances: more
                # streams (d = 10-50) than the hardware prefetcher follows
                prefetch(post, lo + _LIFT_PREFETCH * LANES)
                prefetch(msg, (g0 + k) * zp + i0 + _LIFT_PREFETCH * LANES)
                p = vload_split(post, lo, hi, split)
                q = vsub(p, vload(msg, (g0 + k) * zp + i0))
                prod = _edge_in(q, prod, scratch, SCRATCH_PER_EDGE * k * LANES, consts)
                neg = vxor_sign(neg, q)
                hard = vxor_sign(hard, p)
            unsat = vcount_neg_first(unsat, hard, z - i0)
            suffix = consts[0]
            for k in range(d - 1, -1, -1):
                r, p, suffix = _edge_out(suffix, neg, scratch, SCRATCH_PER_EDGE * k * LANES,
                                         consts)
                vstore(msg, (g0 + k) * zp + i0, r)
                lo, hi, split = _rotation(rot, g0 + k, i0, z, LANES)
                vstore_split(post, lo, hi, split, z - i0, p)
    return vsum(unsat)


@njit
def _lift_workspace(check_ptr, check_vars, n, z, max_deg):
    """(post, msg, syn, scratch, rot) of ``_sweep_lift`` for one frame."""
    zp = -(-z // LANES) * LANES
    m = check_ptr.shape[0] - 1
    return (np.zeros(n + 2 * LANES, dtype=np.float32),  # a vector of padding either side
            np.zeros(check_vars.shape[0] // z * zp, dtype=np.float32),
            np.zeros(m // z * zp, dtype=np.float32),
            np.zeros(SCRATCH_PER_EDGE * max_deg * LANES, dtype=np.float32),
            _rotations(check_ptr, check_vars, z, LANES))


@njit
def _iterate_lift(work, check_ptr, z, unit, cap, it, best, since, max_iter, patience):
    """Iterations ``it``, ``it + 1``, ... of one frame until it stops (same rules as the
    frame lanes, from the stall state ``best``, ``since``); returns the iteration count."""
    post, msg, syn, scratch, rot = work
    stop = it >= max_iter
    while not stop:
        unsat = int(_sweep_lift(post, msg, syn, scratch, rot, check_ptr, z, unit, cap))
        it += 1
        stop, best, since = _stop_rule(unsat, it, best, since, max_iter, patience)
    return it


@njit(inline="always")
def _stop_rule(unsat, it, best, since, max_iter, patience):
    """After iteration ``it`` (counted from 1) left ``unsat`` unsatisfied checks: (stop,
    best, since). A frame stops once its hard decision satisfies every check (from the
    second iteration on), after ``max_iter`` iterations, or once ``unsat`` has not fallen
    below its ``best`` for ``patience`` iterations (``since`` counts them)."""
    if unsat == 0 and it > 1:
        return True, best, since
    if unsat < best:
        return it >= max_iter, unsat, 0
    return it >= max_iter or since + 1 >= patience, best, since + 1


@njit
def _decide(post, offset, stride, f, bits):
    """Hard decision ``post[offset + v stride] < 0`` into ``bits[f]``."""
    n = bits.shape[1]
    if stride == 1:  # the row-block layout: a contiguous loop (1.2 -> 0.75 ms per 10^6)
        row = bits[f]
        seg = post[offset:offset + n]
        for v in range(n):
            row[v] = seg[v] < 0
        return
    for v in range(n):
        bits[f, v] = 1 if post[offset + v * stride] < 0 else 0


@njit
def _satisfied(bits, syndrome, check_ptr, check_vars):
    """bool[n_frames]: whether each row of ``bits`` has the syndrome ``syndrome``. Checked
    once for all frames at the end (``syndromes``: one XOR per edge for 64 frames) rather
    than per frame as it stops (~1 ns per edge and frame, ~6 % of the decoding at n = 10^5)."""
    got = syndromes(bits, check_ptr, check_vars)
    ok = np.ones(bits.shape[0], dtype=np.bool_)
    for f in range(bits.shape[0]):
        for c in range(got.shape[1]):
            if got[f, c] != syndrome[f, c]:
                ok[f] = False
                break
    return ok


@njit
def _decode_lift(llr, syndrome, check_ptr, check_vars, z, max_iter, unit, cap, patience,
                 max_deg):
    """``_decode_bits`` for a Z-fold lifted code, one frame at a time."""
    n_frames, n = llr.shape
    m = check_ptr.shape[0] - 1
    zp = -(-z // LANES) * LANES
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    iters = np.zeros(n_frames, dtype=np.int64)
    work = _lift_workspace(check_ptr, check_vars, n, z, max_deg)
    post, msg, syn, _, _ = work
    for f in range(n_frames):
        post[LANES:LANES + n] = llr[f]
        msg[:] = 0.0
        for c in range(m):
            syn[c // z * zp + c % z] = -0.0 if syndrome[f, c] else 0.0
        iters[f] = _iterate_lift(work, check_ptr, z, unit, cap, 0, m + 1, 0, max_iter,
                                 patience)
        _decide(post, LANES, 1, f, bits)
    return bits, iters


@njit
def _lift_lane(lane, keep, post, msg, syn, work, check_ptr, z):
    """Copy the state of ``lane`` (frame lanes) into the row-block layout of ``work``."""
    l_post, l_msg, l_syn, _, _ = work
    zp = -(-z // LANES) * LANES
    n = l_post.shape[0] - 2 * LANES
    for v in range(n):
        l_post[LANES + v] = post[v * LANES + lane]
    for c in range(check_ptr.shape[0] - 1):
        b, i = c // z, c % z
        g0 = check_ptr[b * z] // z
        l_syn[b * zp + i] = syn[c * LANES + lane]
        for k in range(check_ptr[c + 1] - check_ptr[c]):
            l_msg[(g0 + k) * zp + i] = msg[(check_ptr[c] + k) * LANES + lane] * keep[lane]


@njit(nogil=True)  # other threads run meanwhile
def decode_layered_bp(llr, syndrome, check_ptr, check_vars, max_iter, table, patience):
    """Layered belief-propagation decoding of ``x`` with ``H x = syndrome``.

    The check update is the exact sum-product rule, ``tanh(|r_e|/2) = prod_{e' != e}
    tanh(|q_e'|/2)`` (equivalently ``|r_e| = phi(sum phi(|q_e'|))``, phi(x) = -ln tanh(x/2)),
    evaluated in float32 arithmetic to ~1e-4 (``_exp_neg``, ``_atanh2``); min-sum was
    tried and fails on these irregular codes with high check degrees (messages
    overconfident). ``llr[f, v]`` = K ln P(x_v = 0)/P(x_v = 1) (float32). ``table`` is the
    phi table the decoder used to read (``phi_table``, or ``K phi(y / K)`` over K times its
    range): it fixes the LLR unit K (its length over that of ``phi_table``) and the largest
    message ``|r| <= table[0]`` (phi of the first bin: 5.5 for K = 1).

    Returns (bits uint8[n_frames, n], converged bool[n_frames], iterations int[n_frames]);
    a frame stops as soon as its hard decision satisfies every check (early termination),
    or gives up once the number of unsatisfied checks has not fallen below its best for
    ``patience`` iterations (a frame stuck that long practically never converges; this
    bounds the cost of failures), or after ``max_iter`` iterations.

    ``LANES`` frames are decoded side by side in SIMD lanes (messages stored
    ``[edge, lane]``); a lane whose frame stops takes the next frame at once. The lanes do
    not interact: a frame decodes to the same result whatever its neighbours. Too few
    frames to fill the lanes, of a code that is a circulant lift (the long codes of
    ``ldpc_codes``), are decoded one at a time with ``LANES`` checks of a row block in the
    lanes instead (``_decode_lift``: the same results, ~12x less work for one frame).
    """
    bits, iters = _decode_bits(llr, syndrome, check_ptr, check_vars, max_iter, table,
                               patience)
    return bits, _satisfied(bits, syndrome, check_ptr, check_vars), iters


@njit
def _decode_bits(llr, syndrome, check_ptr, check_vars, max_iter, table, patience):
    """``decode_layered_bp`` without the final syndrome check: (bits, iterations)."""
    n_frames, n = llr.shape
    m = check_ptr.shape[0] - 1
    unit = table.shape[0] / (_PHI_MAX * _PHI_STEP)
    max_deg = 0
    for c in range(m):
        max_deg = max(max_deg, check_ptr[c + 1] - check_ptr[c])
    z = 0  # the lift factor, found when first needed (1: not a lift)
    if 0 < n_frames < LANES and max_iter > 0:
        z = _circulant_lift(check_ptr, check_vars, n)
        if _rows_beat_frames(z, n_frames):
            return _decode_lift(llr, syndrome, check_ptr, check_vars, z, max_iter, unit,
                                table[0], patience, max_deg)
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    iters = np.zeros(n_frames, dtype=np.int64)
    post = np.zeros(n * LANES, dtype=np.float32)
    msg = np.zeros(check_vars.shape[0] * LANES, dtype=np.float32)
    syn = np.zeros(m * LANES, dtype=np.float32)
    scratch = np.zeros(SCRATCH_PER_EDGE * max_deg * LANES, dtype=np.float32)
    unsat = np.zeros(LANES, dtype=np.float32)
    keep = np.ones(LANES, dtype=np.float32)
    frame = np.full(LANES, -1, dtype=np.int64)  # the frame in each lane, -1: idle
    best = np.zeros(LANES, dtype=np.int64)
    since = np.zeros(LANES, dtype=np.int64)
    if max_iter <= 0:  # no iteration: the hard decision of the channel LLRs
        for f in range(n_frames):
            _start_lane(0, f, llr, syndrome, post, syn, keep)
            _decide(post, 0, LANES, f, bits)
        return bits, iters
    queued = 0
    for lane in range(min(LANES, n_frames)):
        _start_lane(lane, queued, llr, syndrome, post, syn, keep)
        frame[lane] = queued
        best[lane] = m + 1
        queued += 1
    active = min(LANES, n_frames)
    while active > 0:
        _sweep(post, msg, syn, scratch, check_ptr, check_vars, unit, table[0], keep, unsat)
        keep[:] = 1.0
        for lane in range(LANES):
            f = frame[lane]
            if f < 0:
                continue
            iters[f] += 1
            stop, best[lane], since[lane] = _stop_rule(int(unsat[lane]), iters[f], best[lane],
                                                       since[lane], max_iter, patience)
            if not stop:
                continue
            _decide(post, lane, LANES, f, bits)
            if queued < n_frames:  # refill the lane with the next frame
                _start_lane(lane, queued, llr, syndrome, post, syn, keep)
                frame[lane] = queued
                best[lane] = m + 1
                since[lane] = 0
                queued += 1
            else:
                frame[lane] = -1
                active -= 1
        if queued == n_frames and 0 < active < LANES:  # the tail: lanes falling idle
            if z == 0:
                z = _circulant_lift(check_ptr, check_vars, n)
            if _rows_beat_frames(z, active):  # finish the frames left one at a time
                work = _lift_workspace(check_ptr, check_vars, n, z, max_deg)
                for lane in range(LANES):
                    f = frame[lane]
                    if f >= 0:
                        _lift_lane(lane, keep, post, msg, syn, work, check_ptr, z)
                        iters[f] = _iterate_lift(work, check_ptr, z, unit, table[0],
                                                 iters[f], best[lane], since[lane],
                                                 max_iter, patience)
                        _decide(work[0], LANES, 1, f, bits)
                active = 0
    return bits, iters


@njit
def _rows_beat_frames(z, n_frames):
    """Whether ``n_frames`` frames of a Z-fold lift (Z > 1) go faster one at a time with
    the checks of a row block in the lanes (Z / ceil(Z / LANES) lanes busy per vector)
    than side by side in the frame lanes."""
    return z > 1 and n_frames * -(-z // LANES) < _ROWS_VS_FRAMES * z
