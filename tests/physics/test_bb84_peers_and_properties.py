"""Decoy BB84: the TNO peer where conventions match, and properties (Rusca 2018 claims:
test_rusca_published.py)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.physics.bb84 import secret_key_rate
from euroqci.physics.bounds import plob_bound
from euroqci.physics.detectors import Detector
from euroqci.physics.link import LinkParameters


def test_tno_peer_fully_asymptotic_where_conventions_match():
    # tno-quantum-communication-qkd-key-rate 2.0.4, BB84FullyAsymptoticKeyRateEstimate:
    # infinite decoys, f = 1, no sifting factor (q = 1), vacuum events counted, Y0 from two
    # detectors, misalignment as polarization drift theta with e_d = sin^2 theta.
    # Its finite-key results are NOT used (known wrong).
    from tno.quantum.communication.qkd_key_rate.quantum import standard_detector
    from tno.quantum.communication.qkd_key_rate.quantum.bb84 import (
        BB84FullyAsymptoticKeyRateEstimate,
    )

    theta = np.arcsin(np.sqrt(0.01))
    peer = BB84FullyAsymptoticKeyRateEstimate(
        detector=standard_detector.customise(
            dark_count_rate=1e-7, polarization_drift=theta, efficiency_party=0.1
        )
    )
    loss = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    link = LinkParameters(
        loss_db=loss,
        detector=Detector(efficiency=0.1, dark_count_prob=1e-7, misalignment=0.01),
        ec_efficiency=1.0,
        sifting="efficient",
    )
    ours = secret_key_rate(link, decoys="infinite", count_vacuum=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, a in enumerate(loss):
            mu = ours.parameters["mu1"][i]
            # same parameters -> same rate (the models differ only at second order in
            # eta*mu for multi-photon misalignment): 0.5 %
            assert peer.compute_rate(mu=mu, attenuation=a) == pytest.approx(
                ours.rate_per_pulse[i], rel=5e-3
            )
            # our optimum is at least as good as the peer's (scipy) optimum
            _, peer_rate = peer.optimize_rate(attenuation=a)
            assert ours.rate_per_pulse[i] >= peer_rate * (1 - 1e-4)


@settings(max_examples=30, deadline=None)
@given(
    loss_db=st.floats(0.0, 300.0),
    efficiency=st.floats(0.05, 1.0),
    dark=st.floats(1e-9, 1e-5),
    misalignment=st.floats(0.0, 0.05),
    decoys=st.sampled_from(["infinite", "vacuum+weak", "2", "1"]),
    sifting=st.sampled_from(["efficient", "symmetric"]),
)
def test_asymptotic_rate_is_finite_nonnegative_and_below_plob(
    loss_db, efficiency, dark, misalignment, decoys, sifting
):
    det = Detector(efficiency=efficiency, dark_count_prob=dark, misalignment=misalignment)
    link = LinkParameters(loss_db=loss_db, detector=det, sifting=sifting)
    res = secret_key_rate(link, decoys=decoys)
    assert np.isfinite(res.rate_per_pulse) and res.rate_per_pulse >= 0
    # PLOB (Pirandola et al. 2017) for the channel including the detector efficiency
    assert res.rate_per_pulse <= plob_bound(link.total_transmittance)


@settings(max_examples=12, deadline=None)
@given(loss_db=st.floats(0.0, 30.0), decoys=st.sampled_from(["2", "1"]))
def test_finite_key_below_asymptotic_and_rising_with_block_size(loss_db, decoys):
    link = LinkParameters(loss_db=loss_db)
    asym = secret_key_rate(link, decoys=decoys).rate_per_pulse
    rates = [
        secret_key_rate(link, decoys=decoys, block_size=n).rate_per_pulse for n in (1e5, 1e7, 1e9)
    ]
    assert all(np.isfinite(r) and r >= 0 for r in rates)
    assert rates[0] <= rates[1] <= rates[2] < asym
    assert rates[2] > 0


@pytest.mark.parametrize("decoys", ["infinite", "vacuum+weak", "2", "1"])
def test_rate_falls_with_distance_and_is_zero_beyond_cutoff(decoys):
    length = np.arange(0.0, 400.0, 10.0)
    rate = secret_key_rate(LinkParameters.from_fiber(length), decoys=decoys).rate_per_pulse
    positive = rate[rate > 0]
    assert np.all(np.diff(positive) < 0)
    cutoff = np.argmin(rate > 0)
    assert cutoff > 10 and np.all(rate[cutoff:] == 0)
    assert not np.any(np.isnan(rate))
