"""Routing rules shared by the twin and the KMS (euroqci.network.routing)."""

import itertools
import random

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter
from euroqci.network.routing import disjoint_routes, path_links, route
from euroqci.network.topology import link_id


def graph(edges):
    g = nx.Graph()
    for u, v in edges:
        g.add_edge(u, v, link_id=link_id(u, v))
    return g


# A square A-B-D / A-C-D plus a long detour A-E-F-D.
SQUARE = graph([("A", "B"), ("B", "D"), ("A", "C"), ("C", "D"), ("A", "E"), ("E", "F"),
                ("F", "D")])


def stores(**bits):
    return {link_id(*k.split("_")): v for k, v in bits.items()}


def test_prefers_largest_bottleneck_then_fewest_hops():
    key = stores(A_B=100, B_D=900, A_C=500, C_D=400, A_E=1000, E_F=1000, F_D=1000)
    # widest path is the 3-hop detour (bottleneck 1000) although 2-hop paths exist
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=50) == ["A", "E", "F", "D"]
    key[link_id("E", "F")] = 450
    # now A-C-D has bottleneck 400 < 450: detour still widest
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=50) == ["A", "E", "F", "D"]
    key[link_id("E", "F")] = 300
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=50) == ["A", "C", "D"]


def test_equal_bottleneck_takes_fewest_hops_then_lexicographic():
    key = stores(A_B=500, B_D=500, A_C=500, C_D=500, A_E=500, E_F=500, F_D=500)
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=1) == ["A", "B", "D"]
    # the same answer whatever the insertion order of the graph
    rev = graph(reversed(list(SQUARE.edges)))
    assert route(rev, "A", "D", key_available_bits=key, need_bits=1) == ["A", "B", "D"]


def test_failed_node_and_failed_link_are_avoided():
    key = stores(A_B=500, B_D=500, A_C=400, C_D=400, A_E=100, E_F=100, F_D=100)
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=1,
                 failed_nodes=["B"]) == ["A", "C", "D"]
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=1,
                 failed_links=[("D", "B"), ("C", "A")]) == ["A", "E", "F", "D"]
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=1,
                 failed_nodes=["D"]) is None


def test_none_when_not_enough_key():
    key = stores(A_B=500, B_D=20, A_C=400, C_D=10, A_E=100, E_F=30, F_D=100)
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=31) is None
    assert route(SQUARE, "A", "D", key_available_bits=key, need_bits=30) == ["A", "E", "F", "D"]
    assert route(SQUARE, "A", "D", key_available_bits={}, need_bits=1) is None


def test_unknown_node_and_trivial_route():
    with pytest.raises(InvalidParameter, match="source"):
        route(SQUARE, "Z", "D", key_available_bits={}, need_bits=1)
    assert route(SQUARE, "A", "A", key_available_bits={}, need_bits=1) == ["A"]


def test_disjoint_routes_finds_three_paths():
    key = stores(A_B=500, B_D=500, A_C=400, C_D=400, A_E=100, E_F=100, F_D=100)
    paths = disjoint_routes(SQUARE, "A", "D", 3, key, 50)
    assert paths == [["A", "B", "D"], ["A", "C", "D"], ["A", "E", "F", "D"]]
    assert disjoint_routes(SQUARE, "A", "D", 3, key, 150) == [["A", "B", "D"], ["A", "C", "D"]]
    assert disjoint_routes(SQUARE, "A", "D", 2, key, 50, failed_nodes=["B"]) == [
        ["A", "C", "D"], ["A", "E", "F", "D"]]


def test_disjoint_routes_uses_max_flow_when_greedy_blocks():
    # The widest path S-a-b-T blocks both other routes (S-a-x-T and S-y-b-T) when greedy.
    g = graph([("S", "a"), ("a", "b"), ("b", "T"), ("a", "x"), ("x", "T"), ("S", "y"),
               ("y", "b")])
    key = {lid: 1000.0 for lid in (link_id(*e) for e in g.edges)}
    key[link_id("a", "x")] = key[link_id("y", "b")] = 10.0
    assert route(g, "S", "T", key_available_bits=key, need_bits=5) == ["S", "a", "b", "T"]
    paths = disjoint_routes(g, "S", "T", 2, key, 5)
    assert sorted(paths) == [["S", "a", "x", "T"], ["S", "y", "b", "T"]]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(6, 18), k=st.integers(1, 4))
def test_disjoint_routes_are_node_disjoint_and_feasible(seed, n, k):
    g = nx.gnp_random_graph(n, 0.35, seed=seed)
    g = nx.relabel_nodes(g, {i: f"n{i:02d}" for i in g.nodes})
    rng = random.Random(seed)
    key = {link_id(u, v): float(rng.randrange(7) * 10) for u, v in sorted(g.edges)}
    paths = disjoint_routes(g, "n00", f"n{n - 1:02d}", k, key, 20)
    assert len(paths) <= k
    inner = [set(p[1:-1]) for p in paths]
    for a, b in itertools.combinations(inner, 2):
        assert not a & b
    assert len({tuple(p) for p in paths}) == len(paths)
    for p in paths:
        assert p[0] == "n00" and p[-1] == f"n{n - 1:02d}"
        assert all(key[lid] >= 20 for lid in path_links(p))
    if paths:
        assert route(g, "n00", f"n{n - 1:02d}", key_available_bits=key, need_bits=20) is not None
    # as many paths as exist (up to k): compare with networkx's max-flow on the usable graph
    usable = nx.Graph([lid for lid, bits in key.items() if bits >= 20])
    usable.add_nodes_from(["n00", f"n{n - 1:02d}"])
    if nx.has_path(usable, "n00", f"n{n - 1:02d}"):
        expected = len(list(nx.node_disjoint_paths(usable, "n00", f"n{n - 1:02d}")))
    else:
        expected = 0
    assert len(paths) == min(k, expected)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 8), need=st.integers(0, 60))
def test_route_matches_brute_force(seed, n, need):
    g = nx.gnp_random_graph(n, 0.5, seed=seed)
    g = nx.relabel_nodes(g, {i: f"v{i}" for i in g.nodes})
    rng = random.Random(seed)
    key = {link_id(u, v): float(rng.randrange(0, 100, 10)) for u, v in sorted(g.edges)}
    src, dst = "v0", f"v{n - 1}"
    feasible = [p for p in nx.all_simple_paths(g, src, dst)
                if all(key[lid] >= need for lid in path_links(p))]
    got = route(g, src, dst, key_available_bits=key, need_bits=need)
    if not feasible:
        assert got is None
        return
    best = min(feasible, key=lambda p: (-min(key[lid] for lid in path_links(p)), len(p), p))
    assert got == best
