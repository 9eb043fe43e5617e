"""The objects a quantum network is made of: sites, fiber links, the satellite segment,
demands, failures, and the :class:`Network` / :class:`Scenario` that bundle them.

Everything here is a thin frozen dataclass with validation; no key rate is stored here:
rates come from :mod:`euroqci.physics` when a simulation runs. A link is always named by
:func:`link_id` (its two end ids, sorted), the one key for links in routing, relay
accounting, the simulator and the KMS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike

from euroqci.constants import EARTH_RADIUS_KM
from euroqci.errors import InvalidParameter, ScenarioError, check_range
from euroqci.physics.detectors import Detector

SITE_KINDS = (
    "capital",
    "government",
    "data_centre",
    "hospital",
    "energy_grid",
    "trusted_node",
    "ground_station",
)
PROTOCOLS = ("bb84-decoy", "bbm92", "cv-gg02")

LinkId = tuple[str, str]


def link_id(a: str, b: str) -> LinkId:
    """The canonical id of the link between nodes ``a`` and ``b``: the two ids, sorted."""
    if a == b:
        raise InvalidParameter("link", (a, b), "a link joins two different nodes")
    return (a, b) if a < b else (b, a)


def great_circle_km(lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike,
                    lon2_deg: ArrayLike) -> np.ndarray:
    """Great-circle distance (km) on a sphere of the mean Earth radius (haversine formula).

    Broadcasts over numpy arrays. Error against the WGS-84 ellipsoid is below 0.5 %.
    """
    p1, p2 = np.radians(lat1_deg), np.radians(lat2_deg)
    dlat = p2 - p1
    dlon = np.radians(np.asarray(lon2_deg) - np.asarray(lon1_deg))
    h = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


@dataclass(frozen=True)
class Site:
    """A network node on the ground. ``kind`` is one of :data:`SITE_KINDS`; ``country`` is an
    ISO 3166-1 alpha-2 code; ``overseas`` marks EU outermost regions (TFEU Art. 349)."""

    id: str
    name: str
    country: str
    lat: float
    lon: float
    kind: str
    overseas: bool = False

    def __post_init__(self):
        if not self.id or not isinstance(self.id, str):
            raise InvalidParameter("site.id", self.id, "a non-empty string")
        if self.kind not in SITE_KINDS:
            raise InvalidParameter(f"site {self.id}: kind", self.kind, f"one of {SITE_KINDS}")
        c = self.country
        if not (isinstance(c, str) and len(c) == 2 and c.isalpha() and c.isupper()):
            raise InvalidParameter(f"site {self.id}: country", c, "ISO alpha-2, e.g. 'FR'")
        check_range(f"site {self.id}: lat", self.lat, low=-90, high=90)
        check_range(f"site {self.id}: lon", self.lon, low=-180, high=180)


@dataclass(frozen=True)
class QkdDevice:
    """Protocol and device parameters of a QKD link (converted to physics objects by the sim).

    ``dark_count_prob`` is per detector and per gate; ``ec_efficiency`` is f >= 1.
    """

    protocol: str = "bb84-decoy"
    rep_rate_hz: float = 1e9
    detector_efficiency: float = 0.1
    dark_count_prob: float = 1e-6
    misalignment: float = 0.01
    ec_efficiency: float = 1.16

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise InvalidParameter("protocol", self.protocol, f"one of {PROTOCOLS}")
        check_range("rep_rate_hz", self.rep_rate_hz, low=0, low_inclusive=False)
        # the physics' own ranges, so a scenario fails when loaded (naming the file and
        # entry), not later when the simulator computes the rates
        Detector(efficiency=self.detector_efficiency, dark_count_prob=self.dark_count_prob,
                 misalignment=self.misalignment)
        check_range("ec_efficiency", self.ec_efficiency, low=1, high=2)  # as LinkParameters


@dataclass(frozen=True)
class FiberLink:
    """A fiber QKD link. ``length_km`` is the fiber route length (use :meth:`between` to
    derive it from the great-circle distance times a route factor, typically 1.2-1.5).
    ``extra_loss_db`` is per span (connectors, splices); a ``submarine`` link cannot host
    trusted nodes along its way."""

    a: str
    b: str
    length_km: float
    attenuation_db_per_km: float = 0.2
    extra_loss_db: float = 0.0
    device: QkdDevice = field(default_factory=QkdDevice)
    store_capacity_bits: float = 1e9
    submarine: bool = False

    def __post_init__(self):
        link_id(self.a, self.b)
        name = f"link {self.a}-{self.b}"
        check_range(f"{name}: length_km", self.length_km, low=0, low_inclusive=False)
        check_range(f"{name}: attenuation_db_per_km", self.attenuation_db_per_km, low=0)
        check_range(f"{name}: extra_loss_db", self.extra_loss_db, low=0)
        check_range(f"{name}: store_capacity_bits", self.store_capacity_bits, low=0)

    @property
    def id(self) -> LinkId:
        return link_id(self.a, self.b)

    @property
    def loss_db(self) -> float:
        """Total channel loss (dB): attenuation x length + extra (splices, connectors)."""
        return self.attenuation_db_per_km * self.length_km + self.extra_loss_db

    @classmethod
    def between(cls, site_a: Site, site_b: Site, *, route_factor: float = 1.3, **kw) -> FiberLink:
        """A link whose length is the great-circle distance times ``route_factor``."""
        check_range("route_factor", route_factor, low=1)
        d = float(great_circle_km(site_a.lat, site_a.lon, site_b.lat, site_b.lon))
        return cls(site_a.id, site_b.id, length_km=max(d * route_factor, 1e-3), **kw)


@dataclass(frozen=True)
class SatelliteSpec:
    """One QKD satellite: circular orbit elements, or a TLE (which then wins).

    ``inclination_deg=None`` means sun-synchronous at ``altitude_km``. The default is an
    Eagle-1-like 500 km sun-synchronous orbit.
    """

    name: str = "EAGLE-1"
    altitude_km: float = 500.0
    inclination_deg: float | None = None
    raan_deg: float = 0.0
    mean_anomaly_deg: float = 0.0
    tle: tuple[str, str] | None = None

    def __post_init__(self):
        check_range(f"satellite {self.name}: altitude_km", self.altitude_km, low=160, high=36000)
        if self.inclination_deg is not None:
            check_range(f"satellite {self.name}: inclination_deg", self.inclination_deg,
                        low=0, high=180)

    @property
    def node_id(self) -> str:
        """The satellite's node id in the network graph."""
        return f"SAT-{self.name}"


def walker_constellation(n_planes: int, per_plane: int, *, altitude_km: float = 500.0,
                         inclination_deg: float | None = None,
                         prefix: str = "QSAT") -> tuple[SatelliteSpec, ...]:
    """A Walker-delta-like constellation: planes evenly spread in RAAN over 360 deg and
    satellites evenly spread in mean anomaly within each plane."""
    if n_planes < 1 or per_plane < 1:
        raise InvalidParameter("constellation", (n_planes, per_plane), "at least 1 x 1")
    return tuple(
        SatelliteSpec(f"{prefix}-{p + 1}-{s + 1}", altitude_km, inclination_deg,
                      raan_deg=360.0 * p / n_planes, mean_anomaly_deg=360.0 * s / per_plane)
        for p in range(n_planes) for s in range(per_plane)
    )


@dataclass(frozen=True)
class GroundStation:
    """An optical ground station (OGS) at site ``site_id`` (a site of kind ground_station).

    ``cloud_probability`` is the chance that a pass is lost to clouds; ``night_only`` keeps
    only night passes, the Sun below -12 deg at culmination (end of nautical twilight, the
    :func:`euroqci.physics.orbits.find_passes` default; daylight background swamps the
    receiver otherwise).
    """

    site_id: str
    altitude_m: float = 0.0
    telescope_aperture_m: float = 1.0
    cloud_probability: float = 0.5
    night_only: bool = True
    min_elevation_deg: float = 10.0

    def __post_init__(self):
        name = f"ground station {self.site_id}"
        check_range(f"{name}: altitude_m", self.altitude_m, low=-500, high=9000)
        check_range(f"{name}: telescope_aperture_m", self.telescope_aperture_m, low=0,
                    low_inclusive=False)
        check_range(f"{name}: cloud_probability", self.cloud_probability, low=0, high=1)
        check_range(f"{name}: min_elevation_deg", self.min_elevation_deg, low=0, high=90)


@dataclass(frozen=True)
class SatelliteSegment:
    """Satellites acting as trusted store-and-forward relays between ground stations."""

    satellites: tuple[SatelliteSpec, ...] = ()
    ground_stations: tuple[GroundStation, ...] = ()
    store_capacity_bits: float = 1e10


@dataclass(frozen=True)
class Demand:
    """Key wanted between sites ``a`` and ``b``: a steady ``rate_bps``, or ``refresh_bits``
    every ``interval_s`` (e.g. a 256-bit AES key every 60 s)."""

    a: str
    b: str
    rate_bps: float | None = None
    refresh_bits: float | None = None
    interval_s: float | None = None

    def __post_init__(self):
        link_id(self.a, self.b)
        name = f"demand {self.a}-{self.b}"
        if (self.rate_bps is None) == (self.refresh_bits is None):
            raise InvalidParameter(f"{name}: rate", (self.rate_bps, self.refresh_bits),
                                   "give either rate_bps or refresh_bits with interval_s")
        if self.rate_bps is not None:
            check_range(f"{name}: rate_bps", self.rate_bps, low=0)
        else:
            check_range(f"{name}: refresh_bits", self.refresh_bits, low=0, low_inclusive=False)
            if self.interval_s is None:
                raise InvalidParameter(f"{name}: interval_s", None, "needed with refresh_bits")
            check_range(f"{name}: interval_s", self.interval_s, low=0, low_inclusive=False)

    @property
    def requested_bps(self) -> float:
        """The mean key rate this demand asks for (bit/s)."""
        if self.rate_bps is not None:
            return self.rate_bps
        return self.refresh_bits / self.interval_s


@dataclass(frozen=True)
class FailureModel:
    """Fiber cuts and node outages as alternating exponential up/down times.

    A fiber's MTBF scales inversely with its length from ``fiber_mtbf_h_per_1000km``
    (the MTBF of 1,000 km of cable; ~4 cuts per 1,000 km per year is a common planning
    figure for terrestrial cable). Set ``enabled=False`` for a failure-free run.
    """

    enabled: bool = True
    fiber_mtbf_h_per_1000km: float = 2190.0
    fiber_mttr_h: float = 12.0
    node_mtbf_h: float = 50_000.0
    node_mttr_h: float = 4.0

    def __post_init__(self):
        for name in ("fiber_mtbf_h_per_1000km", "fiber_mttr_h", "node_mtbf_h", "node_mttr_h"):
            check_range(name, getattr(self, name), low=0, low_inclusive=False)

    def fiber_mtbf_h(self, length_km: float) -> float:
        """MTBF (h) of one fiber link of ``length_km``."""
        return self.fiber_mtbf_h_per_1000km * 1000.0 / max(length_km, 1e-3)


@dataclass(frozen=True)
class Network:
    """Sites, fiber links and the satellite segment; :meth:`graph` builds the routing graph."""

    sites: tuple[Site, ...]
    fiber_links: tuple[FiberLink, ...] = ()
    satellite_segment: SatelliteSegment = field(default_factory=SatelliteSegment)

    def __post_init__(self):
        ids = [s.id for s in self.sites]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ScenarioError(f"duplicate site ids: {dup}")
        known = set(ids)
        seen: set[LinkId] = set()
        for link in self.fiber_links:
            for end in (link.a, link.b):
                if end not in known:
                    raise ScenarioError(f"link {link.a}-{link.b}: unknown site {end!r}")
            if link.id in seen:
                raise ScenarioError(f"duplicate link {link.id}")
            seen.add(link.id)
        kinds = {s.id: s.kind for s in self.sites}
        for gs in self.satellite_segment.ground_stations:
            if kinds.get(gs.site_id) != "ground_station":
                raise ScenarioError(f"ground station {gs.site_id!r}: not a site of kind "
                                    "ground_station")
        names = [sat.node_id for sat in self.satellite_segment.satellites]
        clash = sorted({n for n in names if names.count(n) > 1} | (known & set(names)))
        if clash:
            raise ScenarioError(f"satellite names clash with other nodes: {clash}")

    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        raise InvalidParameter("site", site_id, "an id of a site in this network")

    def graph(self) -> nx.Graph:
        """The trusted-node graph: sites and satellites as nodes, fiber and satellite links
        as edges. Edge attributes: ``link_id``, ``kind`` ('fiber' | 'satellite'),
        ``length_km`` and ``loss_db`` (fiber), ``capacity_bits`` (key store size)."""
        g = nx.Graph()
        for s in sorted(self.sites, key=lambda s: s.id):
            g.add_node(s.id, name=s.name, country=s.country, lat=s.lat, lon=s.lon,
                       kind=s.kind, overseas=s.overseas)
        for link in sorted(self.fiber_links, key=lambda lk: lk.id):
            g.add_edge(*link.id, link_id=link.id, kind="fiber", length_km=link.length_km,
                       loss_db=link.loss_db, capacity_bits=link.store_capacity_bits,
                       submarine=link.submarine)
        seg = self.satellite_segment
        for sat in seg.satellites:
            g.add_node(sat.node_id, name=sat.name, kind="satellite", overseas=False)
            for gs in seg.ground_stations:
                lid = link_id(sat.node_id, gs.site_id)
                g.add_edge(*lid, link_id=lid, kind="satellite",
                           capacity_bits=seg.store_capacity_bits)
        return g


@dataclass(frozen=True)
class PlanningOptions:
    """Trusted-node insertion limits: no fiber span above ``max_span_loss_db`` nor
    ``max_span_km`` (None = no limit on that quantity)."""

    max_span_loss_db: float | None = 20.0
    max_span_km: float | None = None

    def __post_init__(self):
        for name in ("max_span_loss_db", "max_span_km"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), low=0, low_inclusive=False)


@dataclass(frozen=True)
class Scenario:
    """What the digital twin simulates: a network, demands, failures and a start time."""

    name: str
    network: Network
    demands: tuple[Demand, ...] = ()
    failures: FailureModel = field(default_factory=FailureModel)
    planning: PlanningOptions = field(default_factory=PlanningOptions)
    start: datetime = datetime(2027, 3, 21, tzinfo=UTC)
    description: str = ""

    def __post_init__(self):
        known = {s.id for s in self.network.sites}
        for d in self.demands:
            for end in (d.a, d.b):
                if end not in known:
                    raise ScenarioError(f"demand {d.a}-{d.b}: unknown site {end!r}")


def sites_by_id(sites: Iterable[Site]) -> dict[str, Site]:
    """Index sites by id."""
    return {s.id: s for s in sites}


def bearing_point(a: Site, b: Site, fraction: float) -> tuple[float, float]:
    """(lat, lon) in degrees of the point at ``fraction`` of the great circle from a to b
    (spherical linear interpolation of the unit vectors)."""
    def vec(s: Site) -> np.ndarray:
        la, lo = math.radians(s.lat), math.radians(s.lon)
        return np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)])

    va, vb = vec(a), vec(b)
    omega = math.acos(float(np.clip(va @ vb, -1.0, 1.0)))
    if omega < 1e-12:
        return a.lat, a.lon
    v = (math.sin((1 - fraction) * omega) * va + math.sin(fraction * omega) * vb) / math.sin(omega)
    return math.degrees(math.asin(v[2])), math.degrees(math.atan2(v[1], v[0]))
