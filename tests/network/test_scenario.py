"""Scenario YAML: a user's own scenario, round trip, and errors naming file/field/value."""

import textwrap

import pytest

from euroqci.errors import ScenarioError
from euroqci.network.scenario import (
    builtin_scenario,
    dump_scenario,
    load_scenario,
    loads_scenario,
)

SMALL = textwrap.dedent("""
    name: three-nodes
    start: 2027-06-01T00:00:00Z
    sites:
      - {id: A, name: Alpha, country: DE, lat: 52.52, lon: 13.40, kind: capital}
      - {id: T, country: DE, lat: 52.0, lon: 14.0}
      - {id: B, name: Beta, country: PL, lat: 52.41, lon: 16.93, kind: data_centre}
      - {id: G, name: OGS, country: DE, lat: 52.3, lon: 13.1, kind: ground_station}
    fiber_defaults: {attenuation_db_per_km: 0.21, device: {detector_efficiency: 0.2}}
    links:
      - {a: A, b: T, length_km: 80}
      - {a: T, b: B, route_factor: 1.2, extra_loss_db: 1.5}
      - {a: A, b: G, length_km: 20, device: {rep_rate_hz: 2.5e9}}
    ground_stations:
      - {site: G, cloud_probability: 0.3, night_only: false}
    satellites:
      - {name: S1, altitude_km: 550, inclination_deg: 97.6}
    constellation: {planes: 2, per_plane: 2}
    demands:
      - {a: B, b: A, rate_bps: 100}
      - {a: T, b: A, refresh_bits: 256, interval_s: 60}
    planning: {max_span_loss_db: 18, max_span_km: 60}
    failures: {enabled: false}
""")


def test_small_user_scenario_loads(tmp_path):
    s = loads_scenario(SMALL)
    net = s.network
    assert [x.id for x in net.sites] == ["A", "T", "B", "G"]
    assert net.sites[1].kind == "trusted_node" and net.sites[1].name == "T"
    a_t, t_b, a_g = net.fiber_links
    assert a_t.attenuation_db_per_km == 0.21 and a_t.device.detector_efficiency == 0.2
    assert a_g.device.rep_rate_hz == 2.5e9 and a_g.device.detector_efficiency == 0.2
    assert 1.2 * 200 < t_b.length_km < 1.2 * 220 and t_b.extra_loss_db == 1.5
    assert len(net.satellite_segment.satellites) == 5
    assert net.satellite_segment.ground_stations[0].night_only is False
    assert s.demands[1].requested_bps == pytest.approx(256 / 60)
    assert s.planning.max_span_km == 60 and s.failures.enabled is False
    assert s.start.year == 2027 and s.start.tzinfo is not None


def test_round_trip_small_and_builtin(tmp_path):
    for s in (loads_scenario(SMALL), builtin_scenario("euroqci")):
        path = tmp_path / f"{s.name}.yaml"
        dump_scenario(s, path)
        assert load_scenario(path) == s


@pytest.mark.parametrize("old, new, expected", [
    ("kind: capital}", "kind: castle}", r"sites\[0\].*kind.*castle"),
    ("lat: 52.52", "lat: north", r"sites\[0\].*lat='north' is not a number"),
    ("lat: 52.52", "lat: 95.0", r"sites\[0\].*lat.*95"),
    ("{a: A, b: T, length_km: 80}", "{a: A, b: X, length_km: 80}", r"unknown site 'X'"),
    ("{a: A, b: T, length_km: 80}", "{a: A, b: T, lenght_km: 80}", r"links\[0\].*'lenght_km'"),
    ("{a: B, b: A, rate_bps: 100}", "{a: B, b: Z, rate_bps: 100}", r"demand B-Z.*'Z'"),
    ("{a: B, b: A, rate_bps: 100}", "{a: B, b: A}", r"demands\[0\].*rate_bps or refresh"),
    ("{site: G, cloud", "{site: G, cloud_probability: 2, xcloud", r"unknown field 'xcloud"),
    ("cloud_probability: 0.3", "cloud_probability: 1.3", r"ground_stations\[0\].*cloud_prob"),
    ("name: three-nodes", "nom: three-nodes", r"unknown field 'nom'"),
    ("planes: 2", "planes: 0", r"constellation"),
    # device ranges are the physics' own, checked at load time (not when rates are computed)
    ("device: {rep_rate_hz: 2.5e9}", "device: {dark_count_prob: 0.7}", r"links\[2\].*dark_count"),
    ("device: {rep_rate_hz: 2.5e9}", "device: {ec_efficiency: 5}", r"links\[2\].*ec_effic"),
])
def test_errors_name_file_field_value(tmp_path, old, new, expected):
    assert old in SMALL
    path = tmp_path / "bad.yaml"
    path.write_text(SMALL.replace(old, new, 1))
    with pytest.raises(ScenarioError, match=expected) as info:
        load_scenario(path)
    assert str(path) in str(info.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="not valid YAML") as info:
        loads_scenario("name: [unclosed")
    assert "\n" not in str(info.value)  # the CLI prints it as one line
    (tmp_path / "binary.yaml").write_bytes(b"name: \xd0\x00\xff")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "binary.yaml")
    (tmp_path / "sites.csv").write_bytes(b"\xff\xfeid,lat")
    with pytest.raises(ScenarioError, match="sites_csv: cannot read"):
        loads_scenario("name: x\nsites_csv: sites.csv\n", base_dir=tmp_path)
    with pytest.raises(ScenarioError, match="missing field"):
        loads_scenario("sites: []")
    with pytest.raises(ScenarioError, match="sites_csv: cannot read"):
        loads_scenario("name: x\nsites_csv: nowhere.csv", base_dir=tmp_path)
    with pytest.raises(ScenarioError, match="allowed rules"):
        loads_scenario(SMALL + "demand_rules: [{rule: everyone_to_everyone}]")
    two_capitals = SMALL.replace("kind: data_centre}", "kind: capital}").replace(
        "country: PL", "country: DE")
    with pytest.raises(ScenarioError, match="DE has two capitals"):
        loads_scenario(two_capitals + "demand_rules: [{rule: capitals_to, target: A, rate_bps: 1}]")
    with pytest.raises(ScenarioError, match="unknown built-in"):
        builtin_scenario("atlantis")


def test_csv_tables_and_demand_rules(tmp_path):
    (tmp_path / "sites.csv").write_text(
        "id,name,country,lat,lon,kind,overseas,source\n"
        "X-CAP,Cap,FR,48.85,2.35,capital,false,GeoNames\n"
        "X-HOS,Hos,FR,45.75,4.85,hospital,false,GeoNames\n"
        "Y-CAP,Cap,BE,50.85,4.35,capital,false,GeoNames\n")
    (tmp_path / "links.csv").write_text("a,b,length_km,source\nX-CAP,X-HOS,460,x\n"
                                        "X-CAP,Y-CAP,,assumed\n")
    (tmp_path / "s.yaml").write_text(
        "name: csv\nsites_csv: sites.csv\nlinks_csv: links.csv\ndemand_rules:\n"
        "  - {rule: sites_to_capital, rate_bps: 1}\n"
        "  - {rule: capitals_to, target: Y-CAP, refresh_bits: 256, interval_s: 10}\n")
    s = load_scenario(tmp_path / "s.yaml")
    assert [(d.a, d.b) for d in s.demands] == [("X-HOS", "X-CAP"), ("X-CAP", "Y-CAP")]
    assert s.network.fiber_links[1].length_km == pytest.approx(1.3 * 264, rel=0.01)
    (tmp_path / "links.csv").write_text("a,b,length_km,source\nX-CAP,X-HOS,-4,x\n")
    with pytest.raises(ScenarioError, match=r"links.csv: line 2.*length_km.*-4"):
        load_scenario(tmp_path / "s.yaml")
