"""numba kernels that build the LDPC mother codes (see :mod:`euroqci.qkd.ldpc_codes`).

Two steps. ``peg_depth2`` places the edges of a Tanner graph with given variable degrees:
a progressive-edge-growth (PEG) style greedy construction (Hu, Eleftheriou & Arnold, IEEE
Trans. Inf. Theory 51, 386 (2005)) limited to depth 2: each new edge goes to a least-used
check node not within distance 2 of the variable node, so there are no 4-cycles where the
degrees allow it; degree-2 symbols are laid on a zigzag chain (no cycles among them) and
degree-3 symbols get full PEG (breadth-first search for the farthest check). Its cost
grows ~quadratically with the length (> 6 min at n = 10^5), so long codes are
*quasi-cyclic lifts* of a PEG base graph (protograph): ``circulant_shifts`` replaces each
base edge by a Z x Z circulant permutation, its shift chosen greedily so that no 4-cycle
and as few 6-cycles as possible close in the lifted graph (a cycle of the lift projects on
a closed walk of the base graph, so only base cycles need checking; Fossorier, IEEE Trans.
Inf. Theory 50, 1788 (2004), Thm. 2), and ``lift`` expands the graph.
Hand-written because no maintained Python package builds irregular QKD codes from a degree
distribution (``ldpc`` and ``pyldpc`` take a matrix or build regular codes only).
"""

from __future__ import annotations

import numpy as np

from euroqci.qkd._jit import njit

__all__ = ["circulant_shifts", "lift", "peg_depth2"]


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
def peg_depth2(var_deg, m, seed, zigzag=True):
    """Greedy edge placement of a Tanner graph with variable degrees ``var_deg`` and ``m``
    checks; returns (check_ptr, check_vars)."""
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
        if zigzag and var_deg[v] == 2 and link < m - 1:
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


@njit
def circulant_shifts(check_ptr, check_vars, var_order, z, max_degree_6, max_cycle_2,
                     seed):
    """A circulant shift in [0, z) per base edge (in ``check_vars`` order).

    Variables are taken in ``var_order``; each edge gets the shift that closes the fewest
    4-cycles in the lift, then the fewest 6-cycles (counted only for variables of degree
    <= ``max_degree_6``), ties broken from a random start. Degree-2 symbols come first
    (low degrees first in ``var_order``): once they outnumber the checks (R0 >= 0.75)
    they form cycles, and a cycle of L degree-2 symbols whose lifted shifts add up to 0
    mod z is z codewords of weight L (measured at n = 1e5, Z = 25, R0 = 0.75: 64 of 1000
    frames decoded to such weight-3/4 words); so the second edge of each avoids, before
    anything else, closing such a cycle of up to ``max_cycle_2`` symbols. Returns (shifts,
    4-cycles closed, 6-cycles closed) -- the counts are of base cycles whose lifted shift
    sum is 0 mod z, each of which yields z cycles in the lift.
    """
    np.random.seed(seed)
    m_b = check_ptr.shape[0] - 1
    n_e = check_vars.shape[0]
    n_b = var_order.shape[0]
    edge_check = np.empty(n_e, dtype=np.int64)
    for c in range(m_b):
        for e in range(check_ptr[c], check_ptr[c + 1]):
            edge_check[e] = c
    var_ptr = np.zeros(n_b + 1, dtype=np.int64)
    for e in range(n_e):
        var_ptr[check_vars[e] + 1] += 1
    for v in range(n_b):
        var_ptr[v + 1] += var_ptr[v]
    fill = var_ptr[:-1].copy()
    var_edge = np.empty(n_e, dtype=np.int64)
    for e in range(n_e):
        v = check_vars[e]
        var_edge[fill[v]] = e
        fill[v] += 1
    shift = np.full(n_e, -1, dtype=np.int64)
    mark = np.full(m_b, -1, dtype=np.int64)  # shift of (c, v) for the checks v has so far
    cnt4 = np.zeros(z, dtype=np.int64)
    cnt6 = np.zeros(z, dtype=np.int64)
    closed4 = 0
    closed6 = 0
    # the checks joined by the degree-2 symbols placed so far: neighbour and displacement
    # (check copy i of x reaches check copy i + d of y through the symbol)
    cap = 0
    for c in range(m_b):
        cap = max(cap, check_ptr[c + 1] - check_ptr[c])
    adj = np.zeros((m_b, cap), dtype=np.int64)
    adj_d = np.zeros((m_b, cap), dtype=np.int64)
    adj_n = np.zeros(m_b, dtype=np.int64)
    cnt2 = np.zeros(z, dtype=np.int64)
    on_path = np.zeros(m_b, dtype=np.bool_)
    stack_c = np.zeros(max_cycle_2 + 1, dtype=np.int64)
    stack_i = np.zeros(max_cycle_2 + 1, dtype=np.int64)
    stack_d = np.zeros(max_cycle_2 + 1, dtype=np.int64)
    for t in range(n_b):
        v = var_order[t]
        deep = var_ptr[v + 1] - var_ptr[v] <= max_degree_6
        two = var_ptr[v + 1] - var_ptr[v] == 2
        for a in range(var_ptr[v], var_ptr[v + 1]):
            e = var_edge[a]
            c = edge_check[e]
            cnt4[:] = 0
            cnt6[:] = 0
            for e1 in range(check_ptr[c], check_ptr[c + 1]):  # v - c - v1
                v1 = check_vars[e1]
                s1 = shift[e1]
                if v1 == v or s1 < 0:
                    continue
                for a2 in range(var_ptr[v1], var_ptr[v1 + 1]):  # v1 - c2
                    e2 = var_edge[a2]
                    c2 = edge_check[e2]
                    s2 = shift[e2]
                    if c2 == c or s2 < 0:
                        continue
                    if mark[c2] >= 0:  # 4-cycle v - c - v1 - c2 - v
                        cnt4[(s1 - s2 + mark[c2]) % z] += 1
                    if not deep:
                        continue
                    for e3 in range(check_ptr[c2], check_ptr[c2 + 1]):  # c2 - v2
                        v2 = check_vars[e3]
                        s3 = shift[e3]
                        if v2 == v1 or v2 == v or s3 < 0:
                            continue
                        for a4 in range(var_ptr[v2], var_ptr[v2 + 1]):  # v2 - c3 - v
                            e4 = var_edge[a4]
                            c3 = edge_check[e4]
                            if c3 == c2 or c3 == c or mark[c3] < 0 or shift[e4] < 0:
                                continue
                            cnt6[(s1 - s2 + s3 - shift[e4] + mark[c3]) % z] += 1
            cnt2[:] = 0
            second = two and a == var_ptr[v] + 1
            c1 = edge_check[var_edge[var_ptr[v]]]
            s_first = shift[var_edge[var_ptr[v]]]
            # degree-2 cycles c1 - v - c - ... - c1 of up to max_cycle_2 symbols, deepening
            # while cheap; a cycle of L symbols is counted once per depth >= L, so the
            # shortest weigh most
            for depth in range(1, max_cycle_2 + 1 if second else 1):
                steps = _cycles_2(c, c1, s_first, z, adj, adj_d, adj_n, on_path,
                                  stack_c[:depth + 1], stack_i, stack_d, cnt2)
                if steps > 20_000:
                    break
            best = -1
            best_cost = 1 << 62
            start = np.random.randint(0, z)
            for i in range(z):
                s = (start + i) % z
                cost = cnt2[s] * (1 << 40) + cnt4[s] * (1 << 31) + cnt6[s]
                if cost < best_cost:
                    best = s
                    best_cost = cost
                    if cost == 0:
                        break
            shift[e] = best
            mark[c] = best
            if second:
                d = s_first - best  # check copy i of c1 -> copy i + d of c
                adj[c1, adj_n[c1]] = c
                adj_d[c1, adj_n[c1]] = d
                adj_n[c1] += 1
                adj[c, adj_n[c]] = c1
                adj_d[c, adj_n[c]] = -d
                adj_n[c] += 1
            closed4 += cnt4[best]
            closed6 += cnt6[best]
        for a in range(var_ptr[v], var_ptr[v + 1]):
            mark[edge_check[var_edge[a]]] = -1
    return shift, closed4, closed6


@njit
def _cycles_2(start, target, s_first, z, adj, adj_d, adj_n, on_path, stack_c, stack_i,
              stack_d, cnt2):
    """Count, per shift b of the second edge (at ``start``) of a degree-2 symbol whose
    first edge (at ``target``) has shift ``s_first``, the paths start -> target of at most
    len(stack_c) - 1 degree-2 symbols that would close a lifted cycle (displacement
    s_first - b + D = 0 mod z: b = s_first + D); returns the number of search steps."""
    depth_max = stack_c.shape[0] - 1
    stack_c[0] = start
    stack_i[0] = 0
    stack_d[0] = 0
    on_path[start] = True
    top = 0
    steps = 0
    while top >= 0:
        steps += 1
        x = stack_c[top]
        if stack_i[top] >= adj_n[x] or top == depth_max:
            on_path[x] = False
            top -= 1
            continue
        y = adj[x, stack_i[top]]
        d = stack_d[top] + adj_d[x, stack_i[top]]
        stack_i[top] += 1
        if y == target:
            cnt2[(s_first + d) % z] += 1
        elif not on_path[y]:
            top += 1
            stack_c[top] = y
            stack_i[top] = 0
            stack_d[top] = d
            on_path[y] = True
    return steps


@njit
def lift(check_ptr, check_vars, shifts, z):
    """The z-fold lift: base edge (c, v) with shift s becomes the edges
    (c z + i, v z + (i + s) mod z), i = 0..z-1; returns (check_ptr, check_vars)."""
    m_b = check_ptr.shape[0] - 1
    ptr = np.zeros(m_b * z + 1, dtype=np.int64)
    out = np.empty(check_vars.shape[0] * z, dtype=np.int64)
    k = 0
    for c in range(m_b):
        for i in range(z):
            for e in range(check_ptr[c], check_ptr[c + 1]):
                out[k] = check_vars[e] * z + (i + shifts[e]) % z
                k += 1
            ptr[c * z + i + 1] = k
    return ptr, out
