"""Detection model of a weak-coherent-pulse BB84 receiver: gains and errors per pulse.

Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eqs. (2)-(4), with the afterpulse model of Lim et al.
PRA 89, 022307 (2014) Sec. IV and the dead-time factor of Rusca et al. APL 112, 171104 (2018)
App. B. Conventions: docs/physics.md.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from euroqci.physics.detectors import Detector
from euroqci.physics.finite_key import lastsum

E0 = 0.5  # error rate of background (random) clicks


def gain_and_qber(
    mu: ArrayLike, transmittance: ArrayLike, y0: ArrayLike, e_d: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Gain Q_mu and QBER E_mu of intensity mu (Ma et al. 2005, Eqs. 3-4).

    Q_mu = Y0 + 1 - exp(-eta mu), E_mu Q_mu = e0 Y0 + e_d (1 - exp(-eta mu)), e0 = 1/2.

    Args:
        mu: mean photon number per pulse.
        transmittance: eta, channel transmittance times detector efficiency.
        y0: background yield of the receiver (both detectors, ~2 x dark-count prob).
        e_d: misalignment error probability.
    """
    mu = np.asarray(mu, dtype=float)
    signal = -np.expm1(-np.asarray(transmittance, dtype=float) * mu)
    gain = np.asarray(y0, dtype=float) + signal
    with np.errstate(divide="ignore", invalid="ignore"):
        qber = (E0 * y0 + np.asarray(e_d, dtype=float) * signal) / gain
    return gain, np.where(gain > 0, qber, E0)


def detection_probabilities(
    transmittance: ArrayLike,
    detector: Detector,
    intensities: ArrayLike,
    probabilities: ArrayLike,
    *,
    rep_rate_hz: float | None = None,
    background_prob: ArrayLike = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pulse probabilities of a detection and of an erroneous detection, per intensity.

    eta = transmittance x efficiency, Y0 = 1 - (1 - p_dc - background_prob)**2, gain and error
    from :func:`gain_and_qber`; afterpulses (Lim 2014 Sec. IV) multiply detections by
    (1 + p_ap), half of them errors; with ``rep_rate_hz`` and a dead time, everything scales by
    c_DT = 1/(1 + f_rep sum_k p_k P_det,k t_dead) (Rusca 2018 App. B). Arrays broadcast;
    the last axis of ``intensities``/``probabilities`` indexes the intensity.
    """
    mu = np.asarray(intensities, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    eta = np.asarray(transmittance, dtype=float) * detector.efficiency
    p_dc = detector.dark_count_prob + np.asarray(background_prob, dtype=float)
    y0 = 1.0 - (1.0 - p_dc) ** 2
    gain, qber = gain_and_qber(mu, eta, y0, detector.misalignment)
    ap = detector.afterpulse_prob
    det = gain * (1.0 + ap)
    err = gain * qber + ap * gain / 2.0
    if rep_rate_hz is not None and detector.dead_time_s > 0:
        c_dt = 1.0 / (1.0 + rep_rate_hz * lastsum(p * det) * detector.dead_time_s)
        det, err = det * c_dt[..., None], err * c_dt[..., None]
    return det, err
