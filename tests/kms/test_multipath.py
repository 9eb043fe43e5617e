"""Multipath relay (extension euroqci_multipath): the key travels as XOR shares over
node-disjoint paths, so no single trusted node learns it (Salvail et al., J. Comput.
Secur. 18, 61, 2010). Checked on examples/diamond.yaml: A -T1- B and A -T2- B."""

from __future__ import annotations

import base64

import pytest

from euroqci.kms.launcher import running_network
from euroqci.kms.netdesc import load_network
from euroqci.kms.relay import xor_bytes
from tests.kms._network import EXAMPLES, STATIC_FEEDS, relayed_key, sae_client


@pytest.fixture()
def diamond(tmp_path):
    desc = load_network(EXAMPLES / "diamond.yaml")
    with running_network(desc, tmp_path, STATIC_FEEDS) as (runner, loop):
        yield runner


def _spy_on_forwarded_plaintext(runner, kme: str, seen: list[bytes]) -> None:
    """Record what trusted node ``kme`` held in the clear after removing its pad."""
    relay = runner.relay_of(kme)
    original = relay._send

    async def spy(relay_id, path, hop, share_index, share_count, keys, master, slaves, plain):
        seen.append(plain)
        return await original(relay_id, path, hop, share_index, share_count, keys, master,
                              slaves, plain)

    relay._send = spy


def test_shares_cross_disjoint_paths_and_no_trusted_node_sees_the_key(diamond):
    runner = diamond
    seen: dict[str, list[bytes]] = {"T1": [], "T2": []}
    for kme, store in seen.items():
        _spy_on_forwarded_plaintext(runner, kme, store)
    levels = {k: dict(runner.relay_of(k).link_bits()) for k in ("T1", "T2")}
    with sae_client(runner.state, "alice") as alice, sae_client(runner.state, "bob") as bob:
        key_id, key_b64 = relayed_key(alice, bob, "alice", "bob", euroqci_multipath=2)
    key = base64.b64decode(key_b64)
    # each trusted node handled exactly one share, of two
    shares = {}
    for kme in ("T1", "T2"):
        (entry,) = [e for e in runner.relay_of(kme).journal if key_id in e.key_ids]
        assert entry.role == "trusted" and entry.share_count == 2
        assert entry.path == ("A", kme, "B")
        shares[entry.share_index] = kme
        (plain,) = seen[kme]
        assert len(plain) == len(key) and plain != key
        # and it spent 256 bits of pad on each of its two links
        after = runner.relay_of(kme).link_bits()
        assert all(levels[kme][lid] - after[lid] == 256 for lid in after)
    assert sorted(shares) == [0, 1]
    assert xor_bytes(seen["T1"][0], seen["T2"][0]) == key
    (source,) = [e for e in runner.relay_of("A").journal if e.share_index == 0]
    assert source.role == "source"


def test_multipath_without_enough_disjoint_paths_is_refused(diamond):
    runner = diamond
    with sae_client(runner.state, "alice") as alice:
        answer = alice.post("/api/v1/keys/bob/enc_keys", json={
            "number": 1, "extension_mandatory": [{"euroqci_multipath": 3}]})
    assert answer.status_code == 503
    assert "3 node-disjoint" in answer.json()["message"]
