"""GF(2^128) polynomial hash: known answers from ``galois`` (an independent implementation)."""

import galois
import numpy as np
import pytest

from euroqci.qkd.polyhash import PolyHashState, collision_bound, gf_mul, gf_pow, poly_hash
from euroqci.qkd.verification import key_tag, tag_length_bits

# GCM / AIT evhash-128 modulus (reference: AIT QKD R10 evhash field polynomials)
GF = galois.GF(2**128, irreducible_poly="x^128 + x^7 + x^2 + x + 1")


def galois_hash(message: bytes, key: int) -> int:
    padded = message + bytes(-len(message) % 16)
    blocks = [int.from_bytes(padded[i : i + 16], "big") for i in range(0, len(padded), 16)]
    acc, k = GF(0), GF(key)
    for block in [*blocks, 8 * len(message)]:
        acc = (acc + GF(block)) * k
    return int(acc)


@pytest.mark.parametrize("trial", range(20))
def test_multiplication_and_power(trial):
    rng = np.random.default_rng(trial)
    a, b = (int.from_bytes(rng.bytes(16), "big") for _ in range(2))
    assert gf_mul(a, b) == int(GF(a) * GF(b))
    assert gf_pow(a, trial * 37 + 1) == int(GF(a) ** (trial * 37 + 1))


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 100, 1000])
def test_hash_matches_galois(size):
    rng = np.random.default_rng(size)
    message, key = rng.bytes(size), int.from_bytes(rng.bytes(16), "big")
    assert poly_hash(message, key) == galois_hash(message, key)


def test_incremental_state_equals_one_shot():
    rng = np.random.default_rng(5)
    key = int.from_bytes(rng.bytes(16), "big")
    a, b = rng.bytes(48), rng.bytes(32)
    state = PolyHashState(key)
    state.absorb(a)
    state.absorb(b)
    state.absorb_int(8 * 80)
    assert state.acc == poly_hash(a + b, key) and state.blocks == 6


def test_tag_detects_a_single_flipped_bit():
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2, 100_000, dtype=np.uint8)
    t = tag_length_bits(bits.size, 1e-15)
    assert 50 <= t <= 128
    key = int.from_bytes(rng.bytes(16), "big")
    flipped = bits.copy()
    flipped[12345] ^= 1
    assert key_tag(bits, key, t) == key_tag(bits.copy(), key, t)
    assert key_tag(bits, key, t) != key_tag(flipped, key, t)
    assert collision_bound(10**6) < 1e-30
