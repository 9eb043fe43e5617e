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
- ``next_block[f]``: the next top-level block of the current pass not yet searched.

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


@njit
def range_parities(bits, perm, frame, pass_index, start, end):
    """Parity of ``bits[frame, perm[pass, start:end]]`` for each request (Alice's oracle)."""
    m = frame.shape[0]
    out = np.empty(m, dtype=np.uint8)
    for r in range(m):
        f = frame[r]
        q = pass_index[r]
        par = 0
        for j in range(start[r], end[r]):
            par ^= bits[f, perm[q, j]]
        out[r] = par
    return out


@njit
def apply_answers(bob, perm, node, frame, pass_index, start, end, slot, answers):
    """Store the error parity ``answer xor Bob's parity`` of each answered block."""
    for r in range(frame.shape[0]):
        f = frame[r]
        q = pass_index[r]
        par = 0
        for j in range(start[r], end[r]):
            par ^= bob[f, perm[q, j]]
        node[f, slot[r]] = answers[r] ^ par


@njit
def _add_candidate(f, q, base, lo, hi, nid, kind, cand, c_count, overflow):
    for i in range(c_count[f]):
        if cand[f, i, 0] == q and cand[f, i, 1] == base and cand[f, i, 4] == nid:
            return
    i = c_count[f]
    if i >= cand.shape[1]:
        overflow[f] = 1
        return
    cand[f, i, 0] = q
    cand[f, i, 1] = base
    cand[f, i, 2] = lo
    cand[f, i, 3] = hi
    cand[f, i, 4] = nid
    cand[f, i, 5] = kind
    c_count[f] = i + 1


@njit
def _flip(f, bit, bob, inv, ks, pass_base, node, cur_pass, cand, c_count, flips, overflow):
    """Correct Bob's ``bit`` and queue the smallest known odd block of each pass holding it."""
    n = bob.shape[1]
    bob[f, bit] ^= 1
    flips[f] += 1
    for q in range(cur_pass[f] + 1):
        pos = inv[q, bit]
        k = ks[q]
        b = pos // k
        lo = b * k
        hi = min(lo + k, n)
        base = pass_base[q] + b * (2 * k - 1)
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
            _add_candidate(f, q, base, best_lo, best_hi, best_id, 0, cand, c_count, overflow)


@njit
def _step(f, i, bob, perm, inv, ks, pass_base, node, cur_pass, cand, c_count, flips,
          overflow, out, o_count, o_total, o_cap, may_ask):
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
            _flip(f, perm[q, lo], bob, inv, ks, pass_base, node, cur_pass, cand, c_count,
                  flips, overflow)
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
            if may_ask and ls == -1 and o_count[f] < o_cap:
                j = o_total[0]
                out[j, 0] = f
                out[j, 1] = q
                out[j, 2] = lo
                out[j, 3] = mid
                out[j, 4] = base + lid
                o_total[0] = j + 1
                o_count[f] += 1
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


@njit
def _start_pass(f, bob, perm, ks, pass_base, tree_base, node, alice_root, cur_pass,
                next_block):
    """Enter the next pass: Bob's error parity of each of its top-level blocks."""
    n = bob.shape[1]
    q = cur_pass[f] + 1
    cur_pass[f] = q
    next_block[f] = 0
    k = ks[q]
    for b in range((n + k - 1) // k):
        par = alice_root[f, tree_base[q] + b]
        for j in range(b * k, min(b * k + k, n)):
            par ^= bob[f, perm[q, j]]
        node[f, pass_base[q] + b * (2 * k - 1)] = par


@njit
def _open_blocks(f, count, ks, pass_base, node, cur_pass, next_block, cand, c_count,
                 overflow, n):
    """Start searches on up to ``count`` further odd top-level blocks of the current pass."""
    q = cur_pass[f]
    k = ks[q]
    nb = (n + k - 1) // k
    opened = 0
    while opened < count and next_block[f] < nb:
        b = next_block[f]
        base = pass_base[q] + b * (2 * k - 1)
        if node[f, base] == 1:
            _add_candidate(f, q, base, b * k, min(b * k + k, n), 0, 1, cand, c_count, overflow)
            opened += 1
        next_block[f] = b + 1
    return opened


@njit
def cascade_round(bob, perm, inv, ks, pass_base, tree_base, node, alice_root, cur_pass,
                  next_block, cand, c_count, flips, overflow, out, o_count, max_parallel):
    """Run every frame until it waits on an answer or has finished all passes.

    Writes this round's parity questions into ``out[:total]`` as rows
    (frame, pass, start, end, slot), at most ``out.shape[0] // n_frames`` per frame, and
    returns ``total``.
    """
    n_frames, n = bob.shape
    n_passes = ks.shape[0]
    o_cap = out.shape[0] // n_frames
    o_total = np.zeros(1, dtype=np.int64)
    for f in range(n_frames):
        o_count[f] = 0
        if cur_pass[f] >= n_passes - 1 and c_count[f] == 0 and next_block[f] < 0:
            continue  # finished
        while True:
            if cur_pass[f] < 0:
                _start_pass(f, bob, perm, ks, pass_base, tree_base, node, alice_root,
                            cur_pass, next_block)
            # 1. resolve everything known parities allow (flips cascade here).
            changed = True
            while changed:
                changed = False
                i = 0
                while i < c_count[f]:
                    r = _step(f, i, bob, perm, inv, ks, pass_base, node, cur_pass, cand,
                              c_count, flips, overflow, out, o_count, o_total, o_cap,
                              False)
                    if r == REMOVED:
                        last = c_count[f] - 1
                        for c in range(6):
                            cand[f, i, c] = cand[f, last, c]
                        c_count[f] = last
                        changed = True
                    else:
                        i += 1
            # 2. ask: the smallest cascade (only one at a time) and the running top-level
            # searches; open further top-level blocks only while no cascade is pending.
            low = n_passes
            running = 0
            for i in range(c_count[f]):
                if cand[f, i, 5] == 0:
                    low = min(low, cand[f, i, 0])
                else:
                    running += 1
            limit = max_parallel if cur_pass[f] > 0 else n
            if low == n_passes and running < limit:
                _open_blocks(f, limit - running, ks, pass_base, node, cur_pass, next_block,
                             cand, c_count, overflow, n)
            if c_count[f] > 0:
                asked_before = o_count[f]
                for i in range(c_count[f]):
                    if cand[f, i, 5] == 1 or cand[f, i, 0] == low:
                        _step(f, i, bob, perm, inv, ks, pass_base, node, cur_pass, cand,
                              c_count, flips, overflow, out, o_count, o_total, o_cap, True)
                if o_count[f] > asked_before or o_count[f] >= o_cap:
                    break
                continue  # newly opened blocks of one bit resolve without asking
            if cur_pass[f] >= n_passes - 1:
                break
            _start_pass(f, bob, perm, ks, pass_base, tree_base, node, alice_root, cur_pass,
                        next_block)
        if cur_pass[f] >= n_passes - 1 and c_count[f] == 0:
            next_block[f] = -1  # mark finished
    return o_total[0]
