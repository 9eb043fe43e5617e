"""The digital twin's input, flattened to arrays: what :func:`euroqci.sim.engine.simulate` runs.

A :class:`SimModel` is built once per scenario by :func:`euroqci.sim.build.build_model`
(key rates from :mod:`euroqci.physics`, passes from the satellite segment) or by hand in
tests. Links are indexed ``0..L-1`` in the order of ``link_ids`` (each a
:func:`euroqci.network.topology.link_id`), nodes ``0..N-1``, demands ``0..D-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from euroqci.errors import ScenarioError
from euroqci.network.topology import link_id

FIBER, SATELLITE = "fiber", "satellite"


@dataclass(frozen=True)
class SatellitePasses:
    """Key-producing satellite passes, one row per (satellite, ground station) pass.

    ``end_s`` is the pass end in seconds after the run start (the whole pass is one
    finite-key block, so its key appears at the end); ``key_bits`` is the secret key of the
    pass in clear sky; ``cloud_probability`` the chance the pass is lost to clouds.
    """

    link: np.ndarray  # int, index into SimModel.link_ids
    end_s: np.ndarray
    key_bits: np.ndarray
    cloud_probability: np.ndarray
    max_elevation_deg: np.ndarray

    @classmethod
    def empty(cls) -> SatellitePasses:
        z = np.zeros(0)
        return cls(np.zeros(0, dtype=np.int64), z, z, z, z)

    def __len__(self) -> int:
        return len(self.link)


@dataclass(frozen=True)
class SimModel:
    """A network ready to simulate. Rates in bit/s, stores and requests in bits, times in s.

    Fiber links produce ``link_rate_bps`` while up; satellite links produce only at passes.
    A demand asks ``request_bits`` every ``interval_s`` (an atomic key request, served when
    every hop of its route holds enough key). Failures: exponential up/down times with the
    given means (``inf`` MTBF = never fails).
    """

    name: str
    node_ids: tuple[str, ...]
    link_ids: tuple[tuple[str, str], ...]
    link_kind: tuple[str, ...]
    link_rate_bps: np.ndarray
    link_capacity_bits: np.ndarray
    link_length_km: np.ndarray  # NaN for satellite links
    link_loss_db: np.ndarray  # NaN for satellite links
    demand_ends: tuple[tuple[str, str], ...]
    demand_request_bits: np.ndarray
    demand_interval_s: np.ndarray
    passes: SatellitePasses = field(default_factory=SatellitePasses.empty)
    link_mtbf_s: np.ndarray | None = None
    link_mttr_s: np.ndarray | None = None
    node_mtbf_s: np.ndarray | None = None
    node_mttr_s: np.ndarray | None = None
    start_iso: str = "2027-03-21T00:00:00+00:00"

    def __post_init__(self):
        n_links, n_nodes = len(self.link_ids), len(self.node_ids)
        known = set(self.node_ids)
        for a, b in self.link_ids:
            if (a, b) != link_id(a, b) or a not in known or b not in known:
                raise ScenarioError(f"link {(a, b)}: not a sorted pair of known nodes")
        for a, b in self.demand_ends:
            if a not in known or b not in known:
                raise ScenarioError(f"demand {a}-{b}: unknown node")
        arrays = {
            "link_kind": (self.link_kind, n_links),
            "link_rate_bps": (self.link_rate_bps, n_links),
            "link_capacity_bits": (self.link_capacity_bits, n_links),
            "link_length_km": (self.link_length_km, n_links),
            "link_loss_db": (self.link_loss_db, n_links),
            "demand_request_bits": (self.demand_request_bits, len(self.demand_ends)),
            "demand_interval_s": (self.demand_interval_s, len(self.demand_ends)),
            "link_mtbf_s": (self.link_mtbf_s, n_links),
            "link_mttr_s": (self.link_mttr_s, n_links),
            "node_mtbf_s": (self.node_mtbf_s, n_nodes),
            "node_mttr_s": (self.node_mttr_s, n_nodes),
        }
        for name, (value, n) in arrays.items():
            if value is not None and len(value) != n:
                raise ScenarioError(f"{name}: {len(value)} entries for {n} items")
        if np.any(np.asarray(self.link_rate_bps) < 0):
            raise ScenarioError("link_rate_bps: rates must be >= 0")
        if np.any(np.asarray(self.demand_interval_s) <= 0):
            raise ScenarioError("demand_interval_s: intervals must be > 0")

    @property
    def n_links(self) -> int:
        return len(self.link_ids)

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_demands(self) -> int:
        return len(self.demand_ends)

    @property
    def requested_bps(self) -> np.ndarray:
        """Mean key rate each demand asks for (bit/s)."""
        return np.asarray(self.demand_request_bits) / np.asarray(self.demand_interval_s)

    def graph(self) -> nx.Graph:
        """The trusted-node routing graph: one edge per link, edge attribute ``link_id``."""
        g = nx.Graph()
        g.add_nodes_from(self.node_ids)
        for lid, kind in zip(self.link_ids, self.link_kind, strict=True):
            g.add_edge(*lid, link_id=lid, kind=kind)
        return g
