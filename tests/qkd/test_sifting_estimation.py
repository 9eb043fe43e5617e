"""Sifting and parameter estimation: indices, counts, and the abort rule on bad input."""

import numpy as np
import pytest

from euroqci.errors import InvalidParameter, ProtocolAbort
from euroqci.physics.bb84 import expected_decoy_counts, finite_key_length
from euroqci.physics.detectors import Detector
from euroqci.physics.sources import DecoySource
from euroqci.qkd import estimation
from euroqci.qkd.sifting import (
    label_bits,
    pack_bits,
    pack_labels,
    per_intensity,
    sift,
    unpack_bits,
    unpack_labels,
)

SOURCE = DecoySource((0.5, 0.27, 2e-4), (0.39, 0.43, 0.18))


def test_sift_indices_and_frames():
    a = np.array([0, 0, 1, 1, 0, 0, 0, 1], dtype=np.uint8)
    b = np.array([0, 1, 1, 0, 0, 0, 0, 1], dtype=np.uint8)
    s = sift(a, b)
    np.testing.assert_array_equal(s.key_index, [0, 4, 5, 6])
    np.testing.assert_array_equal(s.test_index, [2, 7])
    np.testing.assert_array_equal(sift(a, b, frame_bits=3).key_index, [0, 4, 5])
    with pytest.raises(InvalidParameter, match="same length"):
        sift(a, b[:-1])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_label_packing_round_trip(k):
    labels = np.random.default_rng(k).integers(0, k, 1003).astype(np.uint8)
    packed = pack_labels(labels, k)
    assert packed.size == label_bits(k) * 126
    np.testing.assert_array_equal(unpack_labels(packed, 1003, k), labels)
    with pytest.raises(InvalidParameter):
        unpack_labels(packed[:-1], 1003, k)


def test_pack_round_trip_and_counts():
    bits = np.random.default_rng(0).integers(0, 2, 1001, dtype=np.uint8)
    np.testing.assert_array_equal(unpack_bits(pack_bits(bits), 1001), bits)
    with pytest.raises(InvalidParameter):
        unpack_bits(pack_bits(bits), 2000)
    np.testing.assert_array_equal(per_intensity(np.array([0, 2, 2, 1, 2]), 3), [1, 1, 3])
    with pytest.raises(InvalidParameter, match="intensity"):
        per_intensity(np.array([0, 3]), 3)


def expected(n_pulses, misalignment=0.01):
    return expected_decoy_counts(10**-0.5, Detector(misalignment=misalignment),
                                 SOURCE.intensities, SOURCE.probabilities, 0.85, n_pulses)


def test_estimate_matches_physics_on_expected_counts():
    counts = expected(5.5e8)
    est = estimation.estimate(counts, ec_efficiency=1.16, eps_sec=1e-9, eps_cor=1e-15,
                              method="lim2014")
    ref = finite_key_length(counts, eps_sec=1e-9, eps_cor=1e-15)
    # same counts, same leak model (E_X = E_Z here): the same length up to the floor
    assert abs(est.length_bits - float(ref.length_bits)) <= 1


def test_qber_of_60_percent_aborts():
    c = expected(5.5e8)
    bad = estimation.observed_counts(SOURCE, c.n_x, c.m_x, c.n_z, 0.6 * c.n_z, 5.5e8)
    with pytest.raises(ProtocolAbort, match="50 %"):
        estimation.estimate(bad, ec_efficiency=1.16, eps_sec=1e-9, eps_cor=1e-15,
                            method="lim2014")


def test_high_qber_and_empty_blocks_abort():
    c = expected(5.5e8, misalignment=0.12)
    with pytest.raises(ProtocolAbort, match="no key"):
        estimation.estimate(c, ec_efficiency=1.16, eps_sec=1e-9, eps_cor=1e-15,
                            method="lim2014")
    empty = estimation.observed_counts(SOURCE, [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], 0)
    with pytest.raises(ProtocolAbort, match="empty block"):
        estimation.estimate(empty, ec_efficiency=1.16, eps_sec=1e-9, eps_cor=1e-15,
                            method="lim2014")
    with pytest.raises(ProtocolAbort, match="empty block"):
        estimation.secret_length(empty, 0, eps_sec=1e-9, eps_cor=1e-15, method="lim2014")


def test_secret_length_counts_the_actual_leak():
    c = expected(5.5e8)
    small = estimation.secret_length(c, 1e5, eps_sec=1e-9, eps_cor=1e-15, method="lim2014")
    large = estimation.secret_length(c, 2e5, eps_sec=1e-9, eps_cor=1e-15, method="lim2014")
    assert float(small.length_bits - large.length_bits) == pytest.approx(1e5, abs=1)
    with pytest.raises(ProtocolAbort, match="after reconciliation"):
        estimation.secret_length(c, 1e9, eps_sec=1e-9, eps_cor=1e-15, method="lim2014")
    assert estimation.finite_key_method(DecoySource((0.5, 0.1), (0.7, 0.3))) == "rusca2018"
