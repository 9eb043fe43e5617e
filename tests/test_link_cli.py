"""``euroqci link``: JSON contract, bad input, and two processes over TCP/TLS on 127.0.0.1."""

import json
import subprocess
import sys

import pytest
import trustme

from euroqci.cli import main

FAST = ["--distance-km", "10", "--block-size", "1e5", "--frame-bits", "4096"]
FIELDS = ("pulses", "sifted_bits", "qber", "reconciliation", "verification_failures",
          "auth_key_consumed_bits", "secret_bits", "keys_identical", "aborted", "abort_reason",
          "throughput_bps")


def run_json(capsys, *flags):
    assert main(["link", "run", *FAST, "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_json_contract(capsys):
    out = run_json(capsys, "--duration-s", "0.03", "--seed", "3")
    assert all(f in out for f in FIELDS)
    assert set(out["reconciliation"]) >= {"method", "leaked_bits", "efficiency"}
    assert out["keys_identical"] is True and not out["aborted"]
    assert out["secret_bits"] > 0 and out["auth_key_consumed_bits"] > 0
    assert 0.005 < out["qber"] < 0.02 and 1.0 < out["reconciliation"]["efficiency"] < 1.3
    assert {"events", "sifting", "reconciliation", "amplification", "end_to_end"} <= set(
        out["throughput_bps"])


def test_one_decoy_rusca(capsys):
    out = run_json(capsys, "--duration-s", "0.03", "--decoys", "1")
    assert len(out["link"]["intensities"]) == 2
    assert out["keys_identical"] is True and out["secret_bits"] > 0


def test_run_intercept_resend_aborts(capsys):
    out = run_json(capsys, "--duration-s", "0.02", "--eavesdropper", "intercept-resend")
    assert out["aborted"] and out["secret_bits"] == 0 and out["qber"] > 0.2


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_run_in_two_lanes(capsys):
    """The same blocks as one lane (the short last block has no key either way)."""
    lanes = run_json(capsys, "--duration-s", "0.05", "--seed", "3", "--lanes", "2")
    one = run_json(capsys, "--duration-s", "0.05", "--seed", "3")
    assert lanes["keys_identical"] is True and lanes["blocks_delivered"] >= 2
    for key in ("blocks", "blocks_delivered", "sifted_bits", "qber"):
        assert lanes[key] == one[key]


def test_table_output(capsys):
    assert main(["link", "run", *FAST, "--duration-s", "0.02"]) == 0
    assert "secret key bits" in capsys.readouterr().out


def exit_code(argv):
    """main()'s status, or argparse's exit status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("flags,word", [
    (["--duration-s", "0"], "--duration-s"),
    (["--eavesdropper", "mitm"], "eavesdropper"),
    (["--misalignment", "0.7"], "misalignment"),
    (["--block-size", "10"], "--block-size"),
    (["--reconciliation", "magic"], "reconciliation"),
    (["--lanes", "0"], "--lanes"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, flags, word):
    assert exit_code(["link", "run", *FAST, *flags]) == 2
    err = capsys.readouterr().err
    assert word in err and err.count("\n") == 1


def test_bad_address_exit_2(capsys, tmp_path):
    code = main(["link", "bob", *FAST, "--connect", "nowhere", "--cert", "c", "--key", "k",
                 "--ca", "a"])
    assert code == 2 and "HOST:PORT" in capsys.readouterr().err


def test_missing_certificate_files_exit_2(capsys, tmp_path):
    code = main(["link", "alice", *FAST, "--listen", "127.0.0.1:0",
                 "--cert", str(tmp_path / "none.pem"), "--key", str(tmp_path / "none.key"),
                 "--ca", str(tmp_path / "ca.pem")])
    err = capsys.readouterr().err
    assert code == 2 and "--cert" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    ca = trustme.CA()
    d = tmp_path_factory.mktemp("pki")
    ca.cert_pem.write_to_path(d / "ca.pem")
    for name in ("alice", "bob"):
        cert = ca.issue_cert("127.0.0.1", f"{name}.example")
        cert.cert_chain_pems[0].write_to_path(d / f"{name}.pem")
        cert.private_key_pem.write_to_path(d / f"{name}.key")
    return d


def test_two_processes_over_tls(certs):
    common = [*FAST, "--duration-s", "0.03", "--seed", "11", "--json", "--timeout-s", "60",
              "--ca", str(certs / "ca.pem")]
    alice = subprocess.Popen(
        [sys.executable, "-m", "euroqci", "link", "alice", *common, "--listen", "127.0.0.1:0",
         "--cert", str(certs / "alice.pem"), "--key", str(certs / "alice.key")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = alice.stderr.readline()
        assert line.startswith("listening on 127.0.0.1:"), line
        port = line.strip().rsplit(":", 1)[1]
        bob = subprocess.run(
            [sys.executable, "-m", "euroqci", "link", "bob", *common, "--connect",
             f"127.0.0.1:{port}", "--cert", str(certs / "bob.pem"), "--key",
             str(certs / "bob.key")], capture_output=True, text=True, timeout=120)
        a_out, a_err = alice.communicate(timeout=120)
    finally:
        alice.kill()
        alice.wait()
    assert bob.returncode == 0 and alice.returncode == 0, (bob.stderr, a_err)
    a, b = json.loads(a_out), json.loads(bob.stdout)
    assert a["keys_identical"] is True and b["keys_identical"] is True
    assert a["secret_bits"] == b["secret_bits"] > 0
    assert a["sifted_bits"] == b["sifted_bits"]
