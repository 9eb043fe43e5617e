"""Import public network topologies as sites and fiber links.

Sources: GraphML, GML (Internet Topology Zoo; Knight et al., IEEE JSAC 29, 1765, 2011),
NetworkX node-link JSON, and the ``topohub`` package's bundled SNDlib / Topology Zoo
networks (Jurkiewicz, SoftwareX 24, 101540, 2023; SNDlib: Orlowski et al., Networks 55,
276, 2010), named ``topohub:<name>`` (e.g. ``topohub:sndlib/germany50``), offline.

Coordinates are read from ``pos`` ([lon, lat]), ``lat``/``lon`` or ``Latitude``/
``Longitude``; nodes without coordinates are dropped with their edges. A link's length is
``length_km`` if given, else the great-circle ``dist`` (or the distance computed from the
coordinates) times ``route_factor``. SNDlib's nobel-eu stores degrees.minutes, not decimal
degrees; ``coordinates="auto"`` converts it (and recomputes its distances).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree  # its ParseError is what a broken .graphml raises

import networkx as nx

from euroqci.errors import ScenarioError
from euroqci.network.topology import SITE_KINDS, Demand, FiberLink, QkdDevice, Site, link_id

DEGREES_MINUTES = ("sndlib/nobel-eu",)


def _dm_to_deg(x: float) -> float:
    """Degrees.minutes (e.g. 23.42 = 23 deg 42') to decimal degrees."""
    sign = -1.0 if x < 0 else 1.0
    d = int(abs(x))
    return sign * (d + (abs(x) - d) * 100.0 / 60.0)


def _read_gml(path: Path) -> nx.Graph:
    try:
        return nx.read_gml(path, label="id")
    except nx.NetworkXError as err:
        if "duplicated" not in str(err):
            raise
        # Topology Zoo files repeat parallel edges without declaring a multigraph.
        text = path.read_text(encoding="utf-8").replace("graph [", "graph [\n  multigraph 1", 1)
        return nx.Graph(nx.parse_gml(text, label="id"))


def read_graph(source: str, base_dir: Path | str = ".") -> nx.Graph:
    """A networkx graph from ``topohub:<name>`` or a .graphml/.gml/.json file."""
    if source.startswith("topohub:"):
        try:
            import topohub
        except ImportError:
            raise ScenarioError(f"{source}: the topohub package is not installed "
                                "(pip install 'euroqci[topologies]')") from None
        key = source.removeprefix("topohub:")
        # Read the packaged JSON directly: topohub.get() leaves its file open.
        m = re.fullmatch(r"([\w-]+)/([\w.-]+)", key)
        ref = resources.files(topohub).joinpath("data", m[1], m[2] + ".json") if m else None
        if ref is None or not ref.is_file():
            raise ScenarioError(f"{source}: not a topohub network (e.g. topohub:sndlib/germany50)")
        with ref.open(encoding="utf-8") as f:
            return nx.node_link_graph(json.load(f), edges="edges")
    path = Path(base_dir) / source
    if not path.is_file():
        raise ScenarioError(f"topology {path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".graphml":
            return nx.Graph(nx.read_graphml(path))
        if suffix == ".gml":
            return nx.Graph(_read_gml(path))
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            return nx.Graph(nx.node_link_graph(data, edges="edges" if "edges" in data
                                               else "links"))
    except (nx.NetworkXError, ValueError, KeyError, ElementTree.ParseError) as err:
        raise ScenarioError(f"topology {path}: cannot parse: {err}") from err
    raise ScenarioError(f"topology {path}: unknown format {suffix!r}; use .graphml, .gml, .json")


def _position(attr: dict[str, Any]) -> tuple[float, float] | None:
    if "pos" in attr:
        lon, lat = attr["pos"]
        return float(lat), float(lon)
    for la, lo in (("lat", "lon"), ("Latitude", "Longitude"), ("latitude", "longitude")):
        if la in attr and lo in attr:
            return float(attr[la]), float(attr[lo])
    return None


def import_topology(source: str, *, base_dir: Path | str = ".",
                    fiber_defaults: dict | None = None, route_factor: float | None = None,
                    node_kind: str = "data_centre", country: str = "XX",
                    coordinates: str = "auto", demand_bps_per_unit: float | None = None
                    ) -> tuple[list[Site], list[FiberLink], list[Demand]]:
    """Sites, fiber links and demands of a public topology (see the module docstring).

    ``fiber_defaults`` may give attenuation_db_per_km, extra_loss_db, store_capacity_bits,
    route_factor and device (a mapping of :class:`QkdDevice` fields). With
    ``demand_bps_per_unit``, the graph's traffic matrix (``graph['demands']``, SNDlib
    demand values) becomes key demands of value x demand_bps_per_unit bit/s; otherwise
    no demands are returned.
    """
    if node_kind not in SITE_KINDS:
        raise ScenarioError(f"topology {source}: node_kind {node_kind!r} not in {SITE_KINDS}")
    if coordinates not in ("auto", "decimal", "degrees_minutes"):
        raise ScenarioError(f"topology {source}: coordinates {coordinates!r} not in "
                            "('auto', 'decimal', 'degrees_minutes')")
    dm = coordinates == "degrees_minutes" or (
        coordinates == "auto" and source.removeprefix("topohub:") in DEGREES_MINUTES)
    fiber = dict(fiber_defaults or {})
    rf = float(route_factor if route_factor is not None else fiber.pop("route_factor", 1.3))
    fiber.pop("route_factor", None)
    if isinstance(fiber.get("device"), dict):
        fiber["device"] = QkdDevice(**fiber["device"])
    g = read_graph(source, base_dir)
    sites: dict[Any, Site] = {}
    used: set[str] = set()
    for node in sorted(g.nodes, key=str):
        attr = g.nodes[node]
        pos = _position(attr)
        if pos is None:
            continue
        lat, lon = (_dm_to_deg(pos[0]), _dm_to_deg(pos[1])) if dm else pos
        name = str(attr.get("label", attr.get("name", node)))
        sid = name if name not in used else f"{name}-{node}"
        used.add(sid)
        cc = str(attr.get("country", country))
        cc = cc.upper() if len(cc) == 2 and cc.isalpha() else country
        sites[node] = Site(sid, name, cc, lat, lon, node_kind)
    links: dict[tuple[str, str], FiberLink] = {}
    for u, v, attr in g.edges(data=True):
        if u not in sites or v not in sites or u == v:
            continue
        a, b = sites[u], sites[v]
        if "length_km" in attr:
            link = FiberLink(a.id, b.id, float(attr["length_km"]), **fiber)
        elif "dist" in attr and not dm:
            link = FiberLink(a.id, b.id, max(float(attr["dist"]) * rf, 1e-3), **fiber)
        else:
            link = FiberLink.between(a, b, route_factor=rf, **fiber)
        links.setdefault(link_id(a.id, b.id), link)
    if not sites:
        raise ScenarioError(f"topology {source}: no node has coordinates")
    demands = []
    if demand_bps_per_unit is not None:
        by_key = {str(node): site.id for node, site in sites.items()}
        seen: set[tuple[str, str]] = set()
        for u, row in sorted(g.graph.get("demands", {}).items(), key=lambda kv: str(kv[0])):
            for v, value in sorted(row.items(), key=lambda kv: str(kv[0])):
                a, b = by_key.get(str(u)), by_key.get(str(v))
                if a is None or b is None or a == b or link_id(a, b) in seen:
                    continue
                seen.add(link_id(a, b))
                demands.append(Demand(a, b, rate_bps=float(value) * demand_bps_per_unit))
    return list(sites.values()), [links[k] for k in sorted(links)], demands
