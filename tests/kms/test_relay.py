"""Trusted-node relay: one-time pad and XOR shares (unit), and a relayed key served to a
third-party ETSI 014 client through `euroqci up examples/three-nodes.yaml` (integration)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter, ScenarioError
from euroqci.kms.netdesc import parse_network
from euroqci.kms.relay import split_shares, xor_bytes


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
