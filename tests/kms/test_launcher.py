"""`euroqci up examples/three-nodes.yaml` as a subprocess, used by a third-party ETSI 014
client (PyPI `etsi-qkd-014-client`) over mutual TLS: a key from KME A for bob, the same key
by ID from KME B, relayed through the trusted node T (A and B share no QKD link)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from etsi_qkd_014_client import QKD014Client

from euroqci.kms.launcher import STATE_FILE
from euroqci.kms.tls import client_context

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "three-nodes.yaml"


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("up")
    # rate 0: the stores keep their initial key, so the link levels show what was spent
    proc = subprocess.Popen(
        [sys.executable, "-m", "euroqci", "up", str(EXAMPLE), "--run-dir", str(run_dir),
         "--max-rate-bps", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    state_path = run_dir / STATE_FILE
    deadline = time.monotonic() + 60
    while not state_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"euroqci up did not start: {proc.communicate()[1][-2000:]}")
        time.sleep(0.1)
    yield proc, run_dir, json.loads(state_path.read_text())
    if proc.poll() is None:
        proc.kill()
    proc.communicate()  # reaps the process and closes its pipes


def _client(state: dict, sae_id: str) -> QKD014Client:
    sae = next(s for s in state["saes"] if s["id"] == sae_id)
    url = next(k["url"] for k in state["kmes"] if k["id"] == sae["kme"])
    return QKD014Client(url.removeprefix("https://"), sae["cert"], sae["key"], state["ca"])


def _link_bits(state: dict, run_dir: Path, kme: str, asking: str) -> dict:
    """Link key levels a KME advertises to a peer (asked with the peer's certificate)."""
    pki = run_dir / "pki"
    ctx = client_context(pki / "ca.pem", pki / f"kme-{asking}.pem", pki / f"kme-{asking}-key.pem")
    url = next(k["url"] for k in state["kmes"] if k["id"] == kme)
    answer = httpx.get(f"{url}/peer/v1/relay/links", verify=ctx).json()
    return {(e["a"], e["b"]): e["bits"] for e in answer["links"]}


def test_state_file_lists_kmes_saes_and_absolute_paths(three_nodes):
    _, _, state = three_nodes
    assert [k["id"] for k in state["kmes"]] == ["A", "T", "B"]
    assert all(k["url"].startswith("https://127.0.0.1:") for k in state["kmes"])
    assert {(s["id"], s["kme"]) for s in state["saes"]} == {("alice", "A"), ("bob", "B")}
    for path in [state["ca"]] + [s[f] for s in state["saes"] for f in ("cert", "key")]:
        assert Path(path).is_absolute() and Path(path).is_file()


def test_third_party_client_gets_a_key_relayed_through_the_trusted_node(three_nodes):
    _, run_dir, state = three_nodes
    alice, bob = _client(state, "alice"), _client(state, "bob")
    before = _link_bits(state, run_dir, "T", asking="A")
    code, status = alice.get_status("bob")
    assert code == 200 and (status.source_kme_id, status.target_kme_id) == ("A", "B")
    code, container = alice.get_key("bob", number=2, size=256)
    assert code == 200, vars(container)
    keys = container.keys
    code, fetched = bob.get_key_with_key_IDs("alice", [k.key_id for k in keys])
    assert code == 200, vars(fetched)
    assert [k.key for k in fetched.keys] == [k.key for k in keys]
    assert len({k.key for k in keys}) == 2
    # the trusted node spent 2 x 256 bits on each of its links (one-time pad per hop)
    after = _link_bits(state, run_dir, "T", asking="B")
    assert before[("A", "T")] - after[("A", "T")] == 512
    assert before[("B", "T")] - after[("B", "T")] == 512
    code, again = bob.get_key_with_key_IDs("alice", [keys[0].key_id])  # single use
    assert code == 400 and "not found" in again.message


def test_sigterm_stops_cleanly(three_nodes):
    proc, _, _ = three_nodes
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "ready:" in out and "Traceback" not in err


def test_restart_keeps_pki_and_relayed_keys(tmp_path):
    """Stop and start the network on the same run directory: the PKI is reused and a key
    relayed before the stop is still served at the far KME after it."""
    from euroqci.kms.launcher import running_network
    from euroqci.kms.netdesc import load_network
    from tests.kms._network import STATIC_FEEDS, sae_client

    desc = load_network(EXAMPLE)
    with running_network(desc, tmp_path, STATIC_FEEDS) as (runner, _):
        ca_pem = Path(runner.state["ca"]).read_bytes()
        with sae_client(runner.state, "alice") as alice:
            answer = alice.post("/api/v1/keys/bob/enc_keys", json={"number": 1})
        assert answer.status_code == 200
        key = answer.json()["keys"][0]
    with running_network(desc, tmp_path, STATIC_FEEDS) as (runner, _):
        assert Path(runner.state["ca"]).read_bytes() == ca_pem
        with sae_client(runner.state, "bob") as bob:
            got = bob.post("/api/v1/keys/alice/dec_keys",
                           json={"key_IDs": [{"key_ID": key["key_ID"]}]})
    assert got.status_code == 200 and got.json()["keys"][0]["key"] == key["key"]
