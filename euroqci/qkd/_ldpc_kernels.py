"""numba kernels of LDPC syndrome reconciliation (see :mod:`euroqci.qkd.ldpc`)."""

from __future__ import annotations

import numpy as np

from euroqci.qkd._jit import njit


@njit
def syndromes(words, check_ptr, check_vars):
    """s = H x (mod 2) for each row of ``words`` (uint8[n_frames, n])."""
    n_frames = words.shape[0]
    m = check_ptr.shape[0] - 1
    out = np.zeros((n_frames, m), dtype=np.uint8)
    for f in range(n_frames):
        for c in range(m):
            s = 0
            for e in range(check_ptr[c], check_ptr[c + 1]):
                s ^= words[f, check_vars[e]]
            out[f, c] = s
    return out


_PHI_STEP = 64.0  # table resolution of phi, entries per unit of LLR
_PHI_MAX = 24.0


def phi_table() -> np.ndarray:
    """phi(x) = -ln tanh(x/2) = ln((e^x + 1)/(e^x - 1)) sampled at bin centres, float32."""
    x = (np.arange(int(_PHI_MAX * _PHI_STEP)) + 0.5) / _PHI_STEP
    return (-np.log(np.tanh(x / 2.0))).astype(np.float32)


@njit
def decode_layered_bp(llr, syndrome, check_ptr, check_vars, max_iter, table, patience):
    """Layered belief-propagation decoding of ``x`` with ``H x = syndrome``.

    The check update is the exact sum-product rule in the log domain,
    ``|r_e| = phi(sum_{e' != e} phi(|q_e'|))`` with ``phi(x) = -ln tanh(x/2)`` read from a
    table (``phi_table``), as in hardware decoders; min-sum was tried and fails on these
    irregular codes with high variable degrees (messages overconfident).
    ``llr[f, v]`` = ln P(x_v = 0)/P(x_v = 1) (float32); returns (bits uint8[n_frames, n],
    converged bool[n_frames], iterations int[n_frames]); a frame stops as soon as its hard
    decision satisfies every check (early termination), or gives up once the number of
    unsatisfied checks has not fallen below its best for ``patience`` iterations (a frame
    stuck that long practically never converges; this bounds the cost of failures).
    """
    n_frames, n = llr.shape
    m = check_ptr.shape[0] - 1
    n_edges = check_vars.shape[0]
    top = table.shape[0] - 1
    step = np.float32(_PHI_STEP)
    max_deg = 0
    for c in range(m):
        max_deg = max(max_deg, check_ptr[c + 1] - check_ptr[c])
    bits = np.zeros((n_frames, n), dtype=np.uint8)
    ok = np.zeros(n_frames, dtype=np.bool_)
    iters = np.zeros(n_frames, dtype=np.int64)
    msg = np.zeros(n_edges, dtype=np.float32)
    post = np.zeros(n, dtype=np.float32)
    tmp = np.zeros(max_deg, dtype=np.float32)
    ph = np.zeros(max_deg, dtype=np.float32)
    for f in range(n_frames):
        msg[:] = 0.0
        for v in range(n):
            post[v] = llr[f, v]
        best = m + 1
        since = 0
        for it in range(max_iter):
            unsat = 0
            for c in range(m):
                e0 = check_ptr[c]
                e1 = check_ptr[c + 1]
                total = np.float32(0.0)
                neg = syndrome[f, c]
                hard = syndrome[f, c]
                for e in range(e0, e1):
                    v = check_vars[e]
                    if post[v] < 0:
                        hard ^= 1
                    q = post[v] - msg[e]
                    tmp[e - e0] = q
                    if q < 0:
                        neg ^= 1
                    i = min(int(abs(q) * step), top)
                    ph[e - e0] = table[i]
                    total += table[i]
                unsat += hard
                for e in range(e0, e1):
                    q = tmp[e - e0]
                    x = total - ph[e - e0]
                    i = min(int(max(x, np.float32(0.0)) * step), top)
                    mag = table[i]
                    s = neg ^ (1 if q < 0 else 0)
                    r = -mag if s else mag
                    msg[e] = r
                    post[check_vars[e]] = q + r
            iters[f] = it + 1
            if unsat == 0 and it > 0:
                break
            if unsat < best:
                best = unsat
                since = 0
            else:
                since += 1
                if since >= patience:
                    break
        for v in range(n):
            bits[f, v] = 1 if post[v] < 0 else 0
        good = True
        for c in range(m):
            s = syndrome[f, c]
            for e in range(check_ptr[c], check_ptr[c + 1]):
                s ^= bits[f, check_vars[e]]
            if s:
                good = False
                break
        ok[f] = good
    return bits, ok, iters
