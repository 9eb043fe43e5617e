"""LDPC mother codes for reconciliation over the binary symmetric channel.

Degree distributions: Elkouss, Leverrier, Alleaume & Boutros, "Efficient reconciliation
protocol for discrete-variable quantum key distribution", ISIT 2009 (arXiv:0901.2140),
Table I: edge-perspective lambda(x) = sum lambda_i x^(i-1), rho(x) = sum rho_i x^(i-1),
optimised by density evolution for the BSC. Parity-check matrices are built by a
progressive-edge-growth (PEG) style greedy construction (Hu, Eleftheriou & Arnold, IEEE
Trans. Inf. Theory 51, 386 (2005)) limited to depth 2: each new edge goes to a least-used
check node not within distance 2 of the variable node, so there are no 4-cycles where the
degrees allow it; degree-2 symbols are laid on a zigzag chain (no cycles among them) and
degree-3 symbols get full PEG (breadth-first search for the farthest check).
Hand-written because no maintained Python package builds irregular QKD
codes from a degree distribution (``ldpc`` and ``pyldpc`` take a matrix or build regular
codes only).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from euroqci.errors import InvalidParameter
from euroqci.qkd._jit import njit

__all__ = ["DEGREE_DISTRIBUTIONS", "LdpcCode", "build_ldpc_code", "code_checks", "design_rate"]

#: rate -> (lambda {degree i: lambda_i}, rho {degree i: rho_i}); ISIT 2009, Table I.
DEGREE_DISTRIBUTIONS: dict[float, tuple[dict[int, float], dict[int, float]]] = {
    0.9: ({2: 0.07689, 3: 0.28096, 5: 0.08933, 9: 0.19620, 12: 0.30631, 21: 0.05031},
          {50: 0.95025, 51: 0.04975}),
    0.85: ({2: 0.04528, 3: 0.20537, 4: 0.05878, 5: 0.094274, 6: 0.08454, 7: 0.01176,
            9: 0.05137, 21: 0.50015},
           {41: 0.54204, 42: 0.45795}),
    0.8: ({2: 0.09420, 3: 0.18088, 6: 0.11972, 7: 0.08550, 8: 0.09816, 17: 0.07194,
           26: 0.34960},
          {29: 0.58807, 30: 0.41193}),
    0.75: ({2: 0.10805, 3: 0.09511, 4: 0.01449, 5: 0.13764, 6: 0.10667, 7: 0.05288,
            28: 0.01107, 31: 0.47408},
           {25: 0.74161, 26: 0.25839}),
    0.7: ({2: 0.05343, 3: 0.29406, 6: 0.00896, 9: 0.15571, 12: 0.12189, 25: 0.19872,
           46: 0.09572, 62: 0.02741, 65: 0.04056, 73: 0.00354},
          {20: 0.76922, 21: 0.23077}),
    0.65: ({2: 0.10451, 3: 0.15652, 4: 0.08057, 5: 0.00056, 9: 0.12151, 13: 0.10485,
            15: 0.10719, 21: 0.00771, 51: 0.31656},
           {2: 0.000578, 15: 0.06089, 16: 0.47001, 21: 0.46852}),
    0.6: ({2: 0.11040, 3: 0.20804, 8: 0.14163, 9: 0.14858, 26: 0.14438, 27: 0.08909,
           46: 0.00748, 71: 0.15038},
          {2: 0.00036, 10: 0.13063, 13: 0.31068, 18: 0.49341, 19: 0.064915}),
    0.55: ({2: 0.16880, 3: 0.20994, 6: 0.18095, 15: 0.03846, 16: 0.02635, 18: 0.23454,
            19: 0.05815, 31: 0.08280},
           {10: 0.27631, 11: 0.72369}),
}


@dataclass(frozen=True)
class LdpcCode:
    """A binary LDPC code as a sparse parity-check matrix H (m x n), stored by checks.

    ``check_vars[check_ptr[c]:check_ptr[c+1]]`` are the variable nodes of check ``c``.
    ``rate`` = 1 - m/n (design rate; H has full rank with overwhelming probability).
    """

    n: int
    m: int
    check_ptr: np.ndarray
    check_vars: np.ndarray
    var_degree: np.ndarray
    design_rate: float

    @property
    def rate(self) -> float:
        return 1.0 - self.m / self.n

    def dense(self) -> np.ndarray:
        """H as a dense uint8 array (for tests on small codes)."""
        h = np.zeros((self.m, self.n), dtype=np.uint8)
        rows = np.repeat(np.arange(self.m), np.diff(self.check_ptr))
        h[rows, self.check_vars] = 1
        return h


def _variable_degrees(n: int, lam: dict[int, float]) -> np.ndarray:
    """Node degrees from the edge-perspective lambda: fraction of nodes ~ lambda_i / i."""
    degs = np.array(sorted(lam), dtype=np.int64)
    node_frac = np.array([lam[d] / d for d in degs])
    node_frac /= node_frac.sum()
    counts = np.floor(node_frac * n).astype(np.int64)
    rest = n - counts.sum()
    order = np.argsort(-(node_frac * n - counts))
    counts[order[:rest]] += 1
    return np.repeat(degs, counts)


@njit
def _free(vchecks, v, j, c):
    for a in range(j):
        if vchecks[v, a] == c:
            return False
    return True


@njit
def _peg_bfs(v, j, vchecks, cvars, cdeg, seen, token, frontier, nxt, m):
    """Full PEG choice for edge ``j`` of ``v``: expand the graph from ``v`` breadth first;
    pick a least-used check among those never reached (if the expansion stops) or else
    among the farthest ones; returns -1 if there is none."""
    nf = 0
    for a in range(j):
        c = vchecks[v, a]
        if seen[c] != token:
            seen[c] = token
            frontier[nf] = c
            nf += 1
    count = nf
    vmax = vchecks.shape[1]
    while True:
        nn = 0
        for i in range(nf):
            c = frontier[i]
            for b in range(cdeg[c]):
                u = cvars[c, b]
                if u == v:
                    continue
                for a in range(vmax):
                    c2 = vchecks[u, a]
                    if c2 < 0:
                        break
                    if seen[c2] != token:
                        seen[c2] = token
                        nxt[nn] = c2
                        nn += 1
        count += nn
        if nn == 0 or count >= m:
            break
        for i in range(nn):
            frontier[i] = nxt[i]
        nf = nn
    best = -1
    best_deg = 1 << 30
    start = np.random.randint(0, m)
    if count < m:  # never reached: any cycle through them would be infinite
        for i in range(m):
            c = (start + i) % m
            if seen[c] != token and cdeg[c] < best_deg:
                best = c
                best_deg = cdeg[c]
    else:  # everything reached: the farthest level (last expansion)
        for i in range(nn):
            c = nxt[(start + i) % nn]
            if cdeg[c] < best_deg and _free(vchecks, v, j, c):
                best = c
                best_deg = cdeg[c]
    return best


@njit
def _peg_depth2(var_deg, m, seed):
    """Greedy edge placement; returns (check_ptr, check_vars)."""
    np.random.seed(seed)
    n = var_deg.shape[0]
    n_edges = var_deg.sum()
    cap = n_edges // m + 8
    cvars = np.full((m, cap), -1, dtype=np.int64)
    cdeg = np.zeros(m, dtype=np.int64)
    vmax = var_deg.max()
    vchecks = np.full((n, vmax), -1, dtype=np.int64)
    stamp = np.full(m, -1, dtype=np.int64)
    seen = np.full(m, -1, dtype=np.int64)
    frontier = np.zeros(m, dtype=np.int64)
    nxt = np.zeros(m, dtype=np.int64)
    token = 0
    order = np.argsort(-var_deg, kind="mergesort")  # high degrees first, while checks are free
    # Degree-2 symbols on a zigzag chain of checks: the degree-2 subgraph is then a path,
    # free of the cycles that make low-weight codewords (as in IRA codes).
    chain = np.random.permutation(m)
    link = 0
    for v in range(n):
        if var_deg[v] == 2 and link < m - 1:
            for j in range(2):
                c = chain[link + j]
                vchecks[v, j] = c
                cvars[c, cdeg[c]] = v
                cdeg[c] += 1
            link += 1
    for t in range(n):
        v = order[t]
        if vchecks[v, 0] >= 0:
            continue
        for j in range(var_deg[v]):
            if var_deg[v] <= 3 and j > 0:
                # low-degree symbols decide the error floor: full PEG (largest local girth)
                token += 1
                c = _peg_bfs(v, j, vchecks, cvars, cdeg, seen, token, frontier, nxt, m)
                if c >= 0:
                    vchecks[v, j] = c
                    cvars[c, cdeg[c]] = v
                    cdeg[c] += 1
                    continue
            # checks within distance 2 of v (and v's own checks) are excluded
            for a in range(j):
                c = vchecks[v, a]
                stamp[c] = t
                for b in range(cdeg[c]):
                    u = cvars[c, b]
                    for a2 in range(vmax):
                        c2 = vchecks[u, a2]
                        if c2 < 0:
                            break
                        stamp[c2] = t
            # least-used allowed check among 64 random ones ("power of many choices"), else
            # a full scan, else (degrees too high to avoid 4-cycles) any non-adjacent check
            best = -1
            best_deg = cap
            for _ in range(64):
                c = np.random.randint(0, m)
                if cdeg[c] < best_deg and stamp[c] != t and _free(vchecks, v, j, c):
                    best = c
                    best_deg = cdeg[c]
            for strict in range(2):
                if best >= 0:
                    break
                start = np.random.randint(0, m)
                for i in range(m):
                    c = (start + i) % m
                    if cdeg[c] >= best_deg or (strict == 0 and stamp[c] == t):
                        continue
                    if _free(vchecks, v, j, c):
                        best = c
                        best_deg = cdeg[c]
            vchecks[v, j] = best
            cvars[best, cdeg[best]] = v
            cdeg[best] += 1
    ptr = np.zeros(m + 1, dtype=np.int64)
    for c in range(m):
        ptr[c + 1] = ptr[c] + cdeg[c]
    flat = np.empty(ptr[m], dtype=np.int64)
    for c in range(m):
        for b in range(cdeg[c]):
            flat[ptr[c] + b] = cvars[c, b]
    return ptr, flat


def design_rate(rate: float) -> float:
    """1 - (sum rho_i/i)/(sum lambda_i/i) of the tabulated distribution for ``rate``."""
    lam, rho = DEGREE_DISTRIBUTIONS[rate]
    return 1.0 - sum(r / i for i, r in rho.items()) / sum(v / i for i, v in lam.items())


def code_checks(n: int, rate: float) -> int:
    """Number of checks m of the length-``n`` code built for ``rate`` (without building it)."""
    return int(round(n * (1.0 - design_rate(rate))))


@functools.lru_cache(maxsize=16)
def build_ldpc_code(n: int, rate: float, seed: int = 0) -> LdpcCode:
    """The mother code of length ``n`` and design rate ``rate`` (a key of
    :data:`DEGREE_DISTRIBUTIONS`), deterministic in ``seed``; cached."""
    if rate not in DEGREE_DISTRIBUTIONS:
        raise InvalidParameter("rate", rate, f"must be one of {sorted(DEGREE_DISTRIBUTIONS)}")
    if n < 200:
        raise InvalidParameter("n", n, "must be >= 200 bits")
    var_deg = _variable_degrees(n, DEGREE_DISTRIBUTIONS[rate][0])
    r_design = design_rate(rate)
    m = code_checks(n, rate)
    ptr, flat = _peg_depth2(var_deg, m, seed)
    return LdpcCode(n=n, m=m, check_ptr=ptr, check_vars=flat,
                    var_degree=np.bincount(flat, minlength=n), design_rate=r_design)
