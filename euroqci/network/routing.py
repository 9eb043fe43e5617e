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
from collections.abc import Iterable, Mapping

import networkx as nx

from euroqci.errors import InvalidParameter
from euroqci.network.topology import LinkId, link_id


def _usable_graph(graph: nx.Graph, key_available_bits: Mapping[LinkId, float], need_bits: float,
                  failed_nodes: Iterable[str], failed_links: Iterable[tuple[str, str]]) -> nx.Graph:
    """The subgraph of usable hops, built in sorted order so that results never depend on
    the insertion order of the input graph. Edge attribute ``bits`` = key in store."""
    down_nodes = set(failed_nodes)
    down_links = {link_id(*lk) for lk in failed_links}
    g = nx.Graph()
    g.add_nodes_from(sorted(n for n in graph.nodes if n not in down_nodes))
    edges = []
    for u, v in graph.edges:
        lid = link_id(u, v)
        if u in down_nodes or v in down_nodes or lid in down_links:
            continue
        bits = float(key_available_bits.get(lid, 0.0))
        if bits >= need_bits:
            edges.append((lid, bits))
    for lid, bits in sorted(edges):
        g.add_edge(*lid, bits=bits)
    return g


def _check_ends(graph: nx.Graph, source: str, target: str) -> None:
    for name, node in (("source", source), ("target", target)):
        if node not in graph:
            raise InvalidParameter(name, node, "a node of the network graph")


def _widest_bottleneck(g: nx.Graph, source: str, target: str) -> float | None:
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
        for v, attr in g[u].items():
            w = min(-neg_w, attr["bits"])
            if v not in done and w > best.get(v, -1.0):
                best[v] = w
                heapq.heappush(heap, (-w, v))
    return None


def _fewest_hops_lexmin(g: nx.Graph, source: str, target: str) -> list[str] | None:
    """Fewest-hop path, ties broken by the lexicographically smallest node sequence."""
    dist = nx.single_source_shortest_path_length(g, target)
    if source not in dist:
        return None
    path = [source]
    while path[-1] != target:
        d = dist[path[-1]]
        path.append(min(v for v in g[path[-1]] if dist.get(v) == d - 1))
    return path


def _route_in(g: nx.Graph, source: str, target: str) -> list[str] | None:
    if source not in g or target not in g:
        return None
    if source == target:
        return [source]
    width = _widest_bottleneck(g, source, target)
    if width is None:
        return None
    wide = nx.Graph()
    wide.add_nodes_from(g.nodes)
    wide.add_edges_from((u, v) for u, v, b in g.edges(data="bits") if b >= width)
    return _fewest_hops_lexmin(wide, source, target)


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
    g = _usable_graph(graph, key_available_bits, need_bits, failed_nodes, failed_links)
    return _route_in(g, source, target)


def disjoint_routes(graph: nx.Graph, source: str, target: str, n_paths: int,
                    key_available_bits: Mapping[LinkId, float], need_bits: float, *,
                    failed_nodes: Iterable[str] = (),
                    failed_links: Iterable[tuple[str, str]] = ()) -> list[list[str]]:
    """Up to ``n_paths`` node-disjoint paths (no shared intermediate node), each with at
    least ``need_bits`` on every hop (each XOR share is as long as the key).

    Greedy first: repeatedly take :func:`route` and remove its intermediate nodes (widest
    paths first). If that finds fewer than ``n_paths``, the maximum set of node-disjoint
    paths (max-flow, networkx) is used instead when it is larger, shortest paths first.
    Fewer than ``n_paths`` paths are returned when no more exist; the caller decides.
    """
    _check_ends(graph, source, target)
    if n_paths < 1:
        raise InvalidParameter("n_paths", n_paths, "must be >= 1")
    if source == target:
        raise InvalidParameter("target", target, "must differ from source for multipath")
    g = _usable_graph(graph, key_available_bits, need_bits, failed_nodes, failed_links)
    if source not in g or target not in g:
        return []
    greedy: list[list[str]] = []
    work = g.copy()
    while len(greedy) < n_paths:
        path = _route_in(work, source, target)
        if path is None:
            break
        greedy.append(path)
        if len(path) == 2:
            work.remove_edge(source, target)
        work.remove_nodes_from(path[1:-1])
    if len(greedy) >= n_paths or not nx.has_path(g, source, target):
        return greedy
    flow = sorted(nx.node_disjoint_paths(g, source, target), key=lambda p: (len(p), p))
    return flow[:n_paths] if len(flow) > len(greedy) else greedy


def path_links(path: list[str]) -> list[LinkId]:
    """The link ids along a path, in order."""
    return [link_id(u, v) for u, v in zip(path, path[1:], strict=False)]
