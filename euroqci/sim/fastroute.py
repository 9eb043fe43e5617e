"""A compiled twin of :func:`euroqci.network.routing.route` for the simulator's inner loop.

Same rules, same answer (``tests/sim/test_fastroute.py`` checks it against ``route`` on
random graphs, stores and failures): usable hops are up and hold at least ``need_bits``;
take the widest path (largest bottleneck store), then the fewest hops, then the
lexicographically smallest node sequence. ``route`` builds a Python dict of the usable hops
from the graph on every call and searches it in pure Python (~20x slower per call on the
built-in network, docs/benchmarks.md); this version works on arrays prepared once per run
(compressed adjacency) in compiled code, so re-routing thousands of demands over thousands
of links stays a small part of a run.
"""

from __future__ import annotations

import heapq

import numba
import numpy as np


class Router:
    """Routes over a fixed graph: ``node_ids`` (any order) and links as index pairs."""

    def __init__(self, node_ids: tuple[str, ...], link_ids: tuple[tuple[str, str], ...]):
        index = {n: i for i, n in enumerate(node_ids)}
        a = np.array([index[x] for x, _ in link_ids], dtype=np.int64)
        b = np.array([index[y] for _, y in link_ids], dtype=np.int64)
        ends = np.concatenate([a, b])
        order = np.argsort(ends, kind="stable")
        self.indptr = np.zeros(len(node_ids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=len(node_ids)), out=self.indptr[1:])
        self.nbr = np.concatenate([b, a])[order]
        self.edge = np.concatenate([np.arange(len(a)), np.arange(len(a))])[order].astype(np.int64)
        # rank of each node id in sorted order: the lexicographic tie-break of route()
        self.rank = np.empty(len(node_ids), dtype=np.int64)
        self.rank[np.argsort(np.array(node_ids, dtype=object), kind="stable")] = np.arange(
            len(node_ids))
        self.node_ids = node_ids
        self.index = index

    def route(self, source: str, target: str, store_bits: np.ndarray, need_bits: float,
              link_ok: np.ndarray, node_ok: np.ndarray) -> list[str] | None:
        """Node ids of the path, or None (see :func:`euroqci.network.routing.route`)."""
        s, t = self.index[source], self.index[target]
        if not (node_ok[s] and node_ok[t]):
            return None
        if s == t:
            return [source]
        usable = link_ok & (store_bits >= need_bits)
        path = _route(self.indptr, self.nbr, self.edge, self.rank, store_bits, usable, node_ok,
                      s, t)
        return None if path.size == 0 else [self.node_ids[i] for i in path]


@numba.njit(cache=True, nogil=True)
def _route(indptr, nbr, edge, rank, bits, usable, node_ok, s, t):
    n = indptr.shape[0] - 1
    # 1. widest bottleneck (max-min Dijkstra)
    best = np.full(n, -1.0)
    done = np.zeros(n, dtype=np.bool_)
    best[s] = np.inf
    heap = [(-np.inf, s)]
    width = -1.0
    while len(heap) > 0:
        neg_w, u = heapq.heappop(heap)
        if done[u]:
            continue
        if u == t:
            width = -neg_w
            break
        done[u] = True
        for k in range(indptr[u], indptr[u + 1]):
            v, e = nbr[k], edge[k]
            if not usable[e] or not node_ok[v] or done[v]:
                continue
            w = min(-neg_w, bits[e])
            if w > best[v]:
                best[v] = w
                heapq.heappush(heap, (-w, v))
    if width < 0.0:
        return np.zeros(0, dtype=np.int64)
    # 2. hop distances to the target over hops at least that wide (BFS)
    dist = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    dist[t] = 0
    queue[0] = t
    head, tail = 0, 1
    while head < tail:
        u = queue[head]
        head += 1
        for k in range(indptr[u], indptr[u + 1]):
            v, e = nbr[k], edge[k]
            if usable[e] and node_ok[v] and bits[e] >= width and dist[v] < 0:
                dist[v] = dist[u] + 1
                queue[tail] = v
                tail += 1
    # 3. walk down the distances, smallest node id first
    path = np.empty(dist[s] + 1, dtype=np.int64)
    path[0] = s
    u = s
    for h in range(1, dist[s] + 1):
        pick = -1
        for k in range(indptr[u], indptr[u + 1]):
            v, e = nbr[k], edge[k]
            if (usable[e] and node_ok[v] and bits[e] >= width and dist[v] == dist[u] - 1
                    and (pick < 0 or rank[v] < rank[pick])):
                pick = v
        path[h] = pick
        u = pick
    return path
