"""The simulator's compiled router gives exactly the answers of network.routing.route."""

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.network.routing import route
from euroqci.sim.fastroute import Router


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 14), p=st.floats(0.15, 0.8),
       need=st.sampled_from([0.0, 1.0, 5.0]), coarse=st.booleans())
def test_same_path_as_route(seed, n, p, need, coarse):
    rng = np.random.default_rng(seed)
    g = nx.gnp_random_graph(n, p, seed=int(seed % 2**31))
    names = [f"{'XYZ'[i % 3]}{rng.integers(100)}-{i}" for i in range(n)]  # shuffled order
    links = tuple(sorted(tuple(sorted((names[a], names[b]))) for a, b in g.edges))
    nodes = tuple(names)
    # coarse stores make ties in width and hop count, which the tie-break rules must settle
    bits = rng.integers(0, 4, len(links)) * 2.0 if coarse else rng.uniform(0, 10, len(links))
    link_down = rng.random(len(links)) < 0.15
    node_down = rng.random(n) < 0.1
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(links)
    node_ok = ~node_down
    idx = {x: i for i, x in enumerate(nodes)}
    link_ok = np.array([not d and node_ok[idx[a]] and node_ok[idx[b]]
                        for (a, b), d in zip(links, link_down, strict=True)], dtype=bool)
    router = Router(nodes, links)
    key = dict(zip(links, bits.tolist(), strict=True))
    failed_nodes = [x for x, d in zip(nodes, node_down, strict=True) if d]
    failed_links = [lk for lk, d in zip(links, link_down, strict=True) if d]
    for s, t in [(nodes[0], nodes[-1]), (nodes[-1], nodes[n // 2])]:
        if s == t:
            continue
        expected = route(graph, s, t, key_available_bits=key, need_bits=need,
                         failed_nodes=failed_nodes, failed_links=failed_links)
        assert router.route(s, t, bits, need, link_ok, node_ok) == expected
