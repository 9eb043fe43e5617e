"""Authorisation matrix of a KME: who may call what, and what each refusal looks like."""

from __future__ import annotations

import httpx
import pytest

from euroqci.kms.pki import init_pki
from euroqci.kms.tls import client_context
from tests.kms.conftest import wait_for_keys


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    """A second CA issuing a certificate for the very same SAE name "bob"."""
    directory = tmp_path_factory.mktemp("other-pki")
    init_pki(directory, ["B"], [("bob", "B")])
    return directory


def _client(pki, cert: str | None, url: str) -> httpx.Client:
    files = (pki / f"{cert}.pem", pki / f"{cert}-key.pem") if cert else (None, None)
    return httpx.Client(base_url=url, verify=client_context(pki / "ca.pem", *files), timeout=5)


def test_unknown_ca_and_missing_certificate_fail_the_handshake(pki, other_pki, run_kmes):
    kmes = run_kmes()
    url = kmes["B"].url
    # other CA's "bob": the KME refuses the client certificate during the TLS handshake
    forged = httpx.Client(
        base_url=url,
        verify=client_context(
            pki / "ca.pem", other_pki / "sae-bob.pem", other_pki / "sae-bob-key.pem"
        ),
        timeout=5,
    )
    with forged, pytest.raises(httpx.TransportError):
        forged.get("/api/v1/keys/alice/status")
    with _client(pki, None, url) as anonymous, pytest.raises(httpx.TransportError):
        anonymous.get("/api/v1/keys/alice/status")
    # and an SAE refuses a KME whose certificate the SAE's CA did not sign
    with _client(other_pki, "sae-bob", url) as wary, pytest.raises(httpx.ConnectError):
        wary.get("/api/v1/keys/alice/status")


def test_only_the_named_slave_gets_a_key_and_only_once(pki, run_kmes, clients):
    kmes = run_kmes()
    alice, bob, carol = (
        clients("alice", kmes["A"]),
        clients("bob", kmes["B"]),
        clients("carol", kmes["B"]),
    )
    wait_for_keys(alice, "bob")
    kid = alice.get("/api/v1/keys/bob/enc_keys").json()["keys"][0]["key_ID"]
    ids = {"key_IDs": [{"key_ID": kid}]}
    r = carol.post("/api/v1/keys/alice/dec_keys", json=ids)  # another SAE of the same KME
    assert r.status_code == 401 and r.json()["message"]
    r = bob.post("/api/v1/keys/eve/dec_keys", json=ids)  # right slave, wrong master
    assert r.status_code == 401 and r.json()["message"]
    assert bob.post("/api/v1/keys/alice/dec_keys", json=ids).status_code == 200
    r = bob.post("/api/v1/keys/alice/dec_keys", json=ids)  # reuse of a delivered key ID
    assert r.status_code == 400
    assert r.json()["message"] == "one or more keys specified are not found on KME"


def test_identity_comes_from_the_certificate_and_its_role(pki, run_kmes, clients):
    kmes = run_kmes()
    # an SAE registered at A is no SAE of B
    r = clients("alice", kmes["B"]).get("/api/v1/keys/bob/status")
    assert r.status_code == 401 and "not an SAE registered at KME B" in r.json()["message"]
    # a KME certificate is not an SAE; an SAE certificate is not a peer KME
    with _client(pki, "kme-A", kmes["B"].url) as kme_a:
        assert kme_a.get("/api/v1/keys/alice/status").status_code == 401
        wait_for_keys(clients("bob", kmes["B"]), "alice")
    fake = {
        "keys": [
            {
                "key_ID": "0a782fb5-3434-48fe-aa4d-14f41d46cf92",
                "chunk_IDs": ["x"],
                "size": 256,
                "master_SAE_ID": "alice",
                "slave_SAE_IDs": ["bob"],
            }
        ]
    }
    r = clients("alice", kmes["B"]).post("/peer/v1/keys", json=fake)
    assert r.status_code == 401
    # a KME without a QKD link to B may not announce link keys to it
    with _client(pki, "kme-C", kmes["B"].url) as kme_c:
        r = kme_c.post("/peer/v1/keys", json=fake)
        assert r.status_code == 400 and "shares no QKD link" in r.json()["message"]
    # the adjacent KME naming chunks B does not hold: refused per key, nothing stored
    with _client(pki, "kme-A", kmes["B"].url) as kme_a:
        r = kme_a.post("/peer/v1/keys", json=fake)
        assert r.status_code == 200
        assert r.json()["results"][0] == {
            "key_ID": fake["keys"][0]["key_ID"],
            "stored": False,
            "reason": "chunks not available",
        }
    ids = {"key_IDs": [{"key_ID": fake["keys"][0]["key_ID"]}]}
    assert (
        clients("bob", kmes["B"]).post("/api/v1/keys/alice/dec_keys", json=ids).status_code == 400
    )


def test_a_kme_checks_the_peer_it_announces_to_is_the_right_kme(run_kmes, clients):
    kmes = run_kmes()
    alice = clients("alice", kmes["A"])
    wait_for_keys(alice, "bob")
    kmes["A"].ctx.peers.kme_urls["B"] = kmes["C"].url  # B's URL now leads to KME C
    r = alice.get("/api/v1/keys/bob/enc_keys")
    assert r.status_code == 503 and "is not KME B" in r.json()["message"]
