"""Domain border with ETSI GS QKD 020 (draft) ext_keys, on examples/two-domains.yaml:
alice @ PAR (FR) -- FR-X | border | DE-Y -- BER @ bob (DE)."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from euroqci.kms.launcher import running_network
from euroqci.kms.netdesc import load_network
from euroqci.kms.tls import client_context
from tests.kms._network import EXAMPLES, STATIC_FEEDS, relayed_key, sae_client


@pytest.fixture(scope="module")
def two_domains(tmp_path_factory):
    desc = load_network(EXAMPLES / "two-domains.yaml")
    run_dir = tmp_path_factory.mktemp("two-domains")
    with running_network(desc, run_dir, STATIC_FEEDS) as (runner, _loop):
        yield runner


def _kme_client(runner, kme: str) -> httpx.Client:
    pki = runner.run_dir / "pki"
    ctx = client_context(pki / "ca.pem", pki / f"kme-{kme}.pem", pki / f"kme-{kme}-key.pem")
    return httpx.Client(verify=ctx, timeout=10.0)


def _url(runner, kme: str) -> str:
    return runner.kmes[kme].url


def test_key_crosses_the_border_with_ext_keys(two_domains):
    runner = two_domains
    with sae_client(runner.state, "alice") as alice, sae_client(runner.state, "bob") as bob:
        key_id, _ = relayed_key(alice, bob, "alice", "bob")
    roles = {kme: [e.role for e in runner.relay_of(kme).journal
                   if key_id in e.key_ids and e.role != "acknowledged"]
             for kme in ("PAR", "FR-X", "DE-Y", "BER")}
    assert roles == {"PAR": ["source"], "FR-X": ["destination", "border-out"],
                     "DE-Y": ["source", "border-in"], "BER": ["destination"]}


def test_ext_keys_message_shape_and_ack(two_domains):
    """FR-X's own certificate, as the border KMS of FR, hands a key to DE-Y; DE-Y relays
    it to BER and acknowledges to the callback at FR-X (nothing waits there: FR-X answers
    400, which does not undo the hand-over)."""
    runner = two_domains
    key_id, material = str(uuid.uuid4()), bytes(range(32))
    body = {
        "keys": [{"key_id": key_id, "value": base64.b64encode(material).decode(),
                  "extension": {}}],
        "initiator_sae_id": "alice", "target_sae_ids": ["bob"],
        "ack_callback_url": f"{_url(runner, 'FR-X')}/kmapi/v1/ext_keys/ack",
        "extension_mandatory": {}, "extension_optional": {},
    }
    with _kme_client(runner, "FR-X") as border:
        versions = border.get(f"{_url(runner, 'DE-Y')}/kmapi/versions")
        assert versions.status_code == 200 and "v1" in versions.json()["versions"]
        answer = border.post(f"{_url(runner, 'DE-Y')}/kmapi/v1/ext_keys", json=body)
    assert answer.status_code == 200, answer.text
    with sae_client(runner.state, "bob") as bob:
        got = bob.post("/api/v1/keys/alice/dec_keys", json={"key_IDs": [{"key_ID": key_id}]})
    assert got.status_code == 200 and base64.b64decode(got.json()["keys"][0]["key"]) == material


@pytest.mark.parametrize("caller, callback_kme, status", [
    ("PAR", "PAR", 401),     # not a border peer of DE-Y
    ("FR-X", "PAR", 401),    # callback not at the caller's own URL
])
def test_ext_keys_only_from_the_border_peer(two_domains, caller, callback_kme, status):
    runner = two_domains
    body = {"keys": [{"key_id": str(uuid.uuid4()), "value": "AAAA"}],
            "initiator_sae_id": "alice", "target_sae_ids": ["bob"],
            "ack_callback_url": f"{_url(runner, callback_kme)}/kmapi/v1/ext_keys/ack"}
    with _kme_client(runner, caller) as client:
        answer = client.post(f"{_url(runner, 'DE-Y')}/kmapi/v1/ext_keys", json=body)
    assert answer.status_code == status and "message" in answer.json()
