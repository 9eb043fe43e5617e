"""Topology import: GraphML, GML (Topology Zoo quirks), node-link JSON, topohub."""

import json

import networkx as nx
import pytest

from euroqci.errors import ScenarioError
from euroqci.network.importers import import_topology
from euroqci.network.scenario import dump_scenario, loads_scenario
from euroqci.network.topology import great_circle_km


def zoo_like():
    g = nx.Graph()
    g.add_node(0, label="Paris", Latitude=48.8566, Longitude=2.3522, country="fr")
    g.add_node(1, label="Brussels", Latitude=50.8503, Longitude=4.3517)
    g.add_node(2, label="Nowhere")  # no coordinates: dropped
    g.add_edge(0, 1)
    g.add_edge(1, 2)
    return g


def test_graphml_import_uses_coordinates_and_route_factor(tmp_path):
    nx.write_graphml(zoo_like(), tmp_path / "net.graphml")
    sites, links, _ = import_topology("net.graphml", base_dir=tmp_path, route_factor=1.5,
                                   fiber_defaults={"attenuation_db_per_km": 0.25})
    assert [s.id for s in sites] == ["Paris", "Brussels"]
    assert sites[0].country == "FR" and sites[1].country == "XX"
    (link,) = links
    assert link.length_km == pytest.approx(1.5 * 264, rel=0.01)
    assert link.attenuation_db_per_km == 0.25


def test_gml_with_duplicated_edges_like_topology_zoo(tmp_path):
    text = """graph [
  node [ id 0 label "A" Latitude 50.0 Longitude 8.0 ]
  node [ id 1 label "B" Latitude 51.0 Longitude 9.0 ]
  edge [ source 0 target 1 ]
  edge [ source 0 target 1 ]
]"""
    (tmp_path / "zoo.gml").write_text(text)
    sites, links, _ = import_topology("zoo.gml", base_dir=tmp_path)
    assert len(sites) == 2 and len(links) == 1


def test_node_link_json_with_dist_and_scenario_topology_key(tmp_path):
    data = {"directed": False, "multigraph": False, "graph": {},
            "nodes": [{"id": "X", "pos": [4.9, 52.37]}, {"id": "Y", "pos": [6.13, 49.61]}],
            "edges": [{"source": "X", "target": "Y", "dist": 100.0}]}
    (tmp_path / "t.json").write_text(json.dumps(data))
    s = loads_scenario("name: t\ntopology: {file: t.json, route_factor: 1.2}\n"
                       "demands: [{a: X, b: Y, rate_bps: 5}]", base_dir=tmp_path)
    assert len(s.demands) == 1
    assert s.network.fiber_links[0].length_km == pytest.approx(120.0)
    assert s.network.sites[0].lat == 52.37
    (tmp_path / "t.txt").write_text("")
    with pytest.raises(ScenarioError, match="unknown format"):
        import_topology("t.txt", base_dir=tmp_path)
    with pytest.raises(ScenarioError, match="no such file"):
        import_topology("missing.gml", base_dir=tmp_path)


def test_topohub_networks_offline():
    pytest.importorskip("topohub", reason="optional extra 'topologies' (topohub) not installed")
    sites, links, demands = import_topology("topohub:sndlib/germany50", demand_bps_per_unit=2)
    # SNDlib germany50: 50 nodes, 88 links, 662 demands (Orlowski et al., Networks 55, 276,
    # 2010)
    assert (len(sites), len(links), len(demands)) == (50, 88, 662)
    assert all(d.rate_bps > 0 for d in demands)
    assert len({frozenset((d.a, d.b)) for d in demands}) == len(demands)
    sites, _, _ = import_topology("topohub:sndlib/nobel-eu")
    athens = next(s for s in sites if s.id == "Athens")
    # nobel-eu stores degrees.minutes: 23.42 E 37.58 N = 23 deg 42', 37 deg 58'
    assert (athens.lat, athens.lon) == pytest.approx((37 + 58 / 60, 23 + 42 / 60))
    madrid = next(s for s in sites if s.id == "Madrid")
    assert float(great_circle_km(athens.lat, athens.lon, madrid.lat, madrid.lon)) == (
        pytest.approx(2370, abs=15))  # Athens-Madrid great circle ~2,370 km
    s = loads_scenario("name: g50\ntopology: {topohub: sndlib/germany50, country: DE, "
                       "demand_bps_per_unit: 0.5}\nplanning: {max_span_loss_db: 20}")
    assert len(s.demands) == 662 and {x.country for x in s.network.sites} == {"DE"}
    assert loads_scenario(dump_scenario(s)) == s
    with pytest.raises(ScenarioError, match="not a topohub network"):
        import_topology("topohub:sndlib/atlantis")


@pytest.mark.parametrize("name, text", [("bad.graphml", "<graphml><broken"),
                                        ("bad.gml", "graph [ node [ id"),
                                        ("bad.json", "{not json")])
def test_malformed_topology_files_are_scenario_errors(tmp_path, name, text):
    # a broken .graphml raised xml's ParseError (a traceback on the command line)
    (tmp_path / name).write_text(text)
    with pytest.raises(ScenarioError, match="cannot parse"):
        loads_scenario(f"name: x\ntopology: {{file: {name}, country: DE}}\n",
                       base_dir=tmp_path)
