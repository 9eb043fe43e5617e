import numpy as np
import pytest

from euroqci.errors import InvalidParameter
from euroqci.physics.detectors import Detector
from euroqci.physics.sources import DecoySource, poisson_photon_prob


def test_detector_defaults_and_background_yield():
    d = Detector()
    assert d.efficiency == 0.1 and d.dark_count_prob == 1e-6
    # both detectors: Y0 = 1 - (1 - p_dc)^2 ~ 2 p_dc
    assert d.background_yield == pytest.approx(2e-6, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"efficiency": 1.5},
        {"efficiency": 0.0},
        {"dark_count_prob": -1e-6},
        {"misalignment": 0.7},
        {"afterpulse_prob": 1.0},
        {"dead_time_s": -1.0},
    ],
)
def test_detector_rejects_bad_values(kwargs):
    with pytest.raises(InvalidParameter):
        Detector(**kwargs)


def test_poisson_statistics():
    n = np.arange(60)
    for mu in (0.0, 0.1, 0.5, 2.0):
        p = poisson_photon_prob(n, mu)
        assert p.sum() == pytest.approx(1.0)
        assert (n * p).sum() == pytest.approx(mu)


def test_decoy_source_tau_and_validation():
    src = DecoySource((0.5, 0.1, 0.0), (0.7, 0.2, 0.1))
    expected_tau1 = 0.7 * 0.5 * np.exp(-0.5) + 0.2 * 0.1 * np.exp(-0.1)
    assert src.tau(1) == pytest.approx(expected_tau1)
    with pytest.raises(InvalidParameter):
        DecoySource((0.1, 0.5), (0.5, 0.5))  # not decreasing
    with pytest.raises(InvalidParameter):
        DecoySource((0.5, 0.1), (0.5, 0.6))  # does not sum to 1
