"""Toeplitz privacy amplification: known answers from an independent GF(2) implementation
(``galois`` matrices built by ``scipy.linalg.toeplitz``), linearity, and exactness at 10^8."""

import galois
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter
from euroqci.qkd.amplification import (
    SeedSpectra,
    fft_error_bound,
    random_seed,
    seed_length_bits,
    toeplitz_hash,
)

GF2 = galois.GF(2)


def reference_hash(bits: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """Modified Toeplitz y = T x1 + x2 over GF(2), T[i, j] = s[i - j + n - m - 1] (dense)."""
    n = bits.size
    cols = n - m
    if m == 0:
        return np.zeros(0, dtype=np.uint8)
    if cols == 0:
        return bits.copy()
    first_col = seed[cols - 1 : cols - 1 + m]  # T[i, 0] = s[i + cols - 1]
    first_row = seed[cols - 1 :: -1][:cols]  # T[0, j] = s[cols - 1 - j]
    t = GF2(scipy.linalg.toeplitz(first_col, first_row).astype(np.uint8))
    return np.asarray(t @ GF2(bits[:cols]) + GF2(bits[cols:]), dtype=np.uint8)


@pytest.mark.parametrize("n,m", [(1, 1), (2, 1), (17, 5), (31, 10), (51, 25), (91, 45), (256, 128),
                                 (1000, 333), (3001, 2999),
                                 (4096, 1), (5000, 2500)])
def test_known_answers_against_galois(n, m):
    rng = np.random.default_rng(n * 7919 + m)
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    seed = random_seed(n, rng)
    assert seed.size == seed_length_bits(n) == n - 1
    np.testing.assert_array_equal(toeplitz_hash(bits, seed, m), reference_hash(bits, seed, m))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 400), st.data())
def test_linear_over_gf2(n, data):
    m = data.draw(st.integers(0, n))
    rng = np.random.default_rng(n)
    a, b = rng.integers(0, 2, (2, n), dtype=np.uint8)
    seed = random_seed(n, rng)
    np.testing.assert_array_equal(
        toeplitz_hash(a ^ b, seed, m), toeplitz_hash(a, seed, m) ^ toeplitz_hash(b, seed, m))


def test_zero_output_and_bad_lengths():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, 100, dtype=np.uint8)
    assert toeplitz_hash(bits, random_seed(100, rng), 0).size == 0
    with pytest.raises(InvalidParameter, match="n_out"):
        toeplitz_hash(bits, random_seed(100, rng), 101)
    with pytest.raises(InvalidParameter, match="seed"):
        toeplitz_hash(bits, random_seed(50, rng), 10)


def test_error_bound_is_below_a_quarter_at_1e8_bits():
    # all-ones worst case: ||x1|| ||s|| = sqrt(5e7 * 1e8); the FFT length ~1e8
    assert fft_error_bound(np.sqrt(5e7), np.sqrt(1e8), 10**8) < 0.25


@pytest.mark.slow
def test_exact_at_1e8_bits():
    """n = 10^8, m = n/2: every tested output bit equals a direct popcount parity."""
    n, m = 10**8, 5 * 10**7
    rng = np.random.default_rng(8)
    bits = np.unpackbits(np.frombuffer(rng.bytes(n // 8), dtype=np.uint8))
    seed = random_seed(n, rng)
    out = toeplitz_hash(bits, seed, m)
    cols = n - m
    # y_i = <r[m-1-i : m-1-i+cols], x1> + x2_i with r the reversed seed; pick byte offsets
    rev = np.packbits(seed[::-1])
    x1 = np.packbits(bits[:cols])
    for offset in rng.choice(np.arange(0, m, 8), size=48, replace=False):
        i = m - 1 - int(offset)
        window = rev[offset // 8 : offset // 8 + cols // 8]
        parity = int(np.bitwise_count(window & x1).sum()) & 1
        assert out[i] == parity ^ bits[cols + i]


def test_column_slicing_gives_the_same_hash(monkeypatch):
    """Force the split used when the error bound would be too large (inputs > ~10^9 bits)."""
    from euroqci.qkd import amplification

    rng = np.random.default_rng(11)
    n, m = 3000, 1000
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    seed = random_seed(n, rng)
    monkeypatch.setattr(amplification, "fft_error_bound",
                        lambda norm_x, norm_s, length: 1.0 if norm_x**2 > 300 else 0.0)
    np.testing.assert_array_equal(toeplitz_hash(bits, seed, m), reference_hash(bits, seed, m))


def test_shared_seed_spectra_give_each_end_its_own_exact_hash():
    """Two ends sharing one seed's transform; a different seed of the same size is never
    served the cached transform."""
    rng = np.random.default_rng(12)
    n, m = 2000, 700
    alice, bob = rng.integers(0, 2, (2, n), dtype=np.uint8)
    seed, other = random_seed(n, rng), random_seed(n, rng)
    spectra = SeedSpectra(users=2)
    assert np.array_equal(toeplitz_hash(alice, seed, m, spectra=spectra),
                          reference_hash(alice, seed, m))
    assert np.array_equal(toeplitz_hash(bob, other, m, spectra=spectra),
                          reference_hash(bob, other, m))
    assert np.array_equal(toeplitz_hash(bob, seed, m, spectra=spectra),
                          reference_hash(bob, seed, m))


def test_direct_parities_at_2e5_bits():
    """A four-step grid of a few hundred rows and columns: output bits against direct sums."""
    rng = np.random.default_rng(13)
    n, m = 200_003, 70_001
    bits = rng.integers(0, 2, n, dtype=np.uint8)
    seed = random_seed(n, rng)
    out = toeplitz_hash(bits, seed, m)
    cols = n - m
    x1 = bits[:cols].astype(np.int64)
    for i in rng.choice(m, size=64, replace=False):
        row = seed[i : i + cols][::-1]  # T[i, j] = s[i - j + cols - 1]
        assert out[i] == (int(row @ x1) & 1) ^ bits[cols + i]
