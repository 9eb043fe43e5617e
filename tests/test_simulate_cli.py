"""`euroqci simulate` and `euroqci sweep` end to end on a small scenario file."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from euroqci.cli import main
from euroqci.network.scenario import dump_scenario

from .sim.scenarios import small_scenario


@pytest.fixture
def scenario_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EUROQCI_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "small.yaml"
    path.write_text(dump_scenario(small_scenario()))
    return path


def test_simulate_writes_summary_report_and_figures(scenario_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["simulate", str(scenario_file), "--days", "0.5", "--step-s", "30",
                 "--seed", "3", "--out", str(out)]) == 0
    assert "demands fully served" in capsys.readouterr().out
    doc = json.loads((out / "summary.json").read_text())
    assert doc["scenario"] == "small" and doc["days"] == 0.5
    site = doc["sites"][0]
    assert set(site) >= {"id", "name", "country", "lat", "lon", "kind", "overseas"}
    kinds = {link["kind"] for link in doc["links"]}
    assert kinds == {"fiber", "satellite"}
    for link in doc["links"]:
        assert {"a", "b", "kind", "mean_secret_key_rate_bps"} <= set(link)
        assert ("length_km" in link) == (link["kind"] == "fiber")
    for d in doc["demands"]:
        assert {"a", "b", "requested_bps", "served_fraction"} <= set(d)
        assert 0.0 <= d["served_fraction"] <= 1.0
    assert doc["trusted_nodes_added"] and all(n.startswith("TN-") for n in
                                              doc["trusted_nodes_added"])
    assert doc["totals"]["max_conservation_error"] < 1e-9
    sat = doc["satellite_links"]
    assert len(sat) == 2 and all(0 <= s["passes_clear"] <= s["passes"] for s in sat)
    series = np.load(out / "timeseries.npz")
    assert series["store_bits"].shape == (len(series["time_s"]), len(doc["links"]))
    assert series["served_bits"].shape == (len(series["time_s"]), len(doc["demands"]))
    assert np.all(np.diff(series["served_bits"], axis=0) >= 0)
    for png in ("map.png", "ground_tracks.png", "time_series.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    # one self-contained file: nothing fetched from anywhere
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert page.count("data:image/png;base64,") == 3
    assert "Bottlenecks" in page


def test_sweep_runs_variants(scenario_file, tmp_path):
    out = tmp_path / "sweep"
    assert main(["sweep", str(scenario_file), "--vary", "failures.enabled=false,true",
                 "--days", "0.25", "--step-s", "60", "--workers", "1", "--out", str(out)]) == 0
    rows = json.loads((out / "sweep.json").read_text())
    assert [r["failures.enabled"] for r in rows] == [False, True]


@pytest.mark.parametrize("argv", [
    ["simulate", "no-such-file.yaml"],
    ["simulate", "--days", "-1"],
    ["simulate", "--step-s", "abc"],
    ["sweep", "builtin", "--vary", "failures.nonsense=1"],
])
def test_bad_input_is_one_line_and_exit_2(argv):
    r = subprocess.run([sys.executable, "-m", "euroqci", *argv], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("argv, name", [
    (["simulate", "--seed", "-1"], "seed"),
    (["simulate", "--days", "0.01", "--step-s", "3600"], "step_s"),  # a step longer than the run
    (["simulate", "--out", "/dev/null/x"], "--out"),  # checked before the run, not after it
    (["sweep", "small", "--vary", "failures.fiber_mttr_h=abc"], "--vary"),
    (["sweep", "small", "--vary", "failures.fiber_mttr_h=6,24", "--workers", "0"], "--workers"),
    (["sweep", "small", "--scheduler", "not:::an-address"], "--scheduler"),
])
def test_more_bad_input_is_one_line_and_exit_2(capsys, scenario_file, argv, name):
    # in-process (the real-process check above covers tracebacks): these were tracebacks
    argv = [str(scenario_file) if a == "small" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0], err
