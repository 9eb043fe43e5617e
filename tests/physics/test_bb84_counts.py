import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.physics.bb84 import (
    DecoyCounts,
    expected_decoy_counts,
    finite_key_length,
    gain_and_qber,
)
from euroqci.physics.detectors import Detector
from euroqci.physics.fiber import transmittance

# Lim et al. PRA 89, 022307 (2014), Sec. IV: eta_Bob 10 %, p_dc 6e-7, p_ap 4e-2, e_mis 5e-3
LIM_DETECTOR = Detector(
    efficiency=0.1, dark_count_prob=6e-7, afterpulse_prob=0.04, misalignment=0.005
)


def test_gain_and_qber_ma2005_gys_values():
    # Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eqs. (3)-(4) with the GYS parameters of their
    # Table I: eta_Bob = 4.5 %, Y0 = 1.7e-6, e_d = 3.3 %, 0.21 dB/km; at 0 km, mu = 0.5.
    q, e = gain_and_qber(0.5, 0.045, 1.7e-6, 0.033)
    signal = 1 - np.exp(-0.045 * 0.5)
    assert q == pytest.approx(1.7e-6 + signal)
    assert e == pytest.approx((0.5 * 1.7e-6 + 0.033 * signal) / q)
    # far beyond the cut-off the QBER tends to 1/2 (dark counts only)
    _, e_far = gain_and_qber(0.5, 1e-12, 1.7e-6, 0.033)
    assert e_far == pytest.approx(0.5, abs=1e-4)


def test_expected_counts_are_additive_and_broadcast():
    mu, p = [0.5, 0.1, 2e-4], [0.8, 0.15, 0.05]
    t = transmittance(np.array([0.0, 10.0, 20.0]))
    c1 = expected_decoy_counts(t, LIM_DETECTOR, mu, p, 0.9, 1e9)
    c2 = expected_decoy_counts(t, LIM_DETECTOR, mu, p, 0.9, 2e9)
    assert c1.n_x.shape == (3, 3)
    np.testing.assert_allclose(2 * c1.n_x, c2.n_x)
    stacked = expected_decoy_counts(np.stack([t, t]), LIM_DETECTOR, mu, p, 0.9, 1e9)
    np.testing.assert_allclose(stacked.summed(axis=0).n_x, c2.n_x)
    # X/Z split follows p_x^2 : (1 - p_x)^2
    np.testing.assert_allclose(c1.n_z / c1.n_x, (0.1 / 0.9) ** 2)


def test_finite_key_zero_without_signal_and_never_negative():
    zeros = np.zeros((4, 3))
    counts = DecoyCounts(
        np.array([0.5, 0.1, 2e-4]), np.array([0.8, 0.15, 0.05]), zeros, zeros, zeros, zeros
    )
    res = finite_key_length(counts)
    assert np.all(res.length_bits == 0)
    assert not np.any(np.isnan(res.length_bits))


def test_finite_key_grows_with_block_size_lim2014():
    # Lim 2014 model at 50 km with parameters near their optimum
    mu, p = np.array([0.45, 0.17, 2e-4]), np.array([0.75, 0.2, 0.05])
    t = transmittance(10.0)
    per_pulse = expected_decoy_counts(t, LIM_DETECTOR, mu, p, 0.8, 1.0).n_x.sum()
    rates = []
    for n_x in (1e7, 1e8, 1e9):
        n = n_x / per_pulse
        res = finite_key_length(expected_decoy_counts(t, LIM_DETECTOR, mu, p, 0.8, n))
        assert res.length_bits == np.floor(res.length_bits) and res.length_bits >= 0
        rates.append(float(res.length_bits / n))
    assert 0 < rates[0] < rates[1] < rates[2]


def test_rusca_one_decoy_gives_key():
    # Rusca et al. APL 112, 171104 (2018) App. B parameters: eta_det 50 %, P_DC 1e-8 (whole
    # receiver per gate, i.e. 5e-9 per detector in our convention, docs/physics.md), e_d 1 %
    det = Detector(efficiency=0.5, dark_count_prob=5e-9, misalignment=0.01)
    counts = expected_decoy_counts(transmittance(20.0), det, [0.5, 0.15], [0.7, 0.3], 0.9, 1e10)
    res = finite_key_length(counts, method="rusca2018")
    assert res.length_bits > 0
    assert 0 < res.phase_error_upper < 0.5


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.floats(0.0, 1e9), min_size=12, max_size=12),
    method=st.sampled_from(["lim2014", "rusca2018"]),
    leak=st.one_of(st.none(), st.floats(0.0, 1e9)),
)
def test_finite_key_on_arbitrary_observed_counts_is_never_negative_or_nan(counts, method, leak):
    k = 3 if method == "lim2014" else 2
    c = np.array(counts).reshape(4, 3)[:, :k]
    mu = [0.5, 0.1, 2e-4][:k]
    p = [0.7, 0.2, 0.1] if k == 3 else [0.7, 0.3]
    # errors never exceed detections in real data
    obs = DecoyCounts(
        np.array(mu), np.array(p), c[0], np.minimum(c[1], c[0]), c[2], np.minimum(c[3], c[2])
    )
    res = finite_key_length(obs, method=method, ec_leak_bits=leak)
    assert np.isfinite(res.length_bits) and res.length_bits >= 0
    assert res.length_bits <= c[0].sum()
