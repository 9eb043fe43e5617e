"""Trusted-node relay: one-time pad and XOR shares (unit), and a relayed key served to a
third-party ETSI 014 client through `euroqci up examples/three-nodes.yaml` (integration)."""

from __future__ import annotations

import dataclasses
import time
import uuid

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter, ScenarioError
from euroqci.kms.launcher import running_network
from euroqci.kms.netdesc import load_network, parse_network
from euroqci.kms.relay import RelayFailed, split_shares, xor_bytes
from euroqci.kms.tls import client_context
from tests.kms._network import EXAMPLES, STATIC_FEEDS, on_loop, relayed_key, sae_client


@given(st.binary(min_size=0, max_size=256), st.integers(1, 5))
def test_xor_shares_rebuild_the_key(material, n_shares):
    shares = split_shares(material, n_shares)
    assert len(shares) == n_shares and all(len(s) == len(material) for s in shares)
    rebuilt = bytes(len(material))
    for share in shares:
        rebuilt = xor_bytes(rebuilt, share)
    assert rebuilt == material


def test_one_share_says_nothing_about_the_key():
    """With two shares, share 0 is fresh CSPRNG output: the same key split twice gives
    different first shares (2**-256 chance of a false failure)."""
    key = bytes(range(32))
    first = {split_shares(key, 2)[0] for _ in range(4)}
    assert len(first) == 4 and key not in first


def test_pad_lengths_must_match():
    with pytest.raises(InvalidParameter, match="pad length"):
        xor_bytes(b"abc", b"ab")
    with pytest.raises(InvalidParameter, match="n_shares"):
        split_shares(b"k", 0)


@pytest.mark.parametrize("data, message", [
    ({"kmes": []}, "at least one KME"),
    ({"kmes": [{"id": "A"}, {"id": "A"}]}, "unique"),
    ({"kmes": [{"id": "A"}, {"id": "B"}], "links": [{"a": "A", "b": "B"}]}, "exactly one"),
    ({"kmes": [{"id": "A"}], "links": [{"a": "A", "b": "Z", "rate_bps": 1}]}, "unknown KME"),
    ({"kmes": [{"id": "A", "domain": "x"}, {"id": "B", "domain": "y"}],
      "links": [{"a": "A", "b": "B", "rate_bps": 1}]}, "crosses domains"),
    ({"kmes": [{"id": "A"}, {"id": "B"}], "borders": [["A", "B"]]}, "one domain"),
    ({"kmes": [{"id": "A"}], "saes": [{"id": "s", "kme": "Q"}]}, "unknown KME"),
])
def test_bad_network_descriptions_are_named(data, message):
    with pytest.raises(ScenarioError, match=message):
        parse_network(data)


@pytest.fixture()
def diamond(tmp_path):
    desc = load_network(EXAMPLES / "diamond.yaml")
    with running_network(desc, tmp_path, STATIC_FEEDS) as (runner, loop):
        yield runner, loop


def _entries(runner, kme: str, key_id: str, role: str | None = None):
    return [e for e in runner.relay_of(kme).journal
            if key_id in e.key_ids and role in (None, e.role)]


def _drain(runner, loop, kme: str, link: tuple[str, str], n_chunks: int | None = None):
    """Take link key out of one KME's store, as if spent on other keys."""
    store = runner.relay_of(kme).store

    async def take() -> None:
        store.reserve(link, n_chunks or store.available_chunks(link), oldest_first=True)

    on_loop(loop, take())


def _fresh_view(runner, loop) -> None:
    """Make KME A poll every KME's link levels now (the view is otherwise cached 5 s)."""
    relay = runner.relay_of("A")
    relay._view = None
    on_loop(loop, relay.link_view())


def _source_path(runner, key_id: str) -> tuple[str, ...]:
    (entry,) = _entries(runner, "A", key_id, "source")
    return entry.path


def test_void_after_completion_deletes_the_key_at_the_destination(diamond):
    """If enc_keys fails after a relay completed, the source voids it: the far KME
    deletes the key, so the two ends never disagree about which keys exist."""
    runner, loop = diamond
    relay_a = runner.relay_of("A")
    key_id, material = str(uuid.uuid4()), bytes(range(32))
    relay_id, paths = on_loop(loop, relay_a.relay("B", [(key_id, material)], "alice", ["bob"]))
    assert paths[0][0] == "A" and paths[0][-1] == "B"
    on_loop(loop, relay_a._void("B", relay_id))
    with sae_client(runner.state, "bob") as bob:
        answer = bob.post("/api/v1/keys/alice/dec_keys", json={"key_IDs": [{"key_ID": key_id}]})
    assert answer.status_code == 400


def test_route_follows_the_available_key(diamond):
    """network.routing.route: the widest bottleneck wins; equal stores go to T1 (tie)."""
    runner, loop = diamond
    with sae_client(runner.state, "alice") as alice, sae_client(runner.state, "bob") as bob:
        _fresh_view(runner, loop)
        key_id, _ = relayed_key(alice, bob, "alice", "bob")
        assert _source_path(runner, key_id) == ("A", "T1", "B")
        assert [e.role for e in _entries(runner, "T1", key_id)] == ["trusted"]
        assert _entries(runner, "T2", key_id) == []
        for kme in ("A", "T1"):
            _drain(runner, loop, kme, ("A", "T1"), 100)
        _fresh_view(runner, loop)
        key_id, _ = relayed_key(alice, bob, "alice", "bob")
        assert _source_path(runner, key_id) == ("A", "T2", "B")
    assert runner.relay_of("A").counters["reroutes"] == 0


def test_reroute_around_a_failed_trusted_node(diamond):
    runner, loop = diamond
    _fresh_view(runner, loop)  # still says T1 is up (and preferred) after it stops
    on_loop(loop, runner.stop_kme("T1"))
    with sae_client(runner.state, "alice") as alice, sae_client(runner.state, "bob") as bob:
        key_id, _ = relayed_key(alice, bob, "alice", "bob")
        assert _source_path(runner, key_id) == ("A", "T2", "B")
        assert runner.relay_of("A").counters["reroutes"] == 1
        assert len(_entries(runner, "B", key_id, "destination")) == 1
        for _ in range(100):  # the source's acknowledgement follows enc_keys
            if _entries(runner, "B", key_id, "acknowledged"):
                break
            time.sleep(0.05)
        assert len(_entries(runner, "B", key_id, "acknowledged")) == 1
        # with both trusted nodes down there is no route: ETSI 014 503 with the reason
        on_loop(loop, runner.stop_kme("T2"))
        _fresh_view(runner, loop)
        answer = alice.post("/api/v1/keys/bob/enc_keys", json={"number": 1})
    assert answer.status_code == 503
    assert "route" in answer.json()["message"]


def test_reroute_around_a_link_out_of_key(diamond):
    """T1 has no key left on T1-B but A's cached view does not know yet: T1 refuses the
    hop naming the link, and A re-routes through T2."""
    runner, loop = diamond
    _fresh_view(runner, loop)
    _drain(runner, loop, "T1", ("B", "T1"))
    with sae_client(runner.state, "alice") as alice, sae_client(runner.state, "bob") as bob:
        key_id, _ = relayed_key(alice, bob, "alice", "bob")
    assert _source_path(runner, key_id) == ("A", "T2", "B")
    assert runner.relay_of("A").counters["reroutes"] == 1


def test_source_confirms_the_kme_id_from_the_server_certificate(tmp_path):
    """A's idea of T's URL points at B: B's certificate says B, so A neither trusts B's
    link report as T's nor sends T's hop there (ETSI 014 clause 5.1: confirm the KME ID
    from the certificate), and the relay fails without any trusted node involved."""
    desc = load_network(EXAMPLES / "three-nodes.yaml")
    with running_network(desc, tmp_path, STATIC_FEEDS) as (runner, loop):
        relay_a = runner.relay_of("A")
        urls = {**relay_a.topology.kme_urls, "T": runner.kmes["B"].url}
        relay_a.topology = dataclasses.replace(relay_a.topology, kme_urls=urls)
        relay_a._view = None
        with pytest.raises(RelayFailed, match="route"):
            on_loop(loop, relay_a.relay("B", [(str(uuid.uuid4()), bytes(32))], "alice",
                                        ["bob"]))
        assert all(e.role != "destination" for e in runner.relay_of("B").journal)
        relay_a._view = (time.monotonic(), {("A", "T"): 1e6, ("B", "T"): 1e6}, set())
        with pytest.raises(RelayFailed, match="route") as failure:  # tried T's URL first
            on_loop(loop, relay_a.relay("B", [(str(uuid.uuid4()), bytes(32))], "alice",
                                        ["bob"]))
        assert "is not KME T" in str(failure.value.__cause__)
        assert failure.value.failed_nodes == ("T",)


def test_hop_requests_are_checked(tmp_path):
    """Hop requests from a peer KME: malformed ones get 400, one claiming a hop that does
    not join the caller to this KME gets 503 naming the caller, an SAE gets 401."""
    desc = load_network(EXAMPLES / "three-nodes.yaml")
    with running_network(desc, tmp_path, STATIC_FEEDS) as (runner, _):
        pki = runner.run_dir / "pki"
        ctx = client_context(pki / "ca.pem", pki / "kme-T.pem", pki / "kme-T-key.pem")
        hop = {"relay_id": "r", "path": ["A", "T", "B"], "hop": 2, "share_index": 0,
               "share_count": 1, "keys": [{"key_ID": "k", "size": 256}],
               "initiator_sae_id": "alice", "target_sae_ids": ["bob"],
               "pad_ids": ["p"], "ciphertext": "not base64!"}
        url = f"{runner.kmes['B'].url}/peer/v1/relay/forward"
        with httpx.Client(verify=ctx) as as_t:
            assert as_t.post(url, json=hop).status_code == 400
            assert as_t.post(url, json={**hop, "hop": "x"}).status_code == 400
            wrong = as_t.post(url, json={**hop, "path": ["A", "B"], "hop": 1})
            assert wrong.status_code == 503
            assert {"failed_node": "T"} in wrong.json()["details"]
        with sae_client(runner.state, "bob") as bob:
            assert bob.post(url, json=hop).status_code == 401
