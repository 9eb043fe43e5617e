"""Scenarios as YAML: load, validate, dump; the built-in EuroQCI scenario.

The format is documented in ``docs/scenario-format.md``. Tables may live in CSV files
beside the YAML (``sites_csv``, ``links_csv``, ``ground_stations_csv``, paths relative to
the YAML file). Every problem raises :class:`~euroqci.errors.ScenarioError` naming the
file, the entry and the field. ``load_scenario(dump_scenario(s))`` gives ``s`` back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from euroqci.errors import EuroQCIError, ScenarioError
from euroqci.network.importers import import_topology
from euroqci.network.topology import (
    Demand,
    FailureModel,
    FiberLink,
    GroundStation,
    Network,
    PlanningOptions,
    QkdDevice,
    SatelliteSegment,
    SatelliteSpec,
    Scenario,
    Site,
    walker_constellation,
)

BUILTIN = ("euroqci",)
STRATEGIC_KINDS = ("government", "data_centre", "hospital", "energy_grid")
TOP_KEYS = ("name", "description", "start", "sites", "sites_csv", "topology", "fiber_defaults",
            "links", "links_csv", "ground_stations", "ground_stations_csv", "satellites",
            "constellation", "satellite_store_capacity_bits", "demands", "demand_rules",
            "planning", "failures")
NUMBERS = {"lat", "lon", "length_km", "route_factor", "attenuation_db_per_km", "extra_loss_db",
           "store_capacity_bits", "rep_rate_hz", "detector_efficiency", "dark_count_prob",
           "misalignment", "ec_efficiency", "altitude_m", "telescope_aperture_m",
           "cloud_probability", "min_elevation_deg", "altitude_km", "inclination_deg",
           "raan_deg", "mean_anomaly_deg", "rate_bps", "demand_bps_per_unit", "refresh_bits",
           "interval_s",
           "max_span_loss_db", "max_span_km", "fiber_mtbf_h_per_1000km", "fiber_mttr_h",
           "node_mtbf_h", "node_mttr_h", "satellite_store_capacity_bits"}
BOOLS = {"overseas", "submarine", "night_only", "enabled"}
IGNORED = {"source", "status"}  # free-text provenance columns
FIBER_DEFAULT_KEYS = {"route_factor", "attenuation_db_per_km", "extra_loss_db",
                      "store_capacity_bits", "device"}


@contextmanager
def _at(source: str, where: str) -> Iterator[None]:
    """Re-raise any validation error as a ScenarioError naming file and entry."""
    try:
        yield
    except ScenarioError as err:
        if str(err).startswith(source):
            raise
        raise ScenarioError(f"{source}: {where}: {err}") from err
    except (EuroQCIError, TypeError, ValueError, KeyError) as err:
        raise ScenarioError(f"{source}: {where}: {err}") from err


def _clean(entry: Any, where: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
    """Check keys, drop blanks and provenance columns, coerce numbers and booleans."""
    if not isinstance(entry, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {entry!r}")
    out = {}
    for key, value in entry.items():
        if key in IGNORED or value is None or value == "":
            continue
        if key not in allowed:
            raise ScenarioError(f"{where}: unknown field {key!r}; allowed: {sorted(allowed)}")
        if key in NUMBERS and not isinstance(value, bool):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ScenarioError(f"{where}: field {key}={value!r} is not a number") from None
        elif key in BOOLS and isinstance(value, str):
            if value.lower() not in ("true", "false"):
                raise ScenarioError(f"{where}: field {key}={value!r} is not true/false")
            value = value.lower() == "true"
        out[key] = value
    missing = sorted(required - out.keys())
    if missing:
        raise ScenarioError(f"{where}: missing field(s) {missing}")
    return out


def _fields(cls) -> set[str]:
    return set(cls.__dataclass_fields__)


Rows = list[tuple[str, str, Any]]  # (file, entry label, entry)


def _table(data: dict, key: str, base: Path, source: str) -> Rows:
    """Entries of an inline list ``key`` and of the CSV file ``key_csv``."""
    rows = [(source, f"{key}[{i}]", e) for i, e in enumerate(data.get(key) or [])]
    if data.get(f"{key}_csv"):
        path = base / str(data[f"{key}_csv"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ScenarioError(f"{source}: {key}_csv: cannot read {path}: {err}") from err
        for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            rows.append((str(path), f"line {line}", row))
    return rows


def _build(cls, rows: Rows, allowed: set[str], required: set[str],
           fix: Callable[[dict], dict] = lambda d: d) -> list:
    out = []
    for file, label, entry in rows:
        with _at(file, label):
            out.append(cls(**fix(_clean(entry, f"{file}: {label}", allowed, required))))
    return out


def _make_link(entry: dict, defaults: dict, sites: dict[str, Site]) -> FiberLink:
    """A fiber link from a cleaned entry over ``fiber_defaults``; without ``length_km``
    its length is the great-circle distance x route_factor (default 1.3)."""
    e = {**{k: v for k, v in defaults.items() if k != "device"}, **entry}
    device = {**defaults.get("device", {}), **e.pop("device", {})}
    e["device"] = QkdDevice(**_clean(device, "device", _fields(QkdDevice)))
    route_factor = e.pop("route_factor", 1.3)
    if "length_km" in e:
        return FiberLink(**e)
    for end in (e["a"], e["b"]):
        if end not in sites:
            raise ScenarioError(f"unknown site {end!r}")
    rest = {k: v for k, v in e.items() if k not in ("a", "b")}
    return FiberLink.between(sites[e["a"]], sites[e["b"]], route_factor=route_factor, **rest)


def scenario_from_dict(data: Any, *, source: str = "<scenario>",
                       base_dir: Path | str = ".") -> Scenario:
    """Build a :class:`Scenario` from parsed YAML (see docs/scenario-format.md)."""
    base = Path(base_dir)
    top = _clean(data, source, set(TOP_KEYS), {"name"})
    sites = _build(Site, _table(top, "sites", base, source), _fields(Site), {"id", "lat", "lon"},
                   lambda e: {"name": e["id"], "country": "XX", "kind": "trusted_node"} | e)
    links: list[FiberLink] = []
    fiber = _clean(top.get("fiber_defaults", {}), f"{source}: fiber_defaults", FIBER_DEFAULT_KEYS)
    if "topology" in top:
        with _at(source, "topology"):
            topo = _clean(top["topology"], "topology", {"file", "topohub", "route_factor",
                                                        "node_kind", "country", "coordinates",
                                                        "demand_bps_per_unit"})
            if ("file" in topo) == ("topohub" in topo):
                raise ScenarioError("give either file: PATH or topohub: NAME")
            origin = topo.pop("file") if "file" in topo else "topohub:" + topo.pop("topohub")
            imported_sites, links, imported_demands = import_topology(
                origin, base_dir=base, fiber_defaults=fiber, **topo)
        sites += imported_sites
    by_id = {s.id: s for s in sites}
    link_keys = _fields(FiberLink) | {"route_factor"}
    for file, label, entry in _table(top, "links", base, source):
        with _at(file, label):
            clean = _clean(entry, f"{file}: {label}", link_keys, {"a", "b"})
            links.append(_make_link(clean, fiber, by_id))
    gs = _build(GroundStation, _table(top, "ground_stations", base, source),
                _fields(GroundStation) | {"site"}, set(),
                lambda e: {("site_id" if k == "site" else k): v for k, v in e.items()})
    sats = _build(SatelliteSpec, [(source, f"satellites[{i}]", e) for i, e in
                                  enumerate(top.get("satellites") or [])],
                  _fields(SatelliteSpec), {"name"},
                  lambda e: e | ({"tle": tuple(e["tle"])} if "tle" in e else {}))
    if "constellation" in top:
        with _at(source, "constellation"):
            c = _clean(top["constellation"], "constellation",
                       {"planes", "per_plane", "altitude_km", "inclination_deg", "prefix"},
                       {"planes", "per_plane"})
            sats += walker_constellation(int(c.pop("planes")), int(c.pop("per_plane")), **c)
    with _at(source, "network"):
        segment = SatelliteSegment(tuple(sats), tuple(gs), float(
            top.get("satellite_store_capacity_bits", SatelliteSegment.store_capacity_bits)))
        network = Network(tuple(sites), tuple(links), segment)
    demands = _build(Demand, [(source, f"demands[{i}]", e) for i, e in
                              enumerate(top.get("demands") or [])], _fields(Demand), {"a", "b"})
    if "topology" in top:
        demands += imported_demands
    for i, rule in enumerate(top.get("demand_rules") or []):
        with _at(source, f"demand_rules[{i}]"):
            demands += _expand_rule(rule, sites, {(d.a, d.b) for d in demands})
    with _at(source, "planning"):
        planning = PlanningOptions(**_clean(top.get("planning", {}), "planning",
                                            _fields(PlanningOptions)))
    with _at(source, "failures"):
        failures = FailureModel(**_clean(top.get("failures", {}), "failures",
                                         _fields(FailureModel)))
    start = top.get("start", Scenario.start)
    with _at(source, "start"):
        start = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    with _at(source, "scenario"):
        return Scenario(str(top["name"]), network, tuple(demands), failures, planning, start,
                        str(top.get("description", "")))


def _expand_rule(rule: Any, sites: list[Site], seen: set) -> list[Demand]:
    """``sites_to_capital``: every strategic site to its country's capital;
    ``capitals_to``: every capital to ``target``. Rate fields as in a demand."""
    r = _clean(rule, "rule", {"rule", "target", "rate_bps", "refresh_bits", "interval_s"},
               {"rule"})
    kind = r.pop("rule")
    target = r.pop("target", None)
    capitals: dict[str, str] = {}
    for s in sites:
        if s.kind == "capital":
            if s.country in capitals:
                raise ScenarioError(f"rule {kind}: country {s.country} has two capitals "
                                    f"({capitals[s.country]}, {s.id})")
            capitals[s.country] = s.id
    if kind == "sites_to_capital":
        pairs = [(s.id, capitals[s.country]) for s in sites
                 if s.kind in STRATEGIC_KINDS and s.country in capitals]
    elif kind == "capitals_to":
        if target not in {s.id for s in sites}:
            raise ScenarioError(f"target {target!r} is not a site id")
        pairs = [(c, target) for c in capitals.values() if c != target]
    else:
        raise ScenarioError(f"rule {kind!r}: allowed rules are sites_to_capital, capitals_to")
    out = []
    for a, b in pairs:
        if (a, b) not in seen and (b, a) not in seen:
            seen.add((a, b))
            out.append(Demand(a, b, **r))
    return out


def loads_scenario(text: str, *, source: str = "<string>", base_dir: Path | str = ".") -> Scenario:
    """Parse a scenario from YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        # PyYAML's message spans lines (with a caret drawing); the CLI prints one line
        raise ScenarioError(f"{source}: not valid YAML: {' '.join(str(err).split())}") from err
    return scenario_from_dict(data, source=source, base_dir=base_dir)


def load_scenario(path: Path | str) -> Scenario:
    """Load a scenario YAML file (CSV tables resolved relative to it)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{p}: cannot read scenario: {err}") from err
    return loads_scenario(text, source=str(p), base_dir=p.parent)


def builtin_scenario(name: str = "euroqci") -> Scenario:
    """A scenario shipped with euroqci (see ``euroqci/data/<name>/README.md``)."""
    if name not in BUILTIN:
        raise ScenarioError(f"unknown built-in scenario {name!r}; available: {BUILTIN}")
    ref = resources.files("euroqci").joinpath("data", name, "scenario.yaml")
    with resources.as_file(ref) as path:
        return load_scenario(path)


def scenario_to_dict(s: Scenario) -> dict:
    """Everything explicit (sites and links inline, demands expanded); inverse of
    :func:`scenario_from_dict`."""
    def plain(obj) -> dict:
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}

    net = s.network
    links = []
    for link in net.fiber_links:
        d = plain(link)
        d["device"] = plain(link.device)
        links.append(d)
    sats = []
    for sat in net.satellite_segment.satellites:
        d = plain(sat)
        d["tle"] = list(sat.tle) if sat.tle else None
        sats.append(d)
    return {
        "name": s.name, "description": s.description, "start": s.start.isoformat(),
        "sites": [plain(x) for x in net.sites], "links": links,
        "ground_stations": [plain(g) for g in net.satellite_segment.ground_stations],
        "satellites": sats,
        "satellite_store_capacity_bits": net.satellite_segment.store_capacity_bits,
        "demands": [{k: v for k, v in plain(d).items() if v is not None} for d in s.demands],
        "planning": plain(s.planning), "failures": plain(s.failures),
    }


def dump_scenario(s: Scenario, path: Path | str | None = None) -> str:
    """The scenario as YAML text (also written to ``path`` if given)."""
    text = yaml.safe_dump(scenario_to_dict(s), sort_keys=False, allow_unicode=True)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
