"""BBM92 (Ma, Fung, Lo, PRA 76, 012307, 2007 model) against limits and the TNO peer."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.physics.bbm92 import bbm92_gain_and_qber, bbm92_key_rate
from euroqci.physics.bounds import plob_bound
from euroqci.physics.detectors import Detector
from euroqci.physics.fiber import transmittance


def test_weak_pump_limit_of_gain_and_qber():
    # Ma-Fung-Lo Eqs. (8)-(9): no dark counts and lam -> 0 gives Q ~ 2 lam eta_A eta_B and
    # E -> e_d (only misalignment errors).
    q, e = bbm92_gain_and_qber(1e-6, 0.1, 0.2, 0.0, 0.0, 0.02)
    assert q == pytest.approx(2e-6 * 0.1 * 0.2, rel=1e-4)
    assert e == pytest.approx(0.02, rel=1e-4)
    # no signal: errors are random
    _, e0 = bbm92_gain_and_qber(0.1, 0.0, 0.0, 1e-6, 1e-6, 0.02)
    assert e0 == pytest.approx(0.5)


def test_matches_tno_peer_bbm92():
    # Same model in tno-quantum-communication-qkd-key-rate 2.0.4 (BBM92AsymptoticKeyRateEstimate:
    # source in the middle, f = 1, q = 1, dark_count_rate 1e-8, error_detector 0.01,
    # efficiency_party 1). Its values, computed with it once (its optimiser, total loss in dB):
    tno = {
        0.2: 0.11180935845497254,
        10.0: 0.006562309902305086,
        20.0: 0.0005418879147502492,
        30.0: 5.104515489419017e-05,
        40.0: 5.00737792849619e-06,
    }
    loss = np.array(list(tno))
    det = Detector(efficiency=1.0, dark_count_prob=1e-8, misalignment=0.01)
    ours = bbm92_key_rate(loss / 2, loss / 2, detector_a=det, ec_efficiency=1.0)
    # ours is optimised at least as well (>= peer - 0.1 %) and agrees within 0.5 %
    np.testing.assert_allclose(ours.rate_per_pulse, list(tno.values()), rtol=5e-3)
    assert np.all(ours.rate_per_pulse >= np.array(list(tno.values())) * (1 - 1e-3))


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 150.0), st.floats(0.0, 150.0))
def test_bbm92_never_negative_nan_or_above_plob(loss_a, loss_b):
    r = bbm92_key_rate(loss_a, loss_b).rate_per_pulse
    assert np.isfinite(r) and r >= 0
    assert r <= plob_bound(transmittance(loss_a + loss_b)) + 1e-15


def test_bbm92_falls_with_loss_and_has_a_cutoff():
    loss = np.arange(0.0, 90.0, 5.0)
    r = bbm92_key_rate(loss / 2, loss / 2).rate_per_pulse
    positive = r[r > 0]
    assert np.all(np.diff(positive) < 0)
    assert r[-1] == 0.0
