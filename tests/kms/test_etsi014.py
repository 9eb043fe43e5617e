"""ETSI GS QKD 014 V1.1.1 behaviour of a KME over mutual TLS, on DIRECT links.

The texts checked here are the standard's own (clause 6, Tables 9-13).
"""

from __future__ import annotations

import base64
import uuid

from etsi_qkd_014_client import QKD014Client

from tests.kms.conftest import BLOCKS_PER_LINK, wait_for_keys


def _third_party(pki, sae: str, server) -> QKD014Client:
    host = server.url.removeprefix("https://")
    return QKD014Client(
        host, str(pki / f"sae-{sae}.pem"), str(pki / f"sae-{sae}-key.pem"), str(pki / "ca.pem")
    )


def test_third_party_client_gets_the_same_key_at_both_ends_of_a_direct_link(pki, run_kmes, clients):
    kmes = run_kmes()
    wait_for_keys(clients("alice", kmes["A"]), "bob")  # the link's key is being fed
    alice, bob = _third_party(pki, "alice", kmes["A"]), _third_party(pki, "bob", kmes["B"])
    code, status = alice.get_status("bob")
    assert code == 200, status
    assert (status.source_kme_id, status.target_kme_id) == ("A", "B")
    assert (status.master_sae_id, status.slave_sae_id) == ("alice", "bob")
    code, container = alice.get_key("bob", number=3, size=512)
    assert code == 200, container
    sent = {k.key_id: k.key for k in container.keys}
    assert len(sent) == 3 and all(len(base64.b64decode(k)) == 64 for k in sent.values())
    for key_id in sent:
        assert str(uuid.UUID(key_id)) == key_id
    code, got = bob.get_key_with_key_IDs("alice", list(sent))
    assert code == 200, got
    assert {k.key_id: k.key for k in got.keys} == sent
    code, again = bob.get_key_with_key_IDs("alice", [next(iter(sent))])
    assert code == 400 and again.message == "one or more keys specified are not found on KME"


def test_get_forms_default_key_and_link_pool_accounting(run_kmes, clients):
    kmes = run_kmes()
    alice, bob = clients("alice", kmes["A"]), clients("bob", kmes["B"])
    wait_for_keys(alice, "bob", BLOCKS_PER_LINK)
    r = alice.get("/api/v1/keys/bob/enc_keys")  # GET, no query: one key of key_size bits
    assert r.status_code == 200
    (key,) = r.json()["keys"]
    assert len(base64.b64decode(key["key"])) == 256 // 8
    r = bob.get("/api/v1/keys/alice/dec_keys", params={"key_ID": key["key_ID"]})
    assert r.json()["keys"] == [key]
    status = alice.get("/api/v1/keys/bob/status").json()
    assert status["stored_key_count"] == BLOCKS_PER_LINK - 1  # one 256-bit chunk used
    assert bob.get("/api/v1/keys/alice/status").json()["stored_key_count"] == BLOCKS_PER_LINK - 1


def test_both_directions_at_once_never_share_link_key(run_kmes, clients):
    kmes = run_kmes()
    alice, bob = clients("alice", kmes["A"]), clients("bob", kmes["B"])
    wait_for_keys(alice, "bob", BLOCKS_PER_LINK)
    wait_for_keys(bob, "alice", BLOCKS_PER_LINK)
    a_keys = alice.post("/api/v1/keys/bob/enc_keys", json={"number": 20}).json()["keys"]
    b_keys = bob.post("/api/v1/keys/alice/enc_keys", json={"number": 20}).json()["keys"]
    assert not {k["key"] for k in a_keys} & {k["key"] for k in b_keys}
    ids = [{"key_ID": k["key_ID"]} for k in b_keys]
    assert alice.post("/api/v1/keys/bob/dec_keys", json={"key_IDs": ids}).json()["keys"] == b_keys


def test_multicast_to_local_adjacent_and_otp_over_another_link(run_kmes, clients):
    kmes = run_kmes()
    alice = clients("alice", kmes["A"])
    wait_for_keys(alice, "bob")
    wait_for_keys(alice, "dave")
    body = {"number": 2, "size": 128, "additional_slave_SAE_IDs": ["carol", "dave", "eve"]}
    r = alice.post("/api/v1/keys/bob/enc_keys", json=body)
    assert r.status_code == 200, r.text
    keys = r.json()["keys"]
    ids = {"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]}
    for sae, kme in (("bob", "B"), ("carol", "B"), ("dave", "C"), ("eve", "A")):
        got = clients(sae, kmes[kme]).post("/api/v1/keys/alice/dec_keys", json=ids)
        assert got.status_code == 200, (sae, got.text)
        assert got.json()["keys"] == keys, sae
    assert alice.get("/api/v1/keys/dave/status").json()["stored_key_count"] == BLOCKS_PER_LINK - 2


def test_standard_error_messages(run_kmes, clients):
    kmes = run_kmes()
    alice = clients("alice", kmes["A"])
    wait_for_keys(alice, "bob")
    r = alice.post("/api/v1/keys/bob/enc_keys", json={"size": 100})
    assert (r.status_code, r.json()["message"]) == (400, "size shall be a multiple of 8")
    ext = {"extension_mandatory": [{"abc_transfer_method": "qkd"}]}
    r = alice.post("/api/v1/keys/bob/enc_keys", json=ext)
    assert r.status_code == 400
    assert r.json() == {
        "message": "not all extension_mandatory parameters are supported",
        "details": [{"extension_mandatory_unsupported": "abc_transfer_method is not supported"}],
    }
    ext = {"extension_mandatory": [{"euroqci_route_type": "relayed"}]}  # no relay here
    r = alice.post("/api/v1/keys/bob/enc_keys", json=ext)
    assert r.json()["message"] == "not all extension_mandatory request options could be met"
    ext = {"extension_optional": [{"euroqci_route_type": "relayed"}, {"abc_max_age": 30000}]}
    assert alice.post("/api/v1/keys/bob/enc_keys", json=ext).status_code == 200
    ext = {"extension_mandatory": [{"euroqci_route_type": "direct"}]}
    assert alice.post("/api/v1/keys/bob/enc_keys", json=ext).status_code == 200
    bob = clients("bob", kmes["B"])  # B and C share no link, and no relay runs here
    r = bob.post("/api/v1/keys/dave/enc_keys", json=ext)
    assert r.json()["message"] == "not all extension_mandatory request options could be met"
    r = bob.post(
        "/api/v1/keys/dave/enc_keys", json={"extension_optional": ext["extension_mandatory"]}
    )
    assert r.status_code == 503 and "no trusted-node relay" in r.json()["message"]
    ext = {"extension_mandatory": [{"euroqci_multipath": 0}]}
    r = alice.post("/api/v1/keys/bob/enc_keys", json=ext)
    assert (r.status_code, r.json()["details"]) == (
        400,
        [{"euroqci_multipath": "unsupported value 0"}],
    )
    for bad in (
        {"number": 0},
        {"number": 129},
        {"size": 8},
        {"number": "3"},
        {"additional_slave_SAE_IDs": []},
        {"additional_slave_SAE_IDs": ["bob"]},
        {"additional_slave_SAE_IDs": ["nobody"]},
    ):
        r = alice.post("/api/v1/keys/bob/enc_keys", json=bad)
        assert r.status_code == 400 and "message" in r.json(), (bad, r.text)
    assert alice.get("/api/v1/keys/bob/enc_keys?number=x").status_code == 400
    assert alice.get("/api/v1/keys/alice/enc_keys").status_code == 400  # self-pairing off
    r = alice.post("/api/v1/keys/bob/dec_keys", json={"key_IDs": [{"key_ID": "not-a-uuid"}]})
    assert r.status_code == 400
    r = alice.post("/api/v1/keys/bob/enc_keys", content=b"{not json")
    assert r.status_code == 400 and r.json()["message"]


def test_post_without_content_type_and_503_when_the_link_is_empty(run_kmes, clients):
    kmes = run_kmes()
    alice = clients("alice", kmes["A"])
    wait_for_keys(alice, "bob", BLOCKS_PER_LINK)
    r = alice.post("/api/v1/keys/bob/enc_keys", content=b'{"number": 2}')
    assert r.status_code == 200 and len(r.json()["keys"]) == 2
    r = alice.post("/api/v1/keys/bob/enc_keys", json={"number": 100, "size": 4096})
    assert r.status_code == 503 and "insufficient key material" in r.json()["message"]
    assert alice.get("/api/v1/keys/bob/status").json()["stored_key_count"] == BLOCKS_PER_LINK - 2


def test_metrics_count_issue_delivery_and_errors(run_kmes, clients):
    kmes = run_kmes()
    alice, bob = clients("alice", kmes["A"]), clients("bob", kmes["B"])
    wait_for_keys(alice, "bob")
    kid = alice.get("/api/v1/keys/bob/enc_keys").json()["keys"][0]["key_ID"]
    bob.get("/api/v1/keys/alice/dec_keys", params={"key_ID": kid})
    bob.get("/api/v1/keys/alice/dec_keys", params={"key_ID": kid})
    text_a, text_b = alice.get("/ops/metrics").text, bob.get("/ops/metrics").text
    assert 'euroqci_kms_keys_issued_total{route="direct"} 1' in text_a
    assert f'euroqci_kms_link_key_chunks{{link="A-B"}} {BLOCKS_PER_LINK - 1}' in text_a
    assert "euroqci_kms_keys_delivered_total 1" in text_b
    assert 'euroqci_kms_errors_total{status="400"} 1' in text_b
    assert 'euroqci_kms_peer_keys_total{outcome="stored"} 1' in text_b
