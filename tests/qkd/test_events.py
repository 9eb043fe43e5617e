"""Detection sampler: agreement with the photon-level reference, and the eavesdroppers."""

import numpy as np
import pytest

from euroqci.errors import InvalidParameter, ProtocolAbort
from euroqci.physics.detectors import Detector
from euroqci.physics.sources import DecoySource
from euroqci.qkd import estimation
from euroqci.qkd.events import (
    EventModel,
    InterceptResend,
    PhotonNumberSplitting,
    parse_eavesdropper,
    sample_detections,
    sample_photons,
)
from euroqci.qkd.sifting import per_intensity, sift

# A short, noisy link so that every effect (dark counts, misalignment, decoys) shows in 2e6 pulses
MODEL = EventModel(0.5, Detector(efficiency=0.5, dark_count_prob=1e-4, misalignment=0.03),
                   DecoySource((0.6, 0.15, 0.01), (0.6, 0.3, 0.1)), p_x=0.6)


def tallies(rec):
    """Detections and same-basis errors per (intensity, basis pair)."""
    same = rec.alice_basis == rec.bob_basis
    wrong = rec.alice_bit != rec.bob_bit
    out = []
    for k in range(3):
        for a in (0, 1):
            for b in (0, 1):
                sel = (rec.intensity == k) & (rec.alice_basis == a) & (rec.bob_basis == b)
                out.append(int(sel.sum()))
                out.append(int((sel & wrong & same).sum()))
    return np.array(out, dtype=float)


def test_sampler_agrees_with_photon_level_reference():
    # Two independent Poisson-like counts a, b of the same mean: (a-b)/sqrt(a+b) ~ N(0, 1).
    # The models differ by Y0 (1 - e^{-eta mu}) ~ 2e-4 relative to the gain (Ma 2005 drop
    # the dark/photon overlap), well below the 5 sigma band at these counts.
    n = 2_000_000
    a = tallies(sample_detections(MODEL, n, np.random.default_rng(1)))
    b = tallies(sample_photons(MODEL, n, np.random.default_rng(2)))
    keep = (a + b) > 0
    z = (a - b)[keep] / np.sqrt((a + b)[keep])
    assert np.max(np.abs(z)) < 5.0, z


def test_sampler_is_reproducible_and_counts_scale():
    r1 = sample_detections(MODEL, 10**6, np.random.default_rng(7))
    r2 = sample_detections(MODEL, 10**6, np.random.default_rng(7))
    np.testing.assert_array_equal(r1.bob_bit, r2.bob_bit)
    assert sample_detections(MODEL, 0, np.random.default_rng(0)).detections == 0


def test_intercept_resend_on_all_pulses_gives_quarter_qber():
    rec = sample_detections(MODEL, 10**6, np.random.default_rng(3), InterceptResend(1.0))
    same = rec.alice_basis == rec.bob_basis
    qber = np.mean(rec.alice_bit[same] != rec.bob_bit[same])
    # 1/4 + e/2 with e ~ 3-4 %: Eve's wrong basis half the time randomises Bob's bit
    assert 0.25 < qber < 0.28


def test_pns_attack_is_caught_by_the_decoys():
    # 25 km-like loss: Eve's lossless channel lets multi-photon pulses alone mimic the signal
    # gain, so the decoy gains collapse and the single-photon bound leaves no key.
    model = EventModel(10**-0.5, Detector(), DecoySource((0.5, 0.1, 2e-4), (0.6, 0.3, 0.1)),
                       p_x=0.8)
    rec = sample_detections(model, 10**9, np.random.default_rng(4), PhotonNumberSplitting())
    honest = sample_detections(model, 10**9, np.random.default_rng(4))
    gains = [per_intensity(r.intensity, 3) for r in (rec, honest)]
    assert abs(gains[0][0] / gains[1][0] - 1) < 0.01  # signal gain looks normal
    assert gains[0][1] < 0.8 * gains[1][1]  # the decoy betrays the attack
    s = sift(rec.alice_basis, rec.bob_basis)
    wrong = rec.alice_bit != rec.bob_bit
    counts = estimation.observed_counts(
        model.source, per_intensity(rec.intensity[s.key_index], 3), np.zeros(3),
        per_intensity(rec.intensity[s.test_index], 3),
        per_intensity(rec.intensity[s.test_index][wrong[s.test_index]], 3), rec.n_pulses)
    with pytest.raises(ProtocolAbort, match="no key"):
        estimation.estimate(counts, ec_efficiency=1.16, eps_sec=1e-9, eps_cor=1e-15,
                            method="lim2014")
    assert rec.eve_knows.mean() > 0.5


@pytest.mark.parametrize("spec,expected", [
    ("intercept-resend:0.2", InterceptResend(0.2)), ("intercept-resend", InterceptResend(1.0)),
    ("pns", PhotonNumberSplitting()), ("none", None), (None, None)])
def test_parse_eavesdropper(spec, expected):
    assert parse_eavesdropper(spec) == expected


@pytest.mark.parametrize("spec", ["intercept-resend:x", "intercept-resend:1.5", "mitm"])
def test_parse_eavesdropper_rejects(spec):
    with pytest.raises(InvalidParameter):
        parse_eavesdropper(spec)
