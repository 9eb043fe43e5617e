"""Routing of relayed key over the trusted-node graph: the ONE set of rules used by the
digital twin (virtual time) and the KMS (wall-clock time).

Rules of :func:`route`:

1. a hop is usable only if its link and both its nodes are up and its store holds at least
   ``need_bits`` (one-time pad: every hop spends exactly the relayed key length);
2. among usable paths, take the one whose bottleneck (smallest store along the path) is the
   largest (widest path), so relaying drains the fullest stores first;
3. among those, the one with fewest hops;
4. among those, the lexicographically smallest sequence of node ids (deterministic).

:func:`disjoint_routes` returns node-disjoint paths for multipath relay with XOR shares
(no single trusted node sees the key; Salvail et al., J. Comput. Secur. 18, 61, 2010).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping

import networkx as nx

from euroqci.errors import InvalidParameter
from euroqci.network.topology import LinkId, link_id

Adjacency = dict[str, dict[str, float]]


def _usable(graph: nx.Graph, key_available_bits: Mapping[LinkId, float], need_bits: float,
            failed_nodes: Iterable[str], failed_links: Iterable[tuple[str, str]]) -> Adjacency:
    """Adjacency of usable hops: node -> {neighbour: bits in the link's store}. Plain dicts
    (not a networkx graph) because the KMS calls this for every relay request."""
    down_nodes = set(failed_nodes)
    down_links = {link_id(*lk) for lk in failed_links}
    adj: Adjacency = {n: {} for n in graph.nodes if n not in down_nodes}
    get = key_available_bits.get
    for u, v in graph.edges:
        if u in down_nodes or v in down_nodes:
            continue
        lid = (u, v) if u < v else (v, u)
        if lid in down_links:
            continue
        bits = float(get(lid, 0.0))
        if bits >= need_bits:
            adj[u][v] = bits
            adj[v][u] = bits
    return adj


def _check_ends(graph: nx.Graph, source: str, target: str) -> None:
    for name, node in (("source", source), ("target", target)):
        if node not in graph:
            raise InvalidParameter(name, node, "a node of the network graph")


def _widest_bottleneck(adj: Adjacency, source: str, target: str) -> float | None:
    """Largest achievable bottleneck from source to target (modified Dijkstra, max-min).

    Hand-written: networkx has no widest-path routine.
    """
    best = {source: float("inf")}
    heap = [(-float("inf"), source)]
    done = set()
    while heap:
        neg_w, u = heapq.heappop(heap)
        if u in done:
            continue
        if u == target:
            return -neg_w
        done.add(u)
        for v, bits in adj[u].items():
            w = min(-neg_w, bits)
            if v not in done and w > best.get(v, -1.0):
                best[v] = w
                heapq.heappush(heap, (-w, v))
    return None


def _fewest_hops_lexmin(adj: Adjacency, source: str, target: str,
                        width: float) -> list[str] | None:
    """Fewest-hop path over hops holding >= ``width`` bits, ties broken by the
    lexicographically smallest node sequence (BFS from the target, then a greedy walk)."""
    dist = {target: 0}
    frontier = [target]
    while frontier and source not in dist:
        nxt = []
        for u in frontier:
            for v, bits in adj[u].items():
                if bits >= width and v not in dist:
                    dist[v] = dist[u] + 1
                    nxt.append(v)
        frontier = nxt
    if source not in dist:
        return None
    path = [source]
    while path[-1] != target:
        u = path[-1]
        path.append(min(v for v, bits in adj[u].items()
                        if bits >= width and dist.get(v) == dist[u] - 1))
    return path


def _route_in(adj: Adjacency, source: str, target: str) -> list[str] | None:
    if source not in adj or target not in adj:
        return None
    if source == target:
        return [source]
    width = _widest_bottleneck(adj, source, target)
    if width is None:
        return None
    return _fewest_hops_lexmin(adj, source, target, width)


def route(graph: nx.Graph, source: str, target: str, *,
          key_available_bits: Mapping[LinkId, float], need_bits: float,
          failed_nodes: Iterable[str] = (), failed_links: Iterable[tuple[str, str]] = ()
          ) -> list[str] | None:
    """The relay path from ``source`` to ``target`` (node ids, both ends included), or None
    when no path has ``need_bits`` of key on every hop. See the module rules.

    ``key_available_bits`` maps :func:`link_id` to the bits in that link's store (a missing
    link holds none). A failed source or target gives None.
    """
    _check_ends(graph, source, target)
    if need_bits < 0:
        raise InvalidParameter("need_bits", need_bits, "must be >= 0")
    adj = _usable(graph, key_available_bits, need_bits, failed_nodes, failed_links)
    return _route_in(adj, source, target)


def disjoint_routes(graph: nx.Graph, source: str, target: str, n_paths: int,
                    key_available_bits: Mapping[LinkId, float], need_bits: float, *,
                    failed_nodes: Iterable[str] = (),
                    failed_links: Iterable[tuple[str, str]] = ()) -> list[list[str]]:
    """Up to ``n_paths`` node-disjoint paths (no shared intermediate node), each with at
    least ``need_bits`` on every hop (each XOR share is as long as the key).

    Greedy first: repeatedly take :func:`route` and remove its intermediate nodes (widest
    paths first). If that finds fewer than ``n_paths``, the maximum set of node-disjoint
    paths (unit max-flow, :func:`_max_disjoint`) is used instead when it is larger, shortest
    paths first.
    Fewer than ``n_paths`` paths are returned when no more exist; the caller decides.
    """
    _check_ends(graph, source, target)
    if n_paths < 1:
        raise InvalidParameter("n_paths", n_paths, "must be >= 1")
    if source == target:
        raise InvalidParameter("target", target, "must differ from source for multipath")
    adj = _usable(graph, key_available_bits, need_bits, failed_nodes, failed_links)
    if source not in adj or target not in adj:
        return []
    greedy: list[list[str]] = []
    work = {u: dict(nbrs) for u, nbrs in adj.items()}
    while len(greedy) < n_paths:
        path = _route_in(work, source, target)
        if path is None:
            break
        greedy.append(path)
        if len(path) == 2:
            del work[source][target], work[target][source]
        for inner in path[1:-1]:
            for v in work.pop(inner):
                work[v].pop(inner, None)
    # no more paths than the usable degree of either end can carry
    bound = min(n_paths, len(adj[source]), len(adj[target]))
    if len(greedy) >= bound or not greedy:
        return greedy
    flow = _max_disjoint(adj, source, target, n_paths)
    return flow if len(flow) > len(greedy) else greedy


def _max_disjoint(adj: Adjacency, s: str, t: str, k: int) -> list[list[str]]:
    """Up to k node-disjoint s-t paths, as many as exist: unit-capacity max-flow on the
    node-split graph (Edmonds-Karp, stopping after k augmenting paths), fewest hops first.

    Hand-written: networkx's node_disjoint_paths rebuilds an auxiliary and a residual
    network on every call, ~30x slower here, and the KMS calls this per relayed key.
    """
    cap: dict[tuple, int] = {}
    nbrs: dict[tuple, list] = {}

    def arc(x: tuple, y: tuple, c: int) -> None:
        cap[(x, y)] = c
        cap.setdefault((y, x), 0)
        nbrs.setdefault(x, []).append(y)
        nbrs.setdefault(y, []).append(x)

    for v in sorted(adj):
        arc((v, 0), (v, 1), k if v in (s, t) else 1)  # (v, 0) in-node, (v, 1) out-node
    for u in sorted(adj):
        for v in sorted(adj[u]):
            arc((u, 1), (v, 0), 1)
    src, snk = (s, 1), (t, 0)
    for _ in range(k):
        parent = {src: src}
        queue = deque([src])
        while queue and snk not in parent:
            x = queue.popleft()
            for y in nbrs[x]:
                if y not in parent and cap[(x, y)] > 0:
                    parent[y] = x
                    queue.append(y)
        if snk not in parent:
            break
        y = snk
        while y != src:
            x = parent[y]
            cap[(x, y)] -= 1
            cap[(y, x)] += 1
            y = x
    paths = []
    for first in sorted(adj[s]):
        if cap[((s, 1), (first, 0))] != 0:
            continue  # no flow on s -> first
        path = [s, first]
        while path[-1] != t:
            u = path[-1]
            path.append(min(v for v in adj[u] if cap[((u, 1), (v, 0))] == 0))
        paths.append(path)
    return sorted(paths, key=lambda p: (len(p), p))


def path_links(path: list[str]) -> list[LinkId]:
    """The link ids along a path, in order."""
    return [link_id(u, v) for u, v in zip(path, path[1:], strict=False)]
