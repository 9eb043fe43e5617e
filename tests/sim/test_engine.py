"""The engine against hand calculations, the KMS ledger rules and its own invariants."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.network.relay import KeyLedger
from euroqci.network.routing import route
from euroqci.sim import metrics
from euroqci.sim.engine import SimConfig, simulate
from euroqci.sim.model import SatellitePasses, SimModel

from .conftest import chain_model, tree_model


def test_chain_matches_hand_calculation(chain):
    # A-B 1000 bit/s, B-C 500 bit/s, C-D 2000 bit/s; A->D asks 8000 bits every 10 s (800 bit/s)
    # for 1 h in 10 s steps. B-C makes 500 x 3600 = 1.8e6 bits = exactly 225 requests, so
    # served = 1.8e6 bits of 2.88e6 requested (0.625), and every hop spent 1.8e6 bits.
    r = simulate(chain, SimConfig(days=1 / 24, step_s=10, seed=1))
    assert r.requested_bits[0] == 360 * 8000
    assert r.served_bits[0] == 225 * 8000
    assert metrics.served_fraction(r)[0] == pytest.approx(0.625, abs=1e-12)
    assert r.produced_bits == pytest.approx([3.6e6, 1.8e6, 7.2e6])
    # the first hop's key is delivered, the others are consumed by relay (relay.py)
    assert r.delivered_bits == pytest.approx([1.8e6, 0, 0])
    assert r.relayed_bits == pytest.approx([0, 1.8e6, 1.8e6])
    assert metrics.relay_overhead(r) == pytest.approx(2.0)
    assert r.store_bits[1] == 0.0
    (b,) = metrics.bottlenecks(r)
    assert (b["limited_by"], b["element"]) == ("key_rate", "B<->C")


def test_chain_fully_served_when_rates_suffice():
    # 400 bit/s asked, slowest link 500 bit/s: each request is served at the end of its step
    # (wait = one 10 s step), and the B-C store grows by 1000 bits a step.
    r = simulate(chain_model(request_bits=4000.0), SimConfig(days=1 / 24, step_s=10))
    assert metrics.served_fraction(r)[0] == 1.0
    assert metrics.mean_wait_s(r)[0] == pytest.approx(10.0)
    assert r.store_bits[1] == pytest.approx(360 * 1000)
    assert metrics.bottlenecks(r) == []


def test_conservation_per_link_with_failures_and_passes():
    m = tree_model(link_mtbf_s=np.full(4, 3 * 3600.0), link_mttr_s=np.full(4, 1800.0),
                   node_mtbf_s=np.full(5, 6 * 3600.0), node_mttr_s=np.full(5, 900.0),
                   passes=SatellitePasses(np.array([2, 3]), np.array([4000.0, 9000.0]),
                                          np.array([5e5, 7e5]), np.array([0.0, 0.5]),
                                          np.array([50.0, 60.0])))
    r = simulate(m, SimConfig(days=1, step_s=10, seed=3))
    assert r.n_failures > 0
    assert metrics.conservation_error(r).max() < 1e-12
    inflow = r.delivered_bits + r.relayed_bits + r.store_bits + r.discarded_bits
    np.testing.assert_allclose(r.produced_bits, inflow, rtol=1e-12)


def test_same_seed_same_result_other_seed_differs():
    kw = dict(link_mtbf_s=np.full(4, 2 * 3600.0), link_mttr_s=np.full(4, 3600.0))
    a = simulate(tree_model(**kw), SimConfig(days=0.5, seed=7))
    b = simulate(tree_model(**kw), SimConfig(days=0.5, seed=7))
    c = simulate(tree_model(**kw), SimConfig(days=0.5, seed=8))
    for name in ("produced_bits", "served_bits", "store_bits", "sample_store_bits"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.served_bits, c.served_bits)


def test_no_demand_served_above_its_route_supply():
    r = simulate(tree_model(), SimConfig(days=0.25))
    index = {lid: i for i, lid in enumerate(r.model.link_ids)}
    for d, path in enumerate(r.routes):
        hops = [index[tuple(sorted(p))] for p in zip(path[:-1], path[1:], strict=True)]
        assert r.served_bits[d] <= r.produced_bits[hops].min() + 1e-9


def _ledger_reference(model, n_steps, dt):
    """Step-by-step reference with network.relay.KeyLedger and route() (the KMS's routing
    rules), one request at a time."""
    ledger = KeyLedger(dict(zip(model.link_ids, model.link_capacity_bits, strict=True)))
    graph = model.graph()
    paths = [route(graph, a, b, key_available_bits={}, need_bits=0.0)
             for a, b in model.demand_ends]
    queue = [[] for _ in paths]
    served = np.zeros(len(paths))
    for step in range(n_steps):
        t_end = (step + 1) * dt
        for lid, rate in zip(model.link_ids, model.link_rate_bps, strict=True):
            ledger.add(lid, rate * dt)
        for d, (bits, every) in enumerate(zip(model.demand_request_bits,
                                              model.demand_interval_s, strict=True)):
            k = len(queue[d]) + served[d] / bits
            while k * every < t_end:
                queue[d].append(k * every)
                k += 1
        for j in range(len(paths)):
            d = (j + step) % len(paths)
            while queue[d]:
                bits = float(model.demand_request_bits[d])
                if not ledger.can_serve({lk: bits for lk in _links(paths[d])}):
                    break
                ledger.relay(paths[d], bits)
                queue[d].pop(0)
                served[d] += bits
    return ledger, served


def _links(path):
    return [tuple(sorted(p)) for p in zip(path[:-1], path[1:], strict=True)]


def test_kernel_follows_the_kms_ledger_rules():
    # a tree: routes are unique, so the compiled engine and a KeyLedger step-by-step
    # reference must agree exactly under contention for the shared hub links
    model = tree_model()
    n_steps, dt = 400, 10.0
    r = simulate(model, SimConfig(days=n_steps * dt / 86400, step_s=dt, max_pending=10**6))
    ledger, served = _ledger_reference(model, n_steps, dt)
    np.testing.assert_allclose(r.served_bits, served)
    for i, lid in enumerate(model.link_ids):
        acc = ledger.account(lid)
        assert r.store_bits[i] == pytest.approx(acc.stored)
        assert r.delivered_bits[i] == pytest.approx(acc.delivered)
        assert r.relayed_bits[i] == pytest.approx(acc.consumed_by_relay)
        assert r.discarded_bits[i] == pytest.approx(acc.discarded)


def test_site_availability_follows_the_outages():
    # the chain with failing links: A (demand A->D) is available exactly while all three
    # links are up; B has no demand, so it is available whenever it is up (always here)
    from euroqci.sim.processes import clear_sky, failure_events

    model = chain_model(link_mtbf_s=np.full(3, 4 * 3600.0), link_mttr_s=np.full(3, 3600.0))
    cfg = SimConfig(days=2, step_s=10, seed=11)
    r = simulate(model, cfg)
    rng = np.random.default_rng(cfg.seed)
    clear_sky(model.passes.cloud_probability, rng)
    events = failure_events(model, cfg.n_steps * cfg.step_s, rng)
    down = np.zeros((cfg.n_steps, 3), dtype=bool)
    for t, i, is_down in zip(events.time_s, events.index, events.down, strict=True):
        down[int(t // cfg.step_s):, i] = is_down
    expected = 1.0 - down.any(axis=1).mean()
    avail = dict(zip(model.node_ids, metrics.site_availability(r), strict=True))
    assert 0.2 < expected < 0.99
    assert avail["A"] == pytest.approx(expected, abs=1e-12)
    assert avail["D"] == avail["A"] and avail["B"] == 1.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(3, 9), n_dem=st.integers(1, 5),
       fail=st.booleans())
def test_books_balance_on_random_networks(seed, n, n_dem, fail):
    rng = np.random.default_rng(seed)
    g = nx.connected_watts_strogatz_graph(n, 2, 0.5, seed=seed % 1000)
    nodes = tuple(f"S{i}" for i in range(n))
    links = tuple(sorted(tuple(sorted((nodes[a], nodes[b]))) for a, b in g.edges))
    n_l = len(links)
    ends = tuple(tuple(rng.choice(nodes, 2, replace=False)) for _ in range(n_dem))
    passes = SatellitePasses(rng.integers(0, n_l, 4), np.sort(rng.uniform(0, 20000, 4)),
                             rng.uniform(1e3, 1e5, 4), rng.uniform(0, 1, 4), np.full(4, 40.0))
    kw = dict(link_mtbf_s=rng.uniform(3e3, 3e4, n_l), link_mttr_s=rng.uniform(3e2, 3e3, n_l),
              node_mtbf_s=rng.uniform(1e4, 1e5, n), node_mttr_s=rng.uniform(3e2, 3e3, n)) \
        if fail else {}
    model = SimModel("random", nodes, links, ("fiber",) * n_l, rng.uniform(0, 500, n_l),
                     rng.uniform(1e3, 1e5, n_l), np.full(n_l, 10.0), np.full(n_l, 2.0), ends,
                     rng.choice([256.0, 2000.0], n_dem), rng.choice([5.0, 60.0], n_dem),
                     passes=passes, **kw)
    r = simulate(model, SimConfig(days=0.25, step_s=10, seed=seed, max_pending=50))
    assert metrics.conservation_error(r).max() < 1e-9
    assert np.all(r.store_bits <= model.link_capacity_bits + 1e-6)
    assert np.all(r.store_bits >= -1e-6) and np.all(r.discarded_bits >= 0)
    assert np.all(r.served_bits + r.expired_bits <= r.requested_bits + 1e-6)
    assert np.all(metrics.site_availability(r) <= 1.0 + 1e-12)


@pytest.mark.parametrize("step_s", [1.0, 3600.0])
def test_any_step_size_keeps_the_hand_calculation(step_s):
    # 400 bit/s asked as 4000 bits every 10 s, slowest link 500 bit/s: all served whatever
    # the step, as long as a store holds one step's production (1 h x 2000 bit/s here)
    r = simulate(chain_model(request_bits=4000.0, capacity_bits=1e8),
                 SimConfig(days=0.5, step_s=step_s))
    assert metrics.served_fraction(r)[0] == 1.0
    assert r.requested_bits[0] == 4320 * 4000
