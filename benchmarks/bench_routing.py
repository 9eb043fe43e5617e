"""Benchmark: relay routing on the planned built-in EuroQCI graph.

Run: ``python benchmarks/bench_routing.py [--repeats 200] [--seed 1]``.
Times :func:`euroqci.network.routing.route` and :func:`disjoint_routes` (3 paths) between
random capital pairs with random store levels, and a networkx shortest path on the same
graph as the peer (hop count only, no key-aware rules). Prints medians (ms per call).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import networkx as nx
import numpy as np

from euroqci.network.planning import plan_trusted_nodes
from euroqci.network.routing import disjoint_routes, route
from euroqci.network.scenario import builtin_scenario


def per_call_ms(fn, cases) -> float:
    times = []
    for case in cases:
        t0 = time.perf_counter()
        fn(*case)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    scenario = builtin_scenario("euroqci")
    g = plan_trusted_nodes(scenario.network, scenario.planning).network.graph()
    key = {d["link_id"]: float(rng.uniform(0, 1e6)) for _, _, d in g.edges(data=True)}
    capitals = sorted(s.id for s in scenario.network.sites if s.kind == "capital")
    cases = [tuple(rng.choice(capitals, 2, replace=False)) for _ in range(args.repeats)]
    t_route = per_call_ms(lambda a, b: route(g, a, b, key_available_bits=key, need_bits=256),
                          cases)
    t_multi = per_call_ms(lambda a, b: disjoint_routes(g, a, b, 3, key, 256), cases)
    t_peer = per_call_ms(lambda a, b: nx.shortest_path(g, a, b), cases)
    print(f"graph: {g.number_of_nodes()} nodes, {g.number_of_edges()} links; "
          f"{args.repeats} capital pairs; nproc={os.cpu_count()}; {platform.processor()}")
    print(f"route (widest, then fewest hops): {t_route:.3f} ms median")
    print(f"disjoint_routes (3 paths):        {t_multi:.3f} ms median")
    print(f"networkx shortest_path (peer):    {t_peer:.3f} ms median "
          f"(ratio route/peer {t_route / t_peer:.1f})")


if __name__ == "__main__":
    main()
