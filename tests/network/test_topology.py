"""Topology objects: validation, distances, the routing graph."""

import pytest

from euroqci.errors import InvalidParameter, ScenarioError
from euroqci.network.topology import (
    Demand,
    FiberLink,
    GroundStation,
    Network,
    SatelliteSegment,
    SatelliteSpec,
    Site,
    bearing_point,
    great_circle_km,
    link_id,
    walker_constellation,
)

PARIS = Site("FR-PAR", "Paris", "FR", 48.8566, 2.3522, "capital")
BRUSSELS = Site("BE-BRU", "Brussels", "BE", 50.8503, 4.3517, "capital")


def test_link_id_sorted_and_rejects_loops():
    assert link_id("b", "a") == ("a", "b") == link_id("a", "b")
    with pytest.raises(InvalidParameter):
        link_id("a", "a")


def test_great_circle_paris_brussels():
    # Paris-Brussels great-circle distance is 264 km (GeoNames coordinates), +-1 km
    assert great_circle_km(PARIS.lat, PARIS.lon, BRUSSELS.lat, BRUSSELS.lon) == pytest.approx(
        264, abs=1)
    # a quarter of the equator: pi/2 * 6371 km
    assert great_circle_km(0, 0, 0, 90) == pytest.approx(10007.5, abs=0.1)


def test_fiber_link_between_and_loss():
    link = FiberLink.between(PARIS, BRUSSELS, route_factor=1.3, extra_loss_db=3)
    assert link.length_km == pytest.approx(1.3 * 264, rel=0.005)
    assert link.loss_db == pytest.approx(0.2 * link.length_km + 3)
    assert link.id == ("BE-BRU", "FR-PAR")


def test_bearing_point_midpoint_on_meridian():
    a = Site("a", "a", "FR", 40.0, 5.0, "trusted_node")
    b = Site("b", "b", "FR", 50.0, 5.0, "trusted_node")
    lat, lon = bearing_point(a, b, 0.5)
    assert (lat, lon) == pytest.approx((45.0, 5.0))


@pytest.mark.parametrize("kw, name", [
    ({"kind": "castle"}, "kind"), ({"lat": 91.0}, "lat"), ({"country": "fra"}, "country")])
def test_site_validation_names_field(kw, name):
    args = dict(id="x", name="x", country="FR", lat=1.0, lon=1.0, kind="capital") | kw
    with pytest.raises(InvalidParameter, match=name):
        Site(**args)


def test_demand_rate_forms():
    assert Demand("a", "b", refresh_bits=256, interval_s=64).requested_bps == 4.0
    with pytest.raises(InvalidParameter):
        Demand("a", "b")
    with pytest.raises(InvalidParameter):
        Demand("a", "b", rate_bps=1, refresh_bits=256, interval_s=1)


def test_network_graph_with_satellites_and_validation():
    ogs = Site("FR-OGS", "Caussols", "FR", 43.755, 6.922, "ground_station")
    seg = SatelliteSegment(walker_constellation(1, 2), (GroundStation("FR-OGS"),))
    net = Network((PARIS, BRUSSELS, ogs), (FiberLink.between(PARIS, BRUSSELS),
                                          FiberLink.between(PARIS, ogs)), seg)
    g = net.graph()
    assert g.number_of_nodes() == 5 and g.number_of_edges() == 4
    assert g.edges["FR-PAR", "BE-BRU"]["kind"] == "fiber"
    assert g.edges["SAT-QSAT-1-2", "FR-OGS"]["link_id"] == ("FR-OGS", "SAT-QSAT-1-2")
    with pytest.raises(ScenarioError, match="unknown site"):
        Network((PARIS,), (FiberLink("FR-PAR", "XX", 10),))
    with pytest.raises(ScenarioError, match="duplicate"):
        Network((PARIS, PARIS))
    with pytest.raises(ScenarioError, match="kind ground_station"):
        Network((PARIS,), (), SatelliteSegment((), (GroundStation("FR-PAR"),)))
    with pytest.raises(ScenarioError, match="clash"):
        Network((PARIS,), (), SatelliteSegment((SatelliteSpec("A"), SatelliteSpec("A")), ()))
    assert SatelliteSpec().altitude_km == 500 and SatelliteSpec().inclination_deg is None
