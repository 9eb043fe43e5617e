"""Digital-twin benchmarks (results in docs/benchmarks.md, "Digital twin").

    python benchmarks/bench_simulate.py builtin --days 30 --repeats 3
    python benchmarks/bench_simulate.py scaling --days 7 --factors 1,2,4,7,10
    python benchmarks/bench_simulate.py router              # compiled router vs route()
    python benchmarks/bench_simulate.py chain --days 1      # our side of the peer comparison
    /path/to/peer-venv/bin/python benchmarks/peer_sequence.py   # SeQUeNCe on the same chain

Medians of repeated runs; the machine is shared, so quote ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def bench_builtin(days: float, repeats: int) -> dict:
    from euroqci.sim.engine import SimConfig
    from euroqci.sim.runner import load, run_scenario

    scenario = load(None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EUROQCI_CACHE_DIR"] = tmp  # the first repeat computes the passes (cold)
        for r in range(repeats):
            t0 = time.perf_counter()
            out = run_scenario(
                scenario, SimConfig(days=days, step_s=10.0, seed=1), out_dir=Path(tmp) / "out"
            )
            rows.append({**out.timings_s, "total_s": time.perf_counter() - t0, "repeat": r})
            print(rows[-1], flush=True)
    m = out.built.model
    return {
        "days": days,
        "steps": int(days * 8640),
        "sites": m.n_nodes,
        "links": m.n_links,
        "demands": m.n_demands,
        "cold": rows[0],
        "median_warm_total_s": statistics.median(r["total_s"] for r in rows[1:] or rows),
        "median_simulate_s": statistics.median(r["simulate_s"] for r in rows),
        "served_fraction": out.summary["totals"]["served_fraction"],
        "runs": rows,
    }


def generated_model(n_nodes: int, n_demands: int, seed: int = 0):
    """A planar mesh like a national-plus-backbone QKD network: random sites in a
    2,500 x 2,500 km square joined by their Delaunay edges (longest third dropped, so
    ~1.5-2 links per node), lengths = distance x 1.3 capped to a 20 dB span (100 km)
    like planned trusted-node spans; demands from random sites to the nearest of n/20 hubs."""
    from scipy.spatial import Delaunay

    from euroqci.network.topology import QkdDevice
    from euroqci.sim.build import fiber_rates_bps
    from euroqci.sim.model import SimModel

    rng = np.random.default_rng(seed)
    side_km = 2500.0 * np.sqrt(n_nodes / 562.0)  # keep the density of the built-in scenario
    xy = rng.uniform(0, side_km, size=(n_nodes, 2))
    tri = Delaunay(xy)
    edges = {
        tuple(sorted((int(s[i]), int(s[j]))))
        for s in tri.simplices
        for i, j in ((0, 1), (1, 2), (0, 2))
    }
    edges = sorted(edges)
    length = np.array([np.hypot(*(xy[a] - xy[b])) for a, b in edges])
    keep = length <= np.quantile(length, 0.67)
    import networkx as nx

    g = nx.Graph([e for e, k in zip(edges, keep, strict=True) if k])
    g.add_nodes_from(range(n_nodes))
    comps = sorted(nx.connected_components(g), key=len, reverse=True)
    for comp in comps[1:]:  # join stragglers to the main component by their shortest edge
        best = min(
            (
                e
                for e, k in zip(edges, keep, strict=True)
                if not k and ((e[0] in comp) != (e[1] in comp))
            ),
            key=lambda e: np.hypot(*(xy[e[0]] - xy[e[1]])),
        )
        g.add_edge(*best)
    names = [f"N{i:05d}" for i in range(n_nodes)]
    link_ids = tuple(sorted(tuple(sorted((names[a], names[b]))) for a, b in g.edges))
    idx = {n: i for i, n in enumerate(names)}
    km = np.minimum(
        np.array([np.hypot(*(xy[idx[a]] - xy[idx[b]])) for a, b in link_ids]) * 1.3, 100.0
    )
    rate = fiber_rates_bps(0.2 * km, QkdDevice())
    hubs = rng.choice(n_nodes, size=max(1, n_nodes // 20), replace=False)
    src = rng.choice(n_nodes, size=n_demands, replace=True)
    ends = []
    for s in src:
        h = hubs[np.argmin(np.hypot(*(xy[hubs] - xy[s]).T))]
        ends.append((names[s], names[h if h != s else hubs[(list(hubs).index(h) + 1) % len(hubs)]]))
    L, D = len(link_ids), len(ends)
    return SimModel(
        f"generated-{n_nodes}",
        tuple(names),
        link_ids,
        ("fiber",) * L,
        rate,
        np.full(L, 1e9),
        km,
        0.2 * km,
        tuple(ends),
        rng.choice([256.0, 2560.0, 1e4], size=D),
        rng.choice([1.0, 10.0, 60.0], size=D),
        link_mtbf_s=2190.0 * 3600 * 1000 / km,
        link_mttr_s=np.full(L, 12 * 3600.0),
        node_mtbf_s=np.full(n_nodes, 5e4 * 3600),
        node_mttr_s=np.full(n_nodes, 4 * 3600.0),
    )


def bench_scaling(days: float, factors: list[float], repeats: int) -> dict:
    from euroqci.sim.engine import SimConfig, simulate

    rows = []
    simulate(generated_model(100, 30), SimConfig(days=0.1))  # compile outside the timings
    for f in factors:
        model = generated_model(int(562 * f), int(137 * f))
        times, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            r = simulate(model, SimConfig(days=days, step_s=10.0, seed=1))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        rows.append(
            {
                "factor": f,
                "nodes": model.n_nodes,
                "links": model.n_links,
                "demands": model.n_demands,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "min_cpu_s": min(cpu),
                "route_calls": r.route_calls,
                "failures": r.n_failures,
                "served_fraction": float(r.served_bits.sum() / r.requested_bits.sum()),
            }
        )
        print(rows[-1], flush=True)
    size = np.array([r["links"] + r["demands"] for r in rows], dtype=float)
    slopes = {
        k: float(np.polyfit(np.log(size), np.log([r[k] for r in rows]), 1)[0])
        for k in ("median_s", "min_s", "min_cpu_s")
    }
    return {"days": days, "rows": rows, "loglog_slope": slopes}


def plot_scaling(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["rows"]
    size = np.array([r["links"] + r["demands"] for r in rows])
    t = np.array([r["min_cpu_s"] for r in rows])
    wall = np.array([r["median_s"] for r in rows])
    slope = res["loglog_slope"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(size, t, "o-", label=f"CPU time, best of runs (slope {slope['min_cpu_s']:.2f})")
    ax.loglog(size, wall, "s:", ms=4, label=f"wall time, median (slope {slope['median_s']:.2f})")
    ax.loglog(size, t[0] * size / size[0], "k--", lw=0.8, label="linear")
    for r, x, y in zip(rows, size, t, strict=True):
        ax.annotate(
            f"x{r['factor']:g}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7
        )
    ax.set_xlabel("links + demands")
    ax.set_ylabel(f"time for {res['days']:g} simulated days (s)")
    ax.set_title("Digital twin: cost vs network size")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def chain_model():
    """The peer-comparison chain: 4 nodes, 3 fiber links of 50 km (10 dB), one end-to-end
    demand of 256-bit keys every second."""
    from euroqci.network.topology import QkdDevice
    from euroqci.sim.build import fiber_rates_bps
    from euroqci.sim.model import SimModel

    km = np.full(3, 50.0)
    return SimModel(
        "chain",
        ("A", "B", "C", "D"),
        (("A", "B"), ("B", "C"), ("C", "D")),
        ("fiber",) * 3,
        fiber_rates_bps(0.2 * km, QkdDevice()),
        np.full(3, 1e9),
        km,
        0.2 * km,
        (("A", "D"),),
        np.array([256.0]),
        np.array([1.0]),
    )


def bench_chain(days: float, step_s: float, repeats: int) -> dict:
    from euroqci.sim.engine import SimConfig, simulate

    model = chain_model()
    simulate(model, SimConfig(days=0.01, step_s=step_s))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        simulate(model, SimConfig(days=days, step_s=step_s))
        times.append(time.perf_counter() - t0)
    wall = statistics.median(times)
    return {
        "days": days,
        "step_s": step_s,
        "median_wall_s": wall,
        "simulated_s_per_wall_s": days * 86400 / wall,
    }


def bench_router(repeats: int) -> dict:
    """The engine's compiled router vs network.routing.route on the planned built-in graph
    (random stores and capital pairs, 256-bit requests); asserts they agree."""
    from euroqci.network.routing import route
    from euroqci.sim.build import build_model
    from euroqci.sim.fastroute import Router
    from euroqci.sim.runner import load, plan

    scenario, _ = plan(load(None))
    m = build_model(scenario, days=1.0, step_s=10.0).model
    rng = np.random.default_rng(1)
    caps = [s.id for s in scenario.network.sites if s.kind == "capital"]
    pairs = [tuple(rng.choice(caps, 2, replace=False)) for _ in range(300)]
    bits = rng.uniform(0, 1e5, m.n_links)
    ok, node_ok = np.ones(m.n_links, bool), np.ones(m.n_nodes, bool)
    router, graph = Router(m.node_ids, m.link_ids), m.graph()
    key = dict(zip(m.link_ids, bits.tolist(), strict=True))
    router.route(*pairs[0], bits, 256.0, ok, node_ok)  # compile
    per_call = {"route": [], "fastroute": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        slow = [route(graph, a, b, key_available_bits=key, need_bits=256.0) for a, b in pairs]
        t1 = time.perf_counter()
        fast = [router.route(a, b, bits, 256.0, ok, node_ok) for a, b in pairs]
        t2 = time.perf_counter()
        assert slow == fast
        per_call["route"].append((t1 - t0) / len(pairs))
        per_call["fastroute"].append((t2 - t1) / len(pairs))
    med = {k: statistics.median(v) for k, v in per_call.items()}
    return {
        "nodes": m.n_nodes,
        "links": m.n_links,
        "median_per_call_s": med,
        "speedup": med["route"] / med["fastroute"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=("builtin", "scaling", "chain", "router"))
    p.add_argument("--days", type=float, default=None)
    p.add_argument("--step-s", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--factors", default="1,2,4,7,10")
    a = p.parse_args()
    OUT.mkdir(exist_ok=True)
    if a.what == "builtin":
        res = bench_builtin(a.days or 30.0, a.repeats)
    elif a.what == "scaling":
        res = bench_scaling(a.days or 7.0, [float(f) for f in a.factors.split(",")], a.repeats)
        plot_scaling(res, OUT / "simulate_scaling.png")
    elif a.what == "router":
        res = bench_router(a.repeats)
    else:
        res = bench_chain(a.days or 1.0, a.step_s, a.repeats)
    res["machine"] = machine()
    (OUT / f"simulate_{a.what}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in ("runs", "rows")}, indent=1))


if __name__ == "__main__":
    main()
