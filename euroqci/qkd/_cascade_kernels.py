"""numba kernels of Bob's side of batched Cascade (see :mod:`euroqci.qkd.cascade`).

State per frame ``f``:

- ``node[f, s]``: the *error parity* (Alice's parity xor Bob's current parity) of every
  block and sub-block whose parity Bob knows: -1 unknown, -2 asked (answer pending), 0/1.
  Blocks are binary trees split in halves (left half rounded up) and numbered in pre-order,
  so a block of ``L`` bits owns ``2L - 1`` consecutive slots; pass ``q``, block ``b`` of
  size ``k`` starts at ``pass_base[q] + b (2k - 1)``.
- ``cand[f]``: searches under way, each a known block with odd error parity:
  (pass, slot base, start, end, pre-order id, kind) with kind 0 = cascade (queued by a
  flip), 1 = a top-level block of the current pass.
- ``fs[f]``: current pass, next top-level block of it not yet searched (-1 once the frame
  is finished), number of searches, bits flipped, questions this round, overflow flag.

Shared: ``perms[0]`` = the shuffles (position -> bit), ``perms[1]`` their inverses;
``layout[0/1/2, q]`` = block size, first node slot, first top-level index of pass ``q``.
Few array arguments on purpose: numba's dispatch costs microseconds per array, and a
batch makes ~100-1500 calls. The entry points touch only arrays and release the GIL
(``nogil``), so Alice's answers, Bob's search and other blocks' Cascades run on other
cores meanwhile.

Every disclosed parity of every (sub-)block of every pass is kept, and kept correct when a
bit is flipped (all known blocks containing it toggle), so no parity is ever asked twice
and a cascaded search starts from the SMALLEST known odd block holding the flipped bit: the
sub-block reuse of Martinez-Mateo et al., QIC 15 (2015), Sec. 4. The gain the paper reports
for it needs the sequential order of the original protocol: a cascade is resolved before
further blocks of the current pass are opened, otherwise concurrent searches pay for errors
that a cheap cascade would have found. Here one cascade (the smallest block) runs at a time
per frame, at most ``max_parallel`` top-level searches of the current pass run beside it and
none is opened while a cascade is pending (pass 1 has no cascades, so all its blocks run at
once); frames run in parallel.
"""

from __future__ import annotations

import numpy as np

from euroqci.qkd._jit import njit

REMOVED = 0
WAITING = 1
CUR, NEXT, COUNT, FLIPS, ASKED, OVERFLOW = 0, 1, 2, 3, 4, 5


def pack_frames(bits: np.ndarray) -> np.ndarray:
    """uint8 0/1 frames -> uint64 words: bit ``j & 63`` of word ``j >> 6`` is bit j."""
    n_frames, n = bits.shape
    packed = np.zeros((n_frames, ((n + 63) >> 6) * 8), dtype=np.uint8)
    packed[:, : (n + 7) >> 3] = np.packbits(bits, axis=1, bitorder="little")
    return packed.view("<u8").astype(np.uint64, copy=False)


@njit(nogil=True)
def block_masks(perm, sizes):
    """uint64 words per pass: the positions ``perm[q, :sizes[q]]`` (a pass's first block)."""
    masks = np.zeros((perm.shape[0], (perm.shape[1] + 63) >> 6), dtype=np.uint64)
    for q in range(perm.shape[0]):
        for j in range(sizes[q]):
            p = perm[q, j]
            masks[q, p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    return masks


@njit(inline="always")
def _masked_parity(packed, f, masks, q):
    """Parity of the bits of frame ``f`` inside ``masks[q]`` (all bits if q < 0): ~n/64
    word operations instead of a gather of every bit."""
    acc = np.uint64(0)
    for w in range(packed.shape[1]):
        acc ^= packed[f, w] if q < 0 else packed[f, w] & masks[q, w]
    for shift in (32, 16, 8, 4, 2, 1):
        acc ^= acc >> np.uint64(shift)
    return np.uint8(acc & np.uint64(1))


@njit(inline="always")
def _prefix_one(bits, perm, pre, f, q):
    """Alice's prefix parities of frame ``f`` in pass ``q``, bit-packed: bit ``j & 7`` of
    ``pre[f, q, j >> 3]`` is the parity of ``bits[f, perm[q, :j]]`` for j = 0..n."""
    n = bits.shape[1]
    par = 0
    byte = 0
    for j in range(n):
        par ^= bits[f, perm[q, j]]
        t = j + 1
        byte |= par << (t & 7)
        if t & 7 == 7:
            pre[f, q, t >> 3] = byte
            byte = 0
    if n & 7 != 7:
        pre[f, q, n >> 3] = byte


@njit(nogil=True, refcount=False)
def range_parities(pre, ready, bits, perm, packed, masks, half, req, out):
    """Parity of ``bits[frame, perm[pass, start:end]]`` for each of the m request rows
    (frame, pass, start, end), into ``out[:m]``; returns -1, or the first row out of range.
    The whole frame and its halves [0, half), [half, n) (the top-level blocks of the late
    passes) come from packed words and ``masks``; any other block from prefix parities
    (two lookups), built for a (frame, pass) when it is first needed: in practice ~18 % of
    them (passes 1-2, and the few late passes where a search runs)."""
    m = req.shape[0]
    n_frames, n = bits.shape
    n_passes = perm.shape[0]
    for r in range(m):
        f = req[r, 0]
        q = req[r, 1]
        lo = req[r, 2]
        hi = req[r, 3]
        if f < 0 or f >= n_frames or q < 0 or q >= n_passes or lo < 0 or hi > n or lo >= hi:
            return r
        if not ready[f, q]:
            if lo == 0 and hi == n:
                out[r] = _masked_parity(packed, f, masks, -1)
                continue
            if lo == 0 and hi == half:
                out[r] = _masked_parity(packed, f, masks, q)
                continue
            if lo == half and hi == n:
                out[r] = _masked_parity(packed, f, masks, -1) ^ _masked_parity(packed, f,
                                                                                masks, q)
                continue
            _prefix_one(bits, perm, pre, f, q)
            ready[f, q] = True
        out[r] = ((pre[f, q, hi >> 3] >> (hi & 7)) ^ (pre[f, q, lo >> 3] >> (lo & 7))) & 1
    return -1


@njit(inline="always")
def _add_candidate(f, q, base, lo, hi, nid, kind, cand, fs):
    if kind == 0:  # a cascade may be queued twice; a top-level block is opened once
        for i in range(fs[f, COUNT]):
            if cand[f, i, 0] == q and cand[f, i, 1] == base and cand[f, i, 4] == nid:
                return
    i = fs[f, COUNT]
    if i >= cand.shape[1]:
        fs[f, OVERFLOW] = 1
        return
    cand[f, i, 0] = q
    cand[f, i, 1] = base
    cand[f, i, 2] = lo
    cand[f, i, 3] = hi
    cand[f, i, 4] = nid
    cand[f, i, 5] = kind
    fs[f, COUNT] = i + 1


@njit(inline="always")
def _flip(f, bit, bob, packed, perms, layout, node, cand, fs):
    """Correct Bob's ``bit`` and queue the smallest known odd block of each pass holding it."""
    n = bob.shape[1]
    bob[f, bit] ^= 1
    packed[f, bit >> 6] ^= np.uint64(1) << np.uint64(bit & 63)
    fs[f, FLIPS] += 1
    for q in range(fs[f, CUR] + 1):
        pos = perms[1, q, bit]
        k = layout[0, q]
        b = pos // k
        lo = b * k
        hi = min(lo + k, n)
        base = layout[1, q] + b * (2 * k - 1)
        nid = 0
        found = False
        best_lo = 0
        best_hi = 0
        best_id = 0
        while True:
            st = node[f, base + nid]
            if st < 0:
                break
            st ^= 1
            node[f, base + nid] = st
            if st == 1:
                found = True
                best_lo = lo
                best_hi = hi
                best_id = nid
            if hi - lo == 1:
                break
            mid = lo + (hi - lo + 1) // 2
            if pos < mid:
                hi = mid
                nid += 1
            else:
                nid += 2 * (mid - lo)
                lo = mid
        if found:
            _add_candidate(f, q, base, best_lo, best_hi, best_id, 0, cand, fs)


@njit(inline="always")
def _step(f, i, bob, packed, perms, layout, node, cand, fs, out, o_total, o_cap, may_ask):
    """Advance search ``i`` of frame ``f`` as far as known parities allow; if ``may_ask``,
    ask for the parity of the left half where it stops."""
    q = cand[f, i, 0]
    base = cand[f, i, 1]
    lo = cand[f, i, 2]
    hi = cand[f, i, 3]
    nid = cand[f, i, 4]
    while True:
        if node[f, base + nid] != 1:
            return REMOVED
        if hi - lo == 1:
            _flip(f, perms[0, q, lo], bob, packed, perms, layout, node, cand, fs)
            return REMOVED
        mid = lo + (hi - lo + 1) // 2
        lid = nid + 1
        rid = nid + 2 * (mid - lo)
        ls = node[f, base + lid]
        rs = node[f, base + rid]
        if ls < 0 and rs >= 0:
            ls = rs ^ 1
            node[f, base + lid] = ls
        elif rs < 0 and ls >= 0:
            rs = ls ^ 1
            node[f, base + rid] = rs
        elif ls < 0 and rs < 0:
            if may_ask and ls == -1 and fs[f, ASKED] < o_cap:
                j = o_total[0]
                out[j, 0] = f
                out[j, 1] = q
                out[j, 2] = lo
                out[j, 3] = mid
                out[j, 4] = base + lid
                o_total[0] = j + 1
                fs[f, ASKED] += 1
                node[f, base + lid] = -2
            cand[f, i, 2] = lo
            cand[f, i, 3] = hi
            cand[f, i, 4] = nid
            return WAITING
        if ls == 1:
            hi = mid
            nid = lid
        else:
            lo = mid
            nid = rid


@njit(nogil=True, refcount=False)
def _start_pass(f, bob, packed, masks, perms, layout, node, alice_root, fs):
    """Enter the next pass: clear its slots to unknown, then set Bob's error parity of
    each of its top-level blocks. (Each pass's slots are cleared here, just before use,
    so ``node`` may be a reused, uninitialised buffer.)"""
    n = bob.shape[1]
    q = fs[f, CUR] + 1
    fs[f, CUR] = q
    fs[f, NEXT] = 0
    k = layout[0, q]
    end = layout[1, q + 1] if q + 1 < layout.shape[1] else node.shape[1]
    node[f, layout[1, q]:end] = -1
    nb = (n + k - 1) // k
    rest = _masked_parity(packed, f, masks, -1)  # the frame, then what the blocks left out
    for b in range(nb):
        if b == nb - 1:  # the last block's parity is the rest
            par = rest
        elif nb == 2:  # the late passes' halves: words, not a gather of n/2 bits
            par = _masked_parity(packed, f, masks, q)
        else:
            par = 0
            for j in range(b * k, b * k + k):
                par ^= bob[f, perms[0, q, j]]
        rest ^= par
        node[f, layout[1, q] + b * (2 * k - 1)] = par ^ alice_root[f, layout[2, q] + b]


@njit(nogil=True, refcount=False)
def _open_blocks(f, count, n, layout, node, cand, fs):
    """Start searches on up to ``count`` further odd top-level blocks of the current pass."""
    q = fs[f, CUR]
    k = layout[0, q]
    nb = (n + k - 1) // k
    opened = 0
    while opened < count and fs[f, NEXT] < nb:
        b = fs[f, NEXT]
        base = layout[1, q] + b * (2 * k - 1)
        if node[f, base] == 1:
            _add_candidate(f, q, base, b * k, min(b * k + k, n), 0, 1, cand, fs)
            opened += 1
        fs[f, NEXT] = b + 1


@njit(nogil=True, refcount=False)
def cascade_round(bob, packed, masks, perms, layout, node, alice_root, fs, cand, out,
                  n_answered, answers, max_parallel, o_total):
    """Apply the answers to the previous round's ``out[:n_answered]``, then run every frame
    until it waits on an answer or has finished all passes.

    Writes this round's parity questions into ``out[:total]`` as rows
    (frame, pass, start, end, slot), at most ``out.shape[0] // n_frames`` per frame, and
    returns ``total`` (also left in ``o_total[0]``, an int64 array of one).
    """
    n_frames, n = bob.shape
    n_passes = layout.shape[1]
    for r in range(n_answered):
        f = out[r, 0]
        q = out[r, 1]
        par = answers[r]
        for j in range(out[r, 2], out[r, 3]):
            par ^= bob[f, perms[0, q, j]]
        node[f, out[r, 4]] = par
    o_cap = out.shape[0] // n_frames
    o_total[0] = 0
    for f in range(n_frames):
        fs[f, ASKED] = 0
        if fs[f, NEXT] < 0:
            continue  # finished
        while True:
            if fs[f, CUR] < 0:
                _start_pass(f, bob, packed, masks, perms, layout, node, alice_root, fs)
            # 1. resolve everything known parities allow (flips cascade here).
            changed = True
            while changed:
                changed = False
                i = 0
                while i < fs[f, COUNT]:
                    if _step(f, i, bob, packed, perms, layout, node, cand, fs, out, o_total, o_cap,
                             False) == REMOVED:
                        last = fs[f, COUNT] - 1
                        for c in range(6):
                            cand[f, i, c] = cand[f, last, c]
                        fs[f, COUNT] = last
                        changed = True
                    else:
                        i += 1
            # 2. ask: the cascades of the lowest pass and the running top-level searches;
            # open further top-level blocks only while no cascade is pending.
            low = n_passes
            running = 0
            for i in range(fs[f, COUNT]):
                if cand[f, i, 5] == 0:
                    low = min(low, cand[f, i, 0])
                else:
                    running += 1
            limit = max_parallel if fs[f, CUR] > 0 else n
            if low == n_passes and running < limit:
                _open_blocks(f, limit - running, n, layout, node, cand, fs)
            if fs[f, COUNT] > 0:
                asked_before = fs[f, ASKED]
                for i in range(fs[f, COUNT]):
                    if cand[f, i, 5] == 1 or cand[f, i, 0] == low:
                        _step(f, i, bob, packed, perms, layout, node, cand, fs, out, o_total, o_cap,
                              True)
                if fs[f, ASKED] > asked_before or fs[f, ASKED] >= o_cap:
                    break
                continue  # newly opened blocks of one bit resolve without asking
            if fs[f, CUR] >= n_passes - 1:
                fs[f, NEXT] = -1  # finished
                break
            _start_pass(f, bob, packed, masks, perms, layout, node, alice_root, fs)
    return o_total[0]
