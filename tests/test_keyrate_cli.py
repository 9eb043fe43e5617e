"""The ``euroqci keyrate`` contract (issue 2, section 3)."""

import json
import subprocess
import sys

import pytest

from euroqci.cli import main

FIELDS = {
    "distance_km",
    "loss_db",
    "secret_key_rate_per_pulse",
    "secret_key_rate_bps",
    "qber",
    "parameters",
}


def run_json(capsys, *argv):
    assert main(["keyrate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_single_distance_gives_an_object(capsys):
    row = run_json(capsys, "--protocol", "bb84-decoy", "--distance-km", "50")
    assert FIELDS <= set(row)
    assert row["distance_km"] == 50 and row["loss_db"] == pytest.approx(10.0)
    assert row["secret_key_rate_bps"] == pytest.approx(1e9 * row["secret_key_rate_per_pulse"])
    assert 0 < row["qber"] < 0.05
    assert {"mu1", "mu2"} <= set(row["parameters"])


def test_list_and_range_give_lists(capsys):
    rows = run_json(capsys, "--distance-km", "10,50,100")
    assert [r["distance_km"] for r in rows] == [10, 50, 100]
    rows = run_json(capsys, "--distance-km", "0:200:10")
    assert len(rows) == 21 and rows[-1]["distance_km"] == 200
    rates = [r["secret_key_rate_per_pulse"] for r in rows]
    assert rates[0] > rates[10] > 0 and rates[-1] == 0


def test_loss_db_finite_key_and_flags(capsys):
    row = run_json(
        capsys,
        "--loss-db",
        "20",
        "--block-size",
        "1e8",
        "--decoys",
        "1",
        "--sifting",
        "efficient",
        "--detector-efficiency",
        "0.2",
        "--dark-count-prob",
        "1e-7",
        "--misalignment",
        "0.02",
    )
    assert row["distance_km"] is None and row["loss_db"] == 20
    assert 0 < row["secret_key_rate_per_pulse"] < 1e-3
    assert "pulses_per_block" in row["parameters"]


@pytest.mark.parametrize(
    "protocol, key", [("bbm92", "mean_pair_number"), ("cv-gg02", "modulation_variance")]
)
def test_other_protocols(capsys, protocol, key):
    rows = run_json(capsys, "--protocol", protocol, "--distance-km", "0,25")
    assert rows[0]["secret_key_rate_bps"] > rows[1]["secret_key_rate_bps"] > 0
    assert key in rows[0]["parameters"]


def test_table_and_plot(capsys, tmp_path):
    plot = tmp_path / "rate.png"
    assert main(["keyrate", "--distance-km", "0:100:50", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "R bit/s" in out and "100" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv, name",
    [
        (["--distance-km", "-5"], "--distance-km"),
        (["--distance-km", "0:200"], "--distance-km"),
        (["--distance-km", "0:abc:10"], "--distance-km"),
        (["--distance-km", "0:1e9:1"], "at most 100000 values"),  # refused before allocating
        (["--distance-km", "0:inf:1"], "--distance-km"),
        (["--detector-efficiency", "1.5"], "--detector-efficiency"),
        (["--protocol", "e91"], "--protocol"),
        (["--block-size", "1e6", "--decoys", "infinite"], "--decoys"),
        (["--distance-km", "5", "--loss-db", "3"], "--loss-db"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, name):
    try:
        status = main(["keyrate", *argv])
    except SystemExit as exc:  # argparse usage errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0]


def test_bad_input_from_the_shell_has_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "euroqci", "keyrate", "--distance-km", "-5"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
