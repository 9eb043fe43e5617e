"""Fixed-point layered belief propagation: int16 LLRs, 32 frames per SIMD vector.

The check update is the sum-product rule written with the box-plus operation (Hagenauer,
Offer & Papke, IEEE Trans. Inf. Theory 42, 429 (1996)),

    |a [+] b| = min(|a|, |b|) + c(|a| + |b|) - c(||a| - |b||),    c(x) = ln(1 + e^-x),

its sign the product of the signs, accumulated over a check's edges from both ends (3
box-plus per edge: prefix, suffix, and their combination), with c read from a 64-entry
table in bins of 1/8 (:func:`correction_table`). LLRs are int16 in units of 1/``UNIT``,
saturating at +-512. Integer arithmetic in 32 lanes makes a sweep ~1.5x as fast per frame
as the float32 kernel (``_ldpc_kernels``, exact sum-product in 16 lanes); measured, the
quantisation leaves the decoding as good (docs/reconciliation.md).

Same schedule and interface as ``_ldpc_kernels.decode_layered_bp``: frames side by side in
the lanes, refilled as they stop; few frames of a circulant lift one at a time with the
checks of a row block in the lanes.
"""

from __future__ import annotations

import numpy as np

from euroqci.qkd._jit import njit
from euroqci.qkd._ldpc_kernels import (
    _circulant_lift,
    _decide,
    _rotation,
    _rotations,
    _satisfied,
    _stop_rule,
)
from euroqci.qkd._simd16 import (
    LANES,
    TABLE_SIZE,
    prefetch,
    vabs,
    vadds,
    vand,
    vcount_neg,
    vcount_neg_below,
    vflip,
    vload,
    vload_split,
    vlookup,
    vmax,
    vmin,
    vshr,
    vsplat,
    vstore,
    vstore_split,
    vsub,
    vsubs,
    vsubus,
    vsum,
    vxor,
)

__all__ = ["UNIT", "correction_table", "decode_continued", "decode_fixed", "rows_always"]

UNIT = 64  # LLR units per natural unit (nat): resolution 1/64, range +-512
TABLE_SHIFT = 3  # table bin = 2^TABLE_SHIFT units = 1/8
CAP = 710  # largest check-to-variable message: 11.1, as the float32 kernel's
_BIG = 32767  # the box-plus identity: an LLR of 512 (certain)
_PREFETCH_EDGES = 40  # how far ahead the sweep prefetches a posteriori LLRs
_FLUSH = 16384  # checks between flushes of the int16 unsatisfied-check counters
_LIFT_PREFETCH = 2  # how many vectors ahead the row-block sweep prefetches
_ROWS_FROM_N = 500_000  # from this code length, always the row-block lanes


def correction_table() -> np.ndarray:
    """int16[TABLE_SIZE]: ``UNIT c(x)`` at the centre of each bin of ``x >> TABLE_SHIFT``,
    0 in the last (c(8) = 3e-4)."""
    x = (np.arange(TABLE_SIZE) + 0.5) * 2**TABLE_SHIFT / UNIT
    table = np.round(UNIT * np.log1p(np.exp(-x))).astype(np.int16)
    table[-1] = 0
    return table


_TABLE = correction_table()


@njit(inline="always")
def _boxplus(a, b, tab, last, shift):
    """|a [+] b| for magnitudes a, b >= 0; ``tab`` = the table as two vectors. The table is
    non-increasing, so the result is <= min(a, b)."""
    mn = vmin(a, b)
    c1 = vlookup(tab[0], tab[1], vmin(vshr(vadds(a, b), shift), last))
    c2 = vlookup(tab[0], tab[1], vmin(vshr(vsub(vmax(a, b), mn), shift), last))
    return vsubus(vadds(mn, c1), c2)


@njit(inline="always")
def _consts(table):
    """(identity, table vectors, last bin, shift, floor, cap) of the check update."""
    return (vsplat(_BIG), (vload(table, 0), vload(table, LANES)), vsplat(TABLE_SIZE - 1),
            np.int16(TABLE_SHIFT), vsplat(-_BIG), vsplat(CAP))


@njit(inline="always")
def _frame_forward(post, msg, mask, scratch, j, check_vars, e, k, final, fw, neg, hard,
                   consts):
    """Edge ``e`` (the ``k``-th of its check) towards the check, in the frame lanes: q = p -
    message into ``scratch[j]``, the prefix before it into ``scratch[j + LANES]``; returns
    the updated (prefix, sign product, hard product)."""
    big, tab, last, shift, floor, cap = consts
    # a posteriori LLRs of a check or two ahead (random reads over the frame)
    prefetch(post, check_vars[min(np.uintp(e + _PREFETCH_EDGES), final)] * LANES)
    p = vload(post, check_vars[np.uintp(e)] * LANES)
    q = vmax(vsubs(p, vand(vload(msg, e * LANES), mask)), floor)
    vstore(scratch, j, q)
    vstore(scratch, j + LANES, fw)
    # the first edge's prefix is the identity: no box-plus
    fw = vabs(q) if k == 0 else _boxplus(fw, vabs(q), tab, last, shift)
    return fw, vxor(neg, q), vxor(hard, p)


@njit(inline="always")
def _backward(scratch, j, k, d, bw, neg, consts):
    """Edge ``k`` of a check of degree ``d`` back to its variable, from ``_frame_forward``'s
    or ``_lift_forward``'s ``scratch[j]``: (q, message from prefix and suffix ``bw``, the
    suffix including this edge). No box-plus with the identity at a check's ends, and
    the whole check's suffix is not needed."""
    big, tab, last, shift, floor, cap = consts
    q = vload(scratch, j)
    if k == d - 1:
        mag = vload(scratch, j + LANES)
    elif k == 0:
        mag = bw
    else:
        mag = _boxplus(vload(scratch, j + LANES), bw, tab, last, shift)
    if k > 0:
        bw = vabs(q) if k == d - 1 else _boxplus(bw, vabs(q), tab, last, shift)
    return q, vflip(vmin(mag, cap), vxor(neg, q)), bw


@njit(refcount=False)  # array arguments of inline helpers: no reference counts
def _sweep(post, msg, syn, scratch, check_ptr, check_vars, table, keep, unsat_out):
    """One layered iteration over all checks for ``LANES`` frames: ``post[v LANES + l]``
    (a posteriori LLR), ``msg[e LANES + l]`` (check-to-variable message, read as 0 where
    ``keep`` is 0 rather than -1: a frame's first iteration), ``syn[c LANES + l]`` (-1 where
    the syndrome bit is 1, else 0), ``scratch`` 2 vectors per edge of a check and one
    more; adds each lane's unsatisfied checks (hard decision as each check is visited) to
    ``unsat_out``. One check at a time: two neighbouring checks of a lift side by side
    (as ``_sweep_lift`` does) were slower here (measured, docs/benchmarks.md), the
    loads of a posteriori LLRs from all over the frame rather than box-plus chains
    bounding the time."""
    consts = _consts(table)
    big = consts[0]
    mask = vload(keep, 0)
    count = vsplat(0)
    tmp = scratch.shape[0] - LANES  # the last vector of scratch: the counts per lane
    final = np.uintp(check_vars.shape[0] - 1)
    m = check_ptr.shape[0] - 1
    for c in range(m):
        e0 = check_ptr[c]
        d = check_ptr[c + 1] - e0
        neg = vload(syn, c * LANES)
        hard = neg
        fw = big
        for k in range(d):
            fw, neg, hard = _frame_forward(post, msg, mask, scratch, 2 * k * LANES, check_vars,
                                           e0 + k, k, final, fw, neg, hard, consts)
        count = vcount_neg(count, hard)
        if c % _FLUSH == _FLUSH - 1 or c == m - 1:
            vstore(scratch, tmp, count)
            for lane in range(LANES):
                unsat_out[lane] += scratch[tmp + lane]
            count = vsplat(0)
        bw = big
        for k in range(d - 1, -1, -1):
            q, r, bw = _backward(scratch, 2 * k * LANES, k, d, bw, neg, consts)
            vstore(msg, (e0 + k) * LANES, r)
            vstore(post, check_vars[np.uintp(e0 + k)] * LANES, vadds(q, r))


@njit(inline="always")
def _lift_forward(post, msg, scratch, j, rot, g, i0, z, zp, k, fw, neg, hard, consts):
    """Edge ``k`` (base edge ``g``) of the checks ``i0 + l`` of a row block, towards the
    check: q = p - message into ``scratch[j]``, the prefix before it into
    ``scratch[j + LANES]``; returns the updated (prefix, sign product, hard product)."""
    big, tab, last, shift, floor, cap = consts
    lo, hi, split = _rotation(rot, g, i0, z, LANES)
    # each base edge streams through its column block as i0 advances: more streams
    # (d = 10-50) than the hardware prefetcher follows
    prefetch(post, lo + _LIFT_PREFETCH * LANES)
    prefetch(msg, g * zp + i0 + _LIFT_PREFETCH * LANES)
    # the circulant wraps inside at most one vector of the row block
    p = vload(post, lo) if split >= LANES else vload_split(post, lo, hi, split)
    q = vmax(vsubs(p, vload(msg, g * zp + i0)), floor)
    vstore(scratch, j, q)
    vstore(scratch, j + LANES, fw)
    fw = vabs(q) if k == 0 else _boxplus(fw, vabs(q), tab, last, shift)
    return fw, vxor(neg, q), vxor(hard, p)


@njit(inline="always")
def _lift_backward(post, msg, scratch, j, rot, g, i0, z, zp, k, d, bw, neg, consts):
    """Edge ``k`` of ``_lift_forward`` back to the variable (``_backward``): the message
    and the new a posteriori LLR stored; returns the suffix including this edge."""
    q, r, bw = _backward(scratch, j, k, d, bw, neg, consts)
    vstore(msg, g * zp + i0, r)
    lo, hi, split = _rotation(rot, g, i0, z, LANES)
    if split >= LANES and z - i0 >= LANES:
        vstore(post, lo, vadds(q, r))
    else:
        vstore_split(post, lo, hi, split, z - i0, vadds(q, r))
    return bw


@njit(refcount=False)  # array arguments of inline helpers: no reference counts
def _sweep_lift(post, msg, syn, scratch, rot, check_ptr, z, table):
    """One layered iteration for one frame of a Z-fold lifted code, ``LANES`` checks of a
    row block (which share no variable) side by side, the same arithmetic per check as
    ``_sweep``: ``post[LANES + v]``, ``msg[g zp + i]`` (base edge g, zp = Z rounded up to
    LANES), ``syn[b zp + i]``; returns the number of unsatisfied checks. Two vectors of
    checks go through each loop together: each one's prefix and suffix are chains of
    dependent box-plus operations, which two independent chains overlap."""
    consts = _consts(table)
    big = consts[0]
    zp = -(-z // LANES) * LANES
    unsat = 0
    for b in range((check_ptr.shape[0] - 1) // z):
        e0 = check_ptr[b * z]
        d = check_ptr[b * z + 1] - e0
        g0 = e0 // z
        count = vsplat(0)
        for i0 in range(0, zp, 2 * LANES):
            i1 = i0 + LANES  # the second vector, if the row block has one
            pair = i1 < zp
            neg0 = vload(syn, b * zp + i0)
            hard0 = neg0
            fw0 = big
            neg1 = vload(syn, b * zp + i1) if pair else big
            hard1 = neg1
            fw1 = big
            for k in range(d):
                j = 4 * k * LANES
                fw0, neg0, hard0 = _lift_forward(post, msg, scratch, j, rot, g0 + k, i0, z,
                                                 zp, k, fw0, neg0, hard0, consts)
                if pair:
                    fw1, neg1, hard1 = _lift_forward(post, msg, scratch, j + 2 * LANES, rot,
                                                     g0 + k, i1, z, zp, k, fw1, neg1, hard1,
                                                     consts)
            count = vcount_neg_below(count, hard0, z - i0)
            if pair:
                count = vcount_neg_below(count, hard1, z - i1)
            bw0 = big
            bw1 = big
            for k in range(d - 1, -1, -1):
                j = 4 * k * LANES
                bw0 = _lift_backward(post, msg, scratch, j, rot, g0 + k, i0, z, zp, k, d, bw0,
                                     neg0, consts)
                if pair:
                    bw1 = _lift_backward(post, msg, scratch, j + 2 * LANES, rot, g0 + k, i1,
                                         z, zp, k, d, bw1, neg1, consts)
        unsat += vsum(count)
    return unsat


@njit
def _lift_workspace(check_ptr, check_vars, n, z, max_deg):
    """(post, msg, syn, scratch, rot) of ``_sweep_lift`` for one frame."""
    zp = -(-z // LANES) * LANES
    m = check_ptr.shape[0] - 1
    return (np.zeros(n + 2 * LANES, dtype=np.int16),  # a vector of padding either side
            np.zeros(check_vars.shape[0] // z * zp, dtype=np.int16),
            np.zeros(m // z * zp, dtype=np.int16),
            np.zeros(4 * max_deg * LANES, dtype=np.int16),
            _rotations(check_ptr, check_vars, z, LANES))


@njit
def _iterate_lift(work, check_ptr, z, table, it, best, since, max_iter, patience):
    """Iterations ``it``, ``it + 1``, ... of one frame until it stops (the frame lanes'
    rules, from the stall state ``best``, ``since``): (iteration count, unsatisfied
    checks in the last iteration)."""
    post, msg, syn, scratch, rot = work
    stop = it >= max_iter
    unsat = -1
    while not stop:
        unsat = _sweep_lift(post, msg, syn, scratch, rot, check_ptr, z, table)
        it += 1
        stop, best, since = _stop_rule(unsat, it, best, since, max_iter, patience)
    return it, unsat


@njit
def _load_frame(work, llr, syndrome, z):
    """Row-block state of a fresh frame: a posteriori LLRs = ``llr``, messages 0."""
    post, msg, syn, _, _ = work
    zp = -(-z // LANES) * LANES
    post[LANES:LANES + llr.shape[0]] = llr
    msg[:] = 0
    for c in range(syndrome.shape[0]):
        syn[c // z * zp + c % z] = -1 if syndrome[c] else 0


@njit
def _reload_frame(work, post, msg, old_llr, llr, syndrome, z):
    """Row-block state of a frame continued from an earlier attempt's ``post`` and ``msg``
    (decoded with channel LLRs ``old_llr``): its a posteriori LLRs move by the change of
    the channel LLRs (e.g. punctured symbols revealed), saturating."""
    _load_frame(work, llr, syndrome, z)
    work[1][:] = msg
    for v in range(llr.shape[0]):
        work[0][LANES + v] = min(max(np.int32(post[LANES + v]) + llr[v] - old_llr[v], -32767),
                                 32767)


@njit
def _decode_lift(llr, syndrome, check_ptr, check_vars, z, max_iter, table, patience, max_deg):
    """``_decode_bits`` for a Z-fold lifted code, one frame at a time."""
    n_frames, n = llr.shape
    m = check_ptr.shape[0] - 1
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    iters = np.zeros(n_frames, dtype=np.int64)
    work = _lift_workspace(check_ptr, check_vars, n, z, max_deg)
    for f in range(n_frames):
        _load_frame(work, llr[f], syndrome[f], z)
        iters[f] = _iterate_lift(work, check_ptr, z, table, 0, m + 1, 0, max_iter, patience)[0]
        _decide(work[0], LANES, 1, f, bits)
    return bits, iters


@njit
def rows_always(n, lift):
    """Whether :func:`decode_fixed` decodes every frame of a code of ``n`` symbols and
    circulant lift factor ``lift`` one at a time in the row-block lanes (the long lifted
    codes: their frame lanes' 64 n bytes of a posteriori LLRs and 64 bytes per edge of
    messages would stream from memory), which :func:`decode_continued` then matches."""
    return n >= _ROWS_FROM_N and lift > 1


def decode_continued(llr, syndrome, check_ptr, check_vars, max_iter, patience, states, lift):
    """:func:`decode_fixed` in the row-block lanes, frame by frame, continuing the frames
    whose ``states[f]`` holds what an earlier attempt left (a posteriori LLRs, messages,
    channel LLRs) instead of starting them afresh; ``states[f]`` becomes the frame's final
    state if it did not converge, else None. ``lift``: the code's lift factor (> 1). For
    blind retries: measured at Q = 2 % (n = 10^6), a failed frame continued with a third
    of the reserve revealed converges in 13-42 iterations against 52-70 from scratch, as
    often (docs/benchmarks.md). Python drives the frames (~0.1 s each at n = 10^6), the
    kernels are numba's."""
    n_frames, n = llr.shape
    m = check_ptr.shape[0] - 1
    z = lift
    work = _lift_workspace(check_ptr, check_vars, n, z, int(np.diff(check_ptr).max()))
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    iters = np.zeros(n_frames, dtype=np.int64)
    for f in range(n_frames):
        if states[f] is None:
            _load_frame(work, llr[f], syndrome[f], z)
        else:
            post, msg, old_llr = states[f]
            _reload_frame(work, post, msg, old_llr, llr[f], syndrome[f], z)
        iters[f], unsat = _iterate_lift(work, check_ptr, z, _TABLE, 0, m + 1, 0, max_iter,
                                        patience)
        _decide(work[0], LANES, 1, f, bits)
        states[f] = None if unsat == 0 else (work[0].copy(), work[1].copy(), llr[f].copy())
    ok = _satisfied(bits, syndrome, check_ptr, check_vars)
    for f in np.flatnonzero(ok):
        states[f] = None
    return bits, ok, iters


@njit
def _start_lane(lane, f, llr, syndrome, post, syn, keep):
    """Put frame ``f`` in ``lane``: a posteriori LLRs = channel LLRs, messages read as 0."""
    for v in range(llr.shape[1]):
        post[v * LANES + lane] = llr[f, v]
    for c in range(syndrome.shape[1]):
        syn[c * LANES + lane] = -1 if syndrome[f, c] else 0
    keep[lane] = 0


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
            l_msg[(g0 + k) * zp + i] = msg[(check_ptr[c] + k) * LANES + lane] & keep[lane]


@njit
def _rows_beat_frames(z, n_frames, n):
    """Whether ``n_frames`` frames of a Z-fold lift (Z > 1) of ``n`` symbols go faster one
    at a time with the checks of a row block in the lanes than side by side in the frame
    lanes. Measured (docs/benchmarks.md): at n = 10^5 (Z = 25) a lane-edge costs about the
    same either way, so the row blocks win below ~Z frames; on the long codes
    (:func:`rows_always`) at any number of frames."""
    return rows_always(n, z) or (z > 1 and n_frames * -(-z // LANES) < z)


@njit(nogil=True)  # other threads run meanwhile
def decode_fixed(llr, syndrome, check_ptr, check_vars, max_iter, patience, lift=0):
    """Layered belief-propagation decoding of ``x`` with ``H x = syndrome`` in fixed point.

    ``llr[f, v]`` = round(UNIT ln P(x_v = 0)/P(x_v = 1)), int16. Returns (bits
    uint8[n_frames, n], converged bool[n_frames], iterations int[n_frames]); a frame stops
    as soon as its hard decision satisfies every check (from its second iteration), or once
    its number of unsatisfied checks has not fallen below its best for ``patience``
    iterations, or after ``max_iter``. Frames decode independently of their neighbours.
    ``lift``: the code's circulant lift factor if known (1: none), else 0 (found here, an
    O(edges) scan: 44 ms at n = 10^6).
    """
    bits, iters = _decode_bits(llr, syndrome, check_ptr, check_vars, max_iter, patience,
                               lift)
    return bits, _satisfied(bits, syndrome, check_ptr, check_vars), iters


@njit
def _decode_bits(llr, syndrome, check_ptr, check_vars, max_iter, patience, lift):
    """``decode_fixed`` without the final syndrome check: (bits, iterations)."""
    n_frames, n = llr.shape
    m = check_ptr.shape[0] - 1
    table = _TABLE
    max_deg = 0
    for c in range(m):
        max_deg = max(max_deg, check_ptr[c + 1] - check_ptr[c])
    z = lift  # the lift factor (1: not a lift)
    if z == 0 and n_frames > 0 and max_iter > 0:
        z = _circulant_lift(check_ptr, check_vars, n)
    if 0 < n_frames and max_iter > 0 and _rows_beat_frames(z, n_frames, n):
        return _decode_lift(llr, syndrome, check_ptr, check_vars, z, max_iter, table,
                            patience, max_deg)
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    iters = np.zeros(n_frames, dtype=np.int64)
    post = np.zeros(n * LANES, dtype=np.int16)
    msg = np.zeros(check_vars.shape[0] * LANES, dtype=np.int16)
    syn = np.zeros(m * LANES, dtype=np.int16)
    scratch = np.zeros((2 * max_deg + 1) * LANES, dtype=np.int16)
    unsat = np.zeros(LANES, dtype=np.int64)
    keep = np.full(LANES, -1, dtype=np.int16)
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
        unsat[:] = 0
        _sweep(post, msg, syn, scratch, check_ptr, check_vars, table, keep, unsat)
        keep[:] = -1
        for lane in range(LANES):
            f = frame[lane]
            if f < 0:
                continue
            iters[f] += 1
            stop, best[lane], since[lane] = _stop_rule(unsat[lane], iters[f], best[lane],
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
            if _rows_beat_frames(z, active, n):  # finish the frames left one at a time
                work = _lift_workspace(check_ptr, check_vars, n, z, max_deg)
                for lane in range(LANES):
                    f = frame[lane]
                    if f >= 0:
                        _lift_lane(lane, keep, post, msg, syn, work, check_ptr, z)
                        iters[f] = _iterate_lift(work, check_ptr, z, table, iters[f],
                                                 best[lane], since[lane], max_iter,
                                                 patience)[0]
                        _decide(work[0], LANES, 1, f, bits)
                active = 0
    return bits, iters
