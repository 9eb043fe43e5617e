"""GG02 reverse reconciliation (Lodewyck et al. PRA 76, 042305, 2007 formulas)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter
from euroqci.physics.bounds import plob_bound
from euroqci.physics.cvqkd import _g, gg02_key_fraction, gg02_key_rate
from euroqci.physics.fiber import transmittance


@pytest.mark.parametrize("t", [0.5, 0.1, 0.01])
def test_pure_loss_infinite_modulation_limit(t):
    # Pirandola et al., Adv. Opt. Photon. 12, 1012 (2020), Sec. 5 (CV-QKD rates): coherent
    # states, homodyne, reverse reconciliation, pure-loss channel, V -> inf, beta = 1:
    # R = (1/2) log2(1/(1 - eta)), half the PLOB bound. Tolerance 1e-4 relative.
    k, _, _ = gg02_key_fraction(
        1e6, t, 0.0, detector_efficiency=1.0, electronic_noise=0.0, reconciliation_efficiency=1.0
    )
    assert k == pytest.approx(0.5 * np.log2(1 / (1 - t)), rel=1e-4)


def test_trusted_noise_formula_equals_covariance_matrix_for_ideal_detector():
    # With eta = 1, v_el = 0 the Lodewyck (2007) closed form must equal the direct
    # covariance-matrix computation: a = V, b = T(V + chi_line), c^2 = T(V^2 - 1),
    # chi_BE = G(nu1) + G(nu2) - G(nu3), nu3^2 = a (a - c^2/b) (homodyne).
    va, t, xi = 5.0, 0.3, 0.02
    k, i_ab, chi_be = gg02_key_fraction(
        va, t, xi, detector_efficiency=1.0, electronic_noise=0.0, reconciliation_efficiency=1.0
    )
    v = va + 1
    a, b, c2 = v, t * (v - 1) + 1 + t * xi, t * (v**2 - 1)
    z = np.sqrt((a + b) ** 2 - 4 * c2)
    nu1, nu2 = (z + b - a) / 2, (z - b + a) / 2
    nu3 = np.sqrt(a * (a - c2 / b))
    assert chi_be == pytest.approx(_g(nu1) + _g(nu2) - _g(nu3), rel=1e-9)
    # Alice heterodynes her half (prepare-and-measure Gaussian modulation)
    assert i_ab == pytest.approx(0.5 * np.log2(b / (b - c2 / (a + 1))), rel=1e-9)
    assert k == pytest.approx(i_ab - chi_be)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 300.0), st.floats(0.0, 0.1), st.sampled_from(["homodyne", "heterodyne"]))
def test_gg02_never_negative_nan_or_above_plob(loss_db, xi, detection):
    r = gg02_key_rate(loss_db, excess_noise=xi, detection=detection).rate_per_pulse
    assert np.isfinite(r) and r >= 0
    assert r <= plob_bound(transmittance(loss_db)) + 1e-12


def test_gg02_excess_noise_limits_distance():
    loss = np.arange(0.0, 40.0, 1.0)
    low = gg02_key_rate(loss, excess_noise=0.01).rate_per_pulse
    high = gg02_key_rate(loss, excess_noise=0.05).rate_per_pulse
    assert np.all(high <= low + 1e-12)
    assert (loss[high > 0].max()) < loss[low > 0].max()
    positive = low[low > 0]
    assert np.all(np.diff(positive) < 0)


def test_gg02_rejects_bad_detection():
    with pytest.raises(InvalidParameter, match="detection"):
        gg02_key_rate(3.0, detection="photon-counting")


def test_reverse_reconciliation_beats_the_3db_limit():
    # Grosshans et al., Nature 421, 238 (2003): with reverse reconciliation coherent-state
    # CV-QKD has no 3 dB (T = 1/2) loss limit; with a noiseless channel and detector and
    # perfect reconciliation the key stays positive at 20 dB (T = 0.01).
    k, _, _ = gg02_key_fraction(
        10.0,
        0.01,
        0.0,
        detector_efficiency=1.0,
        electronic_noise=0.0,
        reconciliation_efficiency=1.0,
    )
    assert k > 0
