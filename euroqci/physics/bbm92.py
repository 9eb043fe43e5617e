"""Entanglement-based BBM92 with a parametric down-conversion (PDC) source, asymptotic.

Model of Ma, Fung, Lo, PRA 76, 012307 (2007), Sec. III: the source emits n photon pairs
with the thermal probability (n + 1) lam**n / (1 + lam)**(n + 2) (mean pair number 2 lam),
each photon reaches Alice's (Bob's) threshold detectors with eta_A (eta_B) including
detector efficiency; dark counts Y0_A, Y0_B; misalignment e_d. Gain and QBER: their
Eqs. (8)-(9). Key rate with one-way post-processing (Koashi-Preskill, basis-independent
source): R = q Q_lam [1 - f h(E_lam) - h(E_lam)] per pump pulse (their Eq. 11), with
q = 1/2 (symmetric) or 1 (efficient) and bit and phase error rates equal (E_lam).
The source may sit anywhere: give the two arms' losses; satellite downlinks use two arms.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from euroqci.errors import check_range
from euroqci.physics.bounds import binary_entropy
from euroqci.physics.detectors import Detector
from euroqci.physics.fiber import transmittance
from euroqci.physics.link import check_sifting, finite_nonnegative
from euroqci.physics.optimise import KeyRate, compass_search


def bbm92_gain_and_qber(
    lam: ArrayLike, eta_a: ArrayLike, eta_b: ArrayLike, y0_a: float, y0_b: float, e_d: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coincidence gain Q and QBER E per pump pulse, Ma, Fung, Lo 2007 Eqs. (8)-(9).

    lam: half the mean photon-pair number; eta_a, eta_b: arm transmittances including the
    detector efficiencies; y0_a, y0_b: background yields of each receiver (both detectors).
    """
    lam = np.asarray(lam, dtype=float)
    a = np.asarray(eta_a, dtype=float) * lam
    b = np.asarray(eta_b, dtype=float) * lam
    ab = np.asarray(eta_a, dtype=float) * np.asarray(eta_b, dtype=float) * lam
    d = a + b - ab
    gain = (
        1.0
        - (1.0 - y0_a) / (1.0 + a) ** 2
        - (1.0 - y0_b) / (1.0 + b) ** 2
        + (1.0 - y0_a) * (1.0 - y0_b) / (1.0 + d) ** 2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        qber = 0.5 - 2.0 * (0.5 - e_d) * ab * (1.0 + lam) / (
            (1.0 + a) * (1.0 + b) * (1.0 + d) * gain
        )
    return gain, np.where(gain > 0, qber, 0.5)


def bbm92_secret_fraction(qber: ArrayLike, ec_efficiency: float = 1.16) -> np.ndarray:
    """Secret bits per sifted bit, 1 - f h(E) - h(E) (may be negative).

    One-way post-processing with bit and phase error rates equal (Koashi-Preskill for a
    basis-independent source; Ma, Fung, Lo 2007 Eq. 11 divided by q Q).
    """
    h = binary_entropy(np.asarray(qber, dtype=float))
    return 1.0 - ec_efficiency * h - h


def bbm92_key_rate(
    loss_a_db: ArrayLike,
    loss_b_db: ArrayLike,
    *,
    detector_a: Detector | None = None,
    detector_b: Detector | None = None,
    ec_efficiency: float = 1.16,
    sifting: str = "efficient",
    rep_rate_hz: float = 1e9,
    mean_pair_number: float | None = None,
) -> KeyRate:
    """Asymptotic BBM92 secret key rate, optimised over the pair number unless given.

    Args:
        loss_a_db, loss_b_db: losses source -> Alice and source -> Bob in dB (broadcast);
            a source at Alice is ``loss_a_db = 0``.
        detector_a, detector_b: receivers (default :class:`Detector` (); b defaults to a).
        ec_efficiency: f; sifting: "efficient" (q = 1) or "symmetric" (q = 1/2).
        rep_rate_hz: pump pulse rate; mean_pair_number: 2 lam, fixed instead of optimised.

    Returns:
        :class:`~euroqci.physics.optimise.KeyRate` per pump pulse; ``parameters`` holds
        ``mean_pair_number``.
    """
    det_a = detector_a or Detector()
    det_b = detector_b or det_a
    check_range("ec_efficiency", ec_efficiency, low=1.0, high=2.0)
    check_range("rep_rate_hz", rep_rate_hz, low=0.0, low_inclusive=False)
    check_sifting(sifting)
    la, lb = np.broadcast_arrays(finite_nonnegative("loss_a_db", loss_a_db, "dB"),
                                 finite_nonnegative("loss_b_db", loss_b_db, "dB"))
    shape = la.shape
    eta_a = (transmittance(la) * det_a.efficiency).ravel()
    eta_b = (transmittance(lb) * det_b.efficiency).ravel()
    q = 1.0 if sifting == "efficient" else 0.5
    e_d = 0.5 * (det_a.misalignment + det_b.misalignment)

    def rate(lam, idx=slice(None)):
        ea, eb = eta_a[idx][:, None], eta_b[idx][:, None]
        gain, qber = bbm92_gain_and_qber(
            lam, ea, eb, det_a.background_yield, det_b.background_yield, e_d
        )
        return q * gain * bbm92_secret_fraction(qber, ec_efficiency), qber

    def to_lam(u):  # log-uniform pair number 1e-4 .. 2 (lam = half of it)
        return 0.5 * 10.0 ** (-4.0 + np.log10(2e4) * u[..., 0])

    if mean_pair_number is None:
        u = compass_search(
            lambda u, idx=slice(None): rate(to_lam(u), idx)[0], 1, eta_a.size, 16, 40
        )
        lam = to_lam(u[:, None, :])
    else:
        check_range("mean_pair_number", mean_pair_number, low=0.0, low_inclusive=False)
        lam = np.full((eta_a.size, 1), 0.5 * mean_pair_number)
    raw, qber = rate(lam)
    r = np.where(np.isfinite(raw[:, 0]), np.maximum(raw[:, 0], 0.0), 0.0).reshape(shape)
    return KeyRate(
        rate_per_pulse=r,
        rate_bps=r * rep_rate_hz,
        qber=qber[:, 0].reshape(shape),
        parameters={"mean_pair_number": (2.0 * lam[:, 0]).reshape(shape)},
    )
