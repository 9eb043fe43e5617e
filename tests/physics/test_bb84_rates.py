"""Optimised decoy-BB84 key rates against published values (paper, figure, parameters cited)."""

import numpy as np
import pytest

from euroqci.errors import InvalidParameter
from euroqci.physics.bb84 import secret_key_rate
from euroqci.physics.detectors import Detector
from euroqci.physics.link import LinkParameters

# Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Table I, GYS column (Gobby, Yuan, Shields 2004):
# 0.21 dB/km, eta_Bob = 4.5 %, Y0 = 1.7e-6 (both detectors: p_dc = 0.85e-6 each),
# e_detector = 3.3 %, f = 1.22, symmetric BB84 (q = 1/2).
GYS = Detector(efficiency=0.045, dark_count_prob=0.85e-6, misalignment=0.033)
# Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Sec. IV.
LIM = Detector(efficiency=0.1, dark_count_prob=6e-7, afterpulse_prob=0.04, misalignment=0.005)


def gys_link(length_km):
    return LinkParameters.from_fiber(
        length_km, 0.21, detector=GYS, ec_efficiency=1.22, sifting="symmetric"
    )


def max_distance_km(decoys, lo=120.0, hi=160.0, **kwargs):
    grid = np.arange(lo, hi, 0.05)
    rate = secret_key_rate(gys_link(grid), decoys=decoys, **kwargs).rate_per_pulse
    return grid[rate > 0].max()


def test_ma2005_gys_maximum_distances():
    # Ma et al. 2005, Sec. V (Fig. 1 / text): maximal secure distance 142.05 km with infinite
    # decoys and 140.55 km with vacuum + weak decoy. Tolerance 0.5 km (0.35 %).
    infinite = max_distance_km("infinite")
    assert infinite == pytest.approx(142.05, abs=0.5)
    # vacuum + weak approaches the infinite-decoy reach as nu -> 0 (Ma 2005 Sec. V B); with
    # the weak decoy kept at nu >= 0.01 ours lies between their two published reaches.
    weak = max_distance_km("vacuum+weak", min_decoy_intensity=0.01)
    assert 140.55 - 0.5 <= weak <= infinite


def test_ma2005_gys_curve_shape_and_optimal_mu():
    # Ma et al. 2005, Sec. V: the optimal signal intensity for GYS is mu ~ 0.48 and the
    # key rate falls ~ linearly in eta (10 dB per 47.6 km at 0.21 dB/km) up to the cut-off.
    res = secret_key_rate(gys_link(np.array([0.0, 50.0, 100.0])), decoys="infinite")
    assert res.parameters["mu1"][0] == pytest.approx(0.48, abs=0.03)
    slope_db = 10 * np.log10(res.rate_per_pulse[1] / res.rate_per_pulse[2]) / 50.0
    assert slope_db == pytest.approx(0.21, rel=0.1)


def lim_rate(length_km, block_size, kappa=1e-15):
    """Lim 2014 evaluation: eps_cor = 1e-15, eps_sec = kappa * ell (fixed point)."""
    link = LinkParameters.from_fiber(length_km, 0.2, detector=LIM, ec_efficiency=1.16)
    eps = 1e-9
    for _ in range(3):
        res = secret_key_rate(link, decoys="2", block_size=block_size, eps_sec=eps)
        ell = res.rate_per_pulse * res.parameters["pulses_per_block"]
        eps = float(np.clip(kappa * ell, 1e-15, 1e-3))
    return res


def test_lim2014_block_size_gain_at_100km():
    # Lim et al. 2014, Sec. IV (Fig. 2 discussion): at 100 km the rate for n_X = 1e9 is
    # "about 1.75" times the rate for n_X = 1e7. Tolerance 5 %.
    r7 = lim_rate(100.0, 1e7).rate_per_pulse
    r9 = lim_rate(100.0, 1e9).rate_per_pulse
    assert r9 / r7 == pytest.approx(1.75, rel=0.05)


@pytest.mark.parametrize(
    "block_size, length_km, rate",
    [
        (1e4, 0.0, 2.08e-4),
        (1e4, 100.0, 9.91e-7),
        (1e5, 150.0, 1.18e-7),
        (1e6, 50.0, 3.05e-4),
        (1e7, 150.0, 2.64e-6),
        (1e9, 100.0, 8.54e-5),
    ],
)
def test_lim2014_rates_match_an_independent_reproduction(block_size, length_km, rate):
    # Lim 2014 Fig. 2 model (Sec. IV parameters above, mu3 = 2e-4, f = 1.16, eps_cor = 1e-15,
    # eps_sec = 1e-15 ell) optimised over q_x, mu1, mu2, p1, p2 by an independent
    # implementation (differential evolution; secret bits per pulse). Tolerance 2 %.
    assert lim_rate(length_km, block_size).rate_per_pulse == pytest.approx(rate, rel=0.02)


def test_lim2014_reach_for_small_blocks():
    # Lim 2014 Sec. IV text: with n_X = 1e4 key can be extracted "up to 135 km"; the
    # independent reproduction finds ~115 km. Ours lies in that bracket (+-5 km): the key
    # basis gets rarer (q_x < 0.5) as the distance grows.
    assert lim_rate(110.0, 1e4).rate_per_pulse > 0
    assert lim_rate(140.0, 1e4).rate_per_pulse == 0


def test_lim2014_optimal_parameters_n1e7_0km():
    # Independent reimplementation of Lim 2014 Fig. 2 (same model, differential evolution):
    # n_X = 1e7 at 0 km -> R = 5.36e-3 per pulse with q_x = 0.858, mu1 = 0.427, mu2 = 0.23.
    res = lim_rate(0.0, 1e7)
    assert res.rate_per_pulse == pytest.approx(5.36e-3, rel=0.03)
    assert res.parameters["q_x"] == pytest.approx(0.858, abs=0.03)
    assert res.parameters["mu1"] == pytest.approx(0.427, abs=0.04)


def test_vectorised_equals_one_by_one():
    lengths = np.array([10.0, 60.0, 120.0])
    many = secret_key_rate(LinkParameters.from_fiber(lengths), decoys="1", block_size=1e8)
    for i, length in enumerate(lengths):
        one = secret_key_rate(LinkParameters.from_fiber(length), decoys="1", block_size=1e8)
        assert one.rate_per_pulse == pytest.approx(many.rate_per_pulse[i], rel=1e-9)


def test_finite_key_needs_one_or_two_decoys():
    with pytest.raises(InvalidParameter, match="decoys"):
        secret_key_rate(LinkParameters(loss_db=3.0), decoys="infinite", block_size=1e6)
    with pytest.raises(InvalidParameter, match="decoys"):
        secret_key_rate(LinkParameters(loss_db=3.0), decoys="3")


@pytest.mark.parametrize("decoys, method", [("2", "lim2014"), ("1", "rusca2018")])
def test_optimised_rate_equals_counts_then_finite_key_length(decoys, method):
    # the optimiser and the public counts -> key-length path (used by the link engine and
    # the satellite passes) must agree exactly
    from euroqci.physics.bb84 import expected_decoy_counts, finite_key_length

    link = LinkParameters.from_fiber(80.0, detector=LIM, ec_efficiency=1.16)
    res = secret_key_rate(link, decoys=decoys, block_size=1e7)
    prm = res.parameters
    keys = ("1", "2", "3") if decoys == "2" else ("1", "2")
    counts = expected_decoy_counts(
        link.channel_transmittance,
        LIM,
        [prm["mu" + k] for k in keys],
        [prm["p" + k] for k in keys],
        prm["q_x"],
        prm["pulses_per_block"],
        rep_rate_hz=link.rep_rate_hz,
    )
    assert counts.n_x.sum() == pytest.approx(1e7)
    ell = finite_key_length(counts, method=method).length_bits
    assert ell / prm["pulses_per_block"] == pytest.approx(res.rate_per_pulse, rel=1e-9)
