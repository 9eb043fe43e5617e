"""`euroqci passes`: the CLI contract of issue 2, section 3."""

import json
import subprocess
import sys

import pytest
from sgp4.exporter import export_tle

from euroqci.cli import main

BASE = ["passes", "--site", "40.649,16.705", "--altitude-km", "500",
        "--start", "2025-06-21T00:00:00Z", "--days", "1"]


def run_json(capsys, *extra):
    assert main([*BASE, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_lists_passes(capsys):
    passes = run_json(capsys)
    assert len(passes) >= 2
    for p in passes:
        assert {"start", "end", "duration_s", "max_elevation_deg", "night"} <= p.keys()
        assert "secret_key_bits" not in p
        assert p["start"].endswith("Z") and p["start"] < p["end"]
        assert 0 < p["duration_s"] < 500 and 10 <= p["max_elevation_deg"] <= 90
    night = run_json(capsys, "--night-only")
    assert night and all(p["night"] for p in night)
    assert {p["start"] for p in night} <= {p["start"] for p in passes}


def test_link_flags_add_secret_key_bits(capsys):
    passes = run_json(capsys, "--rx-aperture-m", "0.6", "--detector-efficiency", "0.5")
    assert all(isinstance(p["secret_key_bits"], int) and p["secret_key_bits"] >= 0
               for p in passes)
    assert any(p["secret_key_bits"] > 0 for p in passes if p["night"])
    assert all(p["secret_key_bits"] == 0 for p in passes if not p["night"])  # daylight


def test_tle_file_gives_the_same_passes(capsys, tmp_path):
    from datetime import UTC, datetime

    from euroqci.physics.orbits import raan_for_ltan_deg, satellite_from_elements

    start = datetime(2025, 6, 21, tzinfo=UTC)
    sat = satellite_from_elements(500.0, None, raan_for_ltan_deg(22.5, start), start)
    tle = tmp_path / "sat.tle"
    tle.write_text("EUROQCI-1\n" + "\n".join(export_tle(sat.model)) + "\n")
    by_elements = run_json(capsys)
    by_tle = run_json(capsys, "--tle", str(tle))
    assert [p["start"][:16] for p in by_tle] == [p["start"][:16] for p in by_elements]


def test_table_output(capsys):
    assert main([*BASE, "--key"]) == 0
    out = capsys.readouterr().out
    assert "start (UTC)" in out and "key bits" in out and "2025-06-21" in out


@pytest.mark.parametrize("args, name", [
    (["--site", "40.6"], "site"),
    (["--site", "95,10"], "latitude"),
    (["--start", "tomorrow"], "start"),
    (["--start", "2070-01-01"], "start"),
    (["--days", "-1"], "days"),
    (["--detector-efficiency", "1.5"], "detector_efficiency"),
    (["--ec-efficiency", "0.5"], "ec_efficiency"),  # f < 1 gave key at QBER 49 %
    (["--raan-deg", "nan"], "raan_deg"),  # was a scipy traceback
    (["--station-altitude-m=-1e9"], "station_altitude_m"),  # gave one endless "pass"
    (["--tle", "/no/such/file"], "tle"),
])
def test_bad_input_is_one_line_exit_2(capsys, args, name):
    assert main([*BASE, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0]


def test_bad_input_no_traceback_in_a_real_process():
    result = subprocess.run([sys.executable, "-m", "euroqci", "passes", "--site", "x,y"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
