"""The digital twin's engine: a network over days in virtual time, seeded and reproducible.

Time advances in steps of ``step_s``. The run is cut into epochs at every failure or repair
and at periodic re-routing checks; within an epoch routes are fixed and the compiled
:func:`euroqci.sim.kernel.run_steps` advances all links and demands. At each epoch
boundary the Python side applies failures and re-routes the demands that need it by the
rules of :func:`euroqci.network.routing.route` (its compiled twin
:class:`euroqci.sim.fastroute.Router`) and charges hops with
:func:`euroqci.network.relay.hop_charges`: the same rules the KMS applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

from euroqci.errors import EuroQCIError, InvalidParameter, check_range
from euroqci.sim.fastroute import Router
from euroqci.sim.kernel import run_steps
from euroqci.sim.model import SimModel
from euroqci.sim.processes import clear_sky, failure_events

Progress = Callable[[float], None]


@dataclass(frozen=True)
class SimConfig:
    """How to run: ``days`` of virtual time in steps of ``step_s``, seeded by ``seed``.

    ``reroute_interval_s``: how soon a demand that waits for key looks for a better route,
    at least one step (each further look while it still waits comes twice as late, up to a
    day).
    ``max_pending``: requests a demand queues before the oldest expires.
    ``max_samples``: rows of the store/service time series.
    """

    days: float = 7.0
    step_s: float = 10.0
    seed: int = 1
    reroute_interval_s: float = 900.0
    max_pending: int = 360
    max_samples: int = 1440

    def __post_init__(self):
        check_range("days", self.days, low=0, low_inclusive=False, high=3660)
        check_range("step_s", self.step_s, low=0.001, high=86400)
        check_range("seed", self.seed, low=0)  # numpy seeds are non-negative
        if self.step_s > self.days * 86400.0:  # would simulate more than was asked for
            run_s = self.days * 86400.0
            raise InvalidParameter("step_s", self.step_s, f"at most the run length, {run_s:g} s")
        check_range("reroute_interval_s", self.reroute_interval_s, low=0, low_inclusive=False)
        check_range("max_pending", self.max_pending, low=1)
        check_range("max_samples", self.max_samples, low=1)

    @property
    def n_steps(self) -> int:
        return max(1, int(round(self.days * 86400.0 / self.step_s)))


@dataclass
class SimResult:
    """Everything a run produced: per-link and per-demand totals (bits), time series and
    the state at the end. Arrays are indexed like the model's links, demands and nodes."""

    model: SimModel
    config: SimConfig
    produced_bits: np.ndarray
    delivered_bits: np.ndarray
    relayed_bits: np.ndarray
    discarded_bits: np.ndarray
    store_bits: np.ndarray
    requested_bits: np.ndarray
    served_bits: np.ndarray
    expired_bits: np.ndarray
    wait_sum_s: np.ndarray
    served_requests: np.ndarray
    blocked_store_steps: csr_matrix  # [demand, link]: steps waiting on that link's store
    blocked_down_steps: csr_matrix  # [demand, link]: steps waiting on that link (or an end) down
    no_route_steps: np.ndarray
    node_available_s: np.ndarray
    sample_time_s: np.ndarray
    sample_store_bits: np.ndarray  # [sample, link]
    sample_served_bits: np.ndarray  # [sample, demand]
    sample_requested_bits: np.ndarray  # [sample, demand]
    routes: list[list[str] | None]
    passes_used: np.ndarray  # bool per pass: clear sky (key produced if the station was up)
    n_failures: int
    route_calls: int
    stats: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.config.n_steps * self.config.step_s


def simulate(model: SimModel, config: SimConfig | None = None, *,
             progress: Progress | None = None) -> SimResult:
    """Run the model; same model, config and seed give the same result, bit for bit."""
    from euroqci.network.relay import hop_charges

    config = config or SimConfig()
    rng = np.random.default_rng(config.seed)
    n_steps, dt = config.n_steps, float(config.step_s)
    horizon_s = n_steps * dt
    n_l, n_n, n_d = model.n_links, model.n_nodes, model.n_demands
    link_index = {lid: i for i, lid in enumerate(model.link_ids)}
    node_index = {nid: i for i, nid in enumerate(model.node_ids)}
    link_a = np.array([node_index[a] for a, _ in model.link_ids], dtype=np.int64)
    link_b = np.array([node_index[b] for _, b in model.link_ids], dtype=np.int64)

    # random draws, always in this order: clouds, then failures
    clear = clear_sky(model.passes.cloud_probability, rng)
    failures = failure_events(model, horizon_s, rng)
    ev_keep = clear & (model.passes.end_s < horizon_s)
    ev_step = np.floor(model.passes.end_s[ev_keep] / dt).astype(np.int64)
    order = np.argsort(ev_step, kind="stable")
    ev_step = ev_step[order]
    ev_link = model.passes.link[ev_keep][order].astype(np.int64)
    ev_bits = model.passes.key_bits[ev_keep][order].astype(np.float64)
    fail_step = np.floor(failures.time_s / dt).astype(np.int64)

    st = _State.new(n_l, n_d, model, config)
    link_down = np.zeros(n_l, dtype=bool)
    node_down = np.zeros(n_n, dtype=bool)
    routes: list[list[str] | None] = [None] * n_d
    retry_at = np.zeros(n_d, dtype=np.int64)
    backoff = np.full(n_d, max(1, int(round(config.reroute_interval_s / dt))), dtype=np.int64)
    base_backoff, max_backoff = int(backoff[0]) if n_d else 1, int(round(86400 / dt))
    route_calls = 0
    availability_s = np.zeros(n_n)
    dem_a = np.array([node_index[a] for a, _ in model.demand_ends], dtype=np.int64)
    dem_b = np.array([node_index[b] for _, b in model.demand_ends], dtype=np.int64)
    available = np.ones(n_n, dtype=bool)
    ev_ptr = 0
    f_ptr = 0
    step = 0
    chunk = max(1, n_steps // 200)
    topology_changed = True

    router = Router(model.node_ids, model.link_ids)

    def find_route(d: int) -> list[str] | None:
        a, b = model.demand_ends[d]
        node_ok = ~node_down
        bits = float(model.demand_request_bits[d])
        path = router.route(a, b, st.store, bits, st.link_ok, node_ok)
        if path is None:  # nothing can serve now: wait on the best path that exists
            path = router.route(a, b, st.store, 0.0, st.link_ok, node_ok)
        return path

    blocked_rows: list[np.ndarray] = []  # (kind, demand, link, steps) blocks, flushed

    def flush(rows: np.ndarray) -> None:
        """Move the per-hop waiting counters of demands ``rows`` into per-link records."""
        for kind, counts in enumerate((st.blocked_store, st.blocked_down)):
            d, h = np.nonzero(counts[rows])
            if d.size:
                blocked_rows.append(np.stack([np.full(d.size, kind), rows[d],
                                              st.path_links[rows[d], h], counts[rows[d], h]]))
                counts[rows[d], h] = 0

    def set_route(d: int, path: list[str] | None) -> None:
        flush(np.array([d]))
        routes[d] = path
        if path is None:
            st.path_len[d] = 0
            return
        charges = hop_charges(path, float(model.demand_request_bits[d]))
        hops = [link_index[tuple(sorted(pair))] for pair in zip(path[:-1], path[1:], strict=True)]
        if len(hops) > st.path_links.shape[1]:
            st.grow_paths(len(hops))
        st.path_links[d, : len(hops)] = hops
        st.path_charge[d, : len(hops)] = [charges[model.link_ids[i]] for i in hops]
        st.path_len[d] = len(hops)

    while step < n_steps:
        # apply the failures and repairs that happen at this step
        while f_ptr < len(failures) and fail_step[f_ptr] <= step:
            target = node_down if failures.is_node[f_ptr] else link_down
            target[failures.index[f_ptr]] = failures.down[f_ptr]
            f_ptr += 1
            topology_changed = True
        if topology_changed:
            st.link_ok[:] = ~link_down & ~node_down[link_a] & ~node_down[link_b]
            available = _site_availability(link_a, link_b, st.link_ok, node_down, dem_a, dem_b)
        # re-route: a demand whose route broke looks again at once after a failure or
        # repair; a demand that waits for key looks when due, backing off (doubling up to a
        # day) while re-routing does not help; a demand being served resets its back-off
        width = st.path_links.shape[1]
        on_path = np.arange(width)[None, :] < st.path_len[:, None]
        intact = np.where(on_path, st.link_ok[st.path_links], True).all(axis=1)
        broken = (st.path_len == 0) | ~intact
        if topology_changed:
            retry_at[broken] = 0
        backoff[~broken & ~st.starved] = base_backoff
        due = (broken | st.starved) & (step >= retry_at) & (st.request_bits > 0)
        for d in np.flatnonzero(due):
            path = find_route(d)
            route_calls += 1
            if path != routes[d]:
                set_route(d, path)
            retry_at[d] = step + backoff[d]
            backoff[d] = min(2 * backoff[d], max_backoff)
        topology_changed = False
        nxt = min(n_steps, step + chunk, step + base_backoff)
        if f_ptr < len(failures):
            nxt = min(nxt, max(int(fail_step[f_ptr]), step + 1))
        ev_ptr = st.run(step, nxt, dt, ev_step, ev_link, ev_bits, ev_ptr)
        availability_s += available * (nxt - step) * dt
        step = nxt
        if progress is not None:
            progress(step / n_steps)

    flush(np.arange(n_d))
    rec = np.concatenate(blocked_rows, axis=1) if blocked_rows else np.zeros((4, 0), np.int64)
    blocked = [csr_matrix((rec[3][rec[0] == k], (rec[1][rec[0] == k], rec[2][rec[0] == k])),
                          shape=(n_d, n_l)) for k in (0, 1)]
    sample_t = (np.arange(st.sample_store.shape[0]) + 1) * st.sample_every * dt
    result = SimResult(
        model=model, config=config, produced_bits=st.produced, delivered_bits=st.delivered,
        relayed_bits=st.relayed, discarded_bits=st.discarded, store_bits=st.store,
        requested_bits=st.requested, served_bits=st.served, expired_bits=st.expired,
        wait_sum_s=st.wait_sum, served_requests=st.served_requests,
        blocked_store_steps=blocked[0], blocked_down_steps=blocked[1],
        no_route_steps=st.no_route, node_available_s=availability_s, sample_time_s=sample_t,
        sample_store_bits=st.sample_store, sample_served_bits=st.sample_served,
        sample_requested_bits=st.sample_requested, routes=routes, passes_used=clear,
        n_failures=int(np.count_nonzero(failures.down)), route_calls=route_calls,
    )
    from euroqci.sim.metrics import check_conservation

    check_conservation(result)  # the self-check every run passes
    return result


def _site_availability(link_a: np.ndarray, link_b: np.ndarray, link_ok: np.ndarray,
                       node_down: np.ndarray, dem_a: np.ndarray, dem_b: np.ndarray) -> np.ndarray:
    """Per node: up, and connected over working elements to every site it has a demand with
    (connected components of the working graph, scipy.sparse.csgraph)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(node_down)
    a, b = link_a[link_ok], link_b[link_ok]
    adj = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    bad = (comp[dem_a] != comp[dem_b]) | node_down[dem_a] | node_down[dem_b]
    cut = np.bincount(dem_a[bad], minlength=n) + np.bincount(dem_b[bad], minlength=n)
    return ~node_down & (cut == 0)


@dataclass
class _State:
    """The mutable arrays the kernel advances (one place to allocate and pass them)."""

    rate: np.ndarray
    capacity: np.ndarray
    link_ok: np.ndarray
    store: np.ndarray
    produced: np.ndarray
    discarded: np.ndarray
    delivered: np.ndarray
    relayed: np.ndarray
    path_links: np.ndarray
    path_charge: np.ndarray
    path_len: np.ndarray
    request_bits: np.ndarray
    interval_s: np.ndarray
    next_arrival: np.ndarray
    pending: np.ndarray
    oldest: np.ndarray
    max_pending: np.ndarray
    requested: np.ndarray
    served: np.ndarray
    expired: np.ndarray
    wait_sum: np.ndarray
    served_requests: np.ndarray
    starved: np.ndarray
    blocked_store: np.ndarray
    blocked_down: np.ndarray
    no_route: np.ndarray
    sample_every: int
    sample_store: np.ndarray
    sample_served: np.ndarray
    sample_requested: np.ndarray

    @classmethod
    def new(cls, n_l: int, n_d: int, model: SimModel, config: SimConfig) -> _State:
        if np.any(~np.isfinite(model.link_rate_bps)):
            raise EuroQCIError("link rates must be finite")
        every = max(1, -(-config.n_steps // config.max_samples))
        n_samples = config.n_steps // every
        z, zd = np.zeros(n_l), np.zeros(n_d)
        return cls(
            rate=np.asarray(model.link_rate_bps, dtype=np.float64).copy(),
            capacity=np.asarray(model.link_capacity_bits, dtype=np.float64).copy(),
            link_ok=np.ones(n_l, dtype=np.bool_), store=z.copy(), produced=z.copy(),
            discarded=z.copy(), delivered=z.copy(), relayed=z.copy(),
            path_links=np.zeros((n_d, 8), dtype=np.int64), path_charge=np.ones((n_d, 8)),
            path_len=np.zeros(n_d, dtype=np.int64),
            request_bits=np.asarray(model.demand_request_bits, dtype=np.float64).copy(),
            interval_s=np.asarray(model.demand_interval_s, dtype=np.float64).copy(),
            next_arrival=zd.copy(), pending=zd.copy(), oldest=zd.copy(),
            max_pending=np.full(n_d, float(config.max_pending)), requested=zd.copy(),
            served=zd.copy(), expired=zd.copy(), wait_sum=zd.copy(), served_requests=zd.copy(),
            starved=np.zeros(n_d, dtype=np.bool_),
            blocked_store=np.zeros((n_d, 8), dtype=np.int64),
            blocked_down=np.zeros((n_d, 8), dtype=np.int64),
            no_route=np.zeros(n_d, dtype=np.int64), sample_every=every,
            sample_store=np.zeros((n_samples, n_l)), sample_served=np.zeros((n_samples, n_d)),
            sample_requested=np.zeros((n_samples, n_d)),
        )

    def grow_paths(self, n_hops: int) -> None:
        """Widen the per-hop arrays to hold routes of ``n_hops``."""
        old = self.path_links.shape[1]
        width = max(n_hops, 2 * old)

        def wider(a: np.ndarray, fill) -> np.ndarray:
            out = np.full((a.shape[0], width), fill, dtype=a.dtype)
            out[:, :old] = a
            return out

        self.path_links = wider(self.path_links, 0)
        self.path_charge = wider(self.path_charge, 1.0)
        self.blocked_store = wider(self.blocked_store, 0)
        self.blocked_down = wider(self.blocked_down, 0)

    def run(self, step0: int, step1: int, dt: float, ev_step, ev_link, ev_bits, ev_ptr) -> int:
        return run_steps(
            step0, step1, dt, self.rate, self.capacity, self.link_ok, self.store, self.produced,
            self.discarded, self.delivered, self.relayed, ev_step, ev_link, ev_bits, ev_ptr,
            self.path_links, self.path_charge, self.path_len, self.request_bits, self.interval_s,
            self.next_arrival, self.pending, self.oldest, self.max_pending, self.requested,
            self.served, self.expired, self.wait_sum, self.served_requests, self.starved,
            self.blocked_store, self.blocked_down, self.no_route, self.sample_every,
            self.sample_store, self.sample_served, self.sample_requested,
        )
