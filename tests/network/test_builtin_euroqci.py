"""The built-in EuroQCI scenario: coverage, coordinates, connectivity, demands."""

import csv
from importlib import resources

import networkx as nx
import pytest

from euroqci.network.planning import plan_trusted_nodes
from euroqci.network.scenario import STRATEGIC_KINDS, builtin_scenario

EU27 = set("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
           .split())
# Generous (lat_min, lat_max, lon_min, lon_max) boxes of each member state's mainland ...
BOX = {
    "AT": (46.3, 49.1, 9.5, 17.2), "BE": (49.4, 51.6, 2.5, 6.5), "BG": (41.2, 44.3, 22.3, 28.7),
    "HR": (42.3, 46.6, 13.4, 19.5), "CY": (34.5, 35.8, 32.2, 34.7), "CZ": (48.5, 51.1, 12.0, 18.9),
    "DK": (54.5, 57.8, 8.0, 15.3), "EE": (57.5, 59.8, 21.7, 28.3), "FI": (59.7, 70.1, 20.5, 31.6),
    "FR": (41.3, 51.2, -5.2, 9.6), "DE": (47.2, 55.1, 5.8, 15.1), "GR": (34.8, 41.8, 19.3, 28.3),
    "HU": (45.7, 48.6, 16.1, 22.9), "IE": (51.4, 55.4, -10.5, -5.9), "IT": (35.4, 47.1, 6.6, 18.6),
    "LV": (55.6, 58.1, 20.9, 28.3), "LT": (53.9, 56.5, 20.9, 26.9), "LU": (49.4, 50.2, 5.7, 6.6),
    "MT": (35.8, 36.1, 14.1, 14.6), "NL": (50.7, 53.6, 3.3, 7.3), "PL": (49.0, 54.9, 14.1, 24.2),
    "PT": (36.9, 42.2, -9.6, -6.1), "RO": (43.6, 48.3, 20.2, 29.8), "SK": (47.7, 49.7, 16.8, 22.6),
    "SI": (45.4, 46.9, 13.3, 16.7), "ES": (35.9, 43.8, -9.4, 3.4), "SE": (55.3, 69.1, 10.9, 24.2),
}
# ... and of the nine outermost regions (TFEU Art. 349).
OVERSEAS_BOX = {
    "Canary Islands": ("ES", (27.6, 29.5, -18.2, -13.3)),
    "Azores": ("PT", (36.9, 39.8, -31.3, -24.9)),
    "Madeira": ("PT", (32.3, 33.2, -17.3, -16.2)),
    "Guadeloupe": ("FR", (15.8, 16.6, -61.9, -61.0)),
    "Martinique": ("FR", (14.3, 14.9, -61.3, -60.8)),
    "French Guiana": ("FR", (2.1, 5.8, -54.6, -51.6)),
    "Reunion": ("FR", (-21.4, -20.8, 55.2, 55.9)),
    "Mayotte": ("FR", (-13.1, -12.6, 45.0, 45.3)),
    "Saint-Martin": ("FR", (18.0, 18.2, -63.2, -63.0)),
}
CAPITAL = {"FR": "FR-PAR", "ES": "ES-MAD", "PT": "PT-LIS"}


def inside(site, box):
    return box[0] <= site.lat <= box[1] and box[2] <= site.lon <= box[3]


@pytest.fixture(scope="module")
def scenario():
    return builtin_scenario("euroqci")


def test_all_27_states_with_capital_and_two_strategic_sites(scenario):
    sites = scenario.network.sites
    assert {s.country for s in sites} == EU27
    for cc in EU27:
        mine = [s for s in sites if s.country == cc]
        assert sum(s.kind == "capital" for s in mine) == 1, cc
        assert sum(s.kind in STRATEGIC_KINDS for s in mine) >= 2, cc
        assert len(mine) >= 3, cc


def test_coordinates_inside_country_or_overseas_region(scenario):
    regions_seen = set()
    for s in scenario.network.sites:
        if s.overseas:
            hits = [r for r, (cc, box) in OVERSEAS_BOX.items()
                    if cc == s.country and inside(s, box)]
            assert len(hits) == 1, s
            regions_seen.add(hits[0])
        else:
            assert inside(s, BOX[s.country]), s
    assert regions_seen == set(OVERSEAS_BOX)


def test_every_row_cites_a_source():
    folder = resources.files("euroqci").joinpath("data", "euroqci")
    for name in ("sites.csv", "links.csv", "ground_stations.csv"):
        rows = list(csv.DictReader(folder.joinpath(name).read_text().splitlines()))
        assert rows and all(r["source"].strip() for r in rows), name


def test_mainland_fiber_network_is_connected(scenario):
    net = scenario.network
    g = nx.Graph([link.id for link in net.fiber_links])
    mainland = {s.id for s in net.sites if not s.overseas and s.country not in ("IE", "CY")}
    assert mainland <= set(g)
    assert nx.is_connected(g.subgraph(mainland))
    # the announced and existing cross-border links are there
    for a, b in [("HR-RIJ", "IT-TRS"), ("IT-TRS", "SI-POS"), ("BE-ARL", "LU-LUX"),
                 ("DK-CPH", "SE-MMA")]:
        assert g.has_edge(a, b)


def test_overseas_and_island_sites_reach_a_ground_station_and_everything(scenario):
    net = scenario.network
    stations = {gs.site_id for gs in net.satellite_segment.ground_stations}
    kinds = {s.id: s.kind for s in net.sites}
    assert stations == {s for s, k in kinds.items() if k == "ground_station"}
    fiber = nx.Graph([link.id for link in net.fiber_links])
    for s in net.sites:
        if s.overseas or s.country in ("IE", "CY", "MT"):
            assert nx.node_connected_component(fiber, s.id) & stations, s.id
    full = net.graph()
    assert nx.is_connected(full)
    assert all(full.nodes[n]["kind"] == "satellite" for n in full if n.startswith("SAT-"))


def test_default_demands(scenario):
    pairs = {(d.a, d.b) for d in scenario.demands}
    capitals = [s for s in scenario.network.sites if s.kind == "capital"]
    for c in capitals:
        assert c.id == "BE-BRU" or (c.id, "BE-BRU") in pairs
    cap_of = {c.country: c.id for c in capitals}
    for s in scenario.network.sites:
        if s.kind in STRATEGIC_KINDS:
            assert (s.id, cap_of[s.country]) in pairs
        if s.overseas and s.kind in STRATEGIC_KINDS:
            assert (s.id, CAPITAL[s.country]) in pairs


def test_planned_spacing_matches_deployed_backbones(scenario):
    res = plan_trusted_nodes(scenario.network, scenario.planning)
    spans = sorted(link.length_km for link in res.network.fiber_links)
    median = spans[len(spans) // 2]
    assert 60 <= median <= 100  # deployed backbones: ~70-100 km between trusted nodes
    assert max(link.loss_db for link in res.network.fiber_links) <= 20 + 1e-9
    assert res.over_budget == ()
    assert nx.is_connected(res.network.graph())
