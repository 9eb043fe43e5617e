"""Decoy-state BB84 with weak coherent pulses: detection model, counts and key length.

- Gain and QBER model: Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eqs. (2)-(4).
- Finite-key length from observed counts: Lim et al., PRA 89, 022307 (2014) (two decoys) and
  Rusca et al., APL 112, 171104 (2018) (one decoy); see :mod:`euroqci.physics.finite_key`.
- Optimised key rates (asymptotic and finite-key) over many links:
  :func:`euroqci.physics.optimise.secret_key_rate`, re-exported here.

Conventions: X is the key basis (probability ``p_x`` at Alice and Bob), Z the test basis;
``transmittance`` passed to :func:`gain_and_qber` includes the detector efficiency, the one
passed to :func:`expected_decoy_counts` is the channel alone (the detector is given).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from euroqci.errors import InvalidParameter, check_range
from euroqci.physics.bounds import binary_entropy
from euroqci.physics.detection import detection_probabilities, gain_and_qber
from euroqci.physics.detectors import Detector
from euroqci.physics.finite_key import key_length
from euroqci.physics.optimise import KeyRate, secret_key_rate

METHODS = {"lim2014": 3, "rusca2018": 2}

__all__ = [
    "DecoyCounts",
    "FiniteKeyResult",
    "KeyRate",
    "detection_probabilities",
    "expected_decoy_counts",
    "finite_key_length",
    "gain_and_qber",
    "secret_key_rate",
]


@dataclass(frozen=True)
class DecoyCounts:
    """Detections and errors per intensity (last axis), key basis X and test basis Z.

    Leading axes broadcast over links (or time steps). Counts are floats so that expected
    counts and observed counts share one type; they add over time steps.
    """

    intensities: np.ndarray
    probabilities: np.ndarray
    n_x: np.ndarray
    m_x: np.ndarray
    n_z: np.ndarray
    m_z: np.ndarray
    n_pulses: np.ndarray | float | None = None

    def summed(self, axis: int = 0) -> DecoyCounts:
        """Counts summed along a leading ``axis`` (e.g. the time steps of a satellite pass);
        intensities and probabilities must be the same along it."""
        a = axis if axis >= 0 else axis - 1
        take = lambda x: np.take(np.asarray(x), 0, axis=a) if np.ndim(x) > 1 else x  # noqa: E731
        return DecoyCounts(
            intensities=take(self.intensities),
            probabilities=take(self.probabilities),
            n_x=np.sum(self.n_x, axis=a),
            m_x=np.sum(self.m_x, axis=a),
            n_z=np.sum(self.n_z, axis=a),
            m_z=np.sum(self.m_z, axis=a),
            n_pulses=None if self.n_pulses is None else np.sum(self.n_pulses, axis=axis),
        )


def expected_decoy_counts(
    transmittance: ArrayLike,
    detector: Detector,
    intensities: ArrayLike,
    probabilities: ArrayLike,
    p_x: ArrayLike,
    n_pulses: ArrayLike,
    *,
    rep_rate_hz: float | None = None,
    background_prob: ArrayLike = 0.0,
) -> DecoyCounts:
    """Expected counts after ``n_pulses`` pulses (Lim 2014 Sec. IV / Rusca 2018 App. B model).

    Per-pulse probabilities from :func:`detection_probabilities` (``background_prob``: extra
    click probability per detector per gate, e.g. stray light of a satellite downlink);
    X basis shares use p_x**2, Z basis shares (1 - p_x)**2. ``transmittance`` excludes the
    detector efficiency; leading axes broadcast.
    """
    mu = np.asarray(intensities, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    det, err = detection_probabilities(
        np.asarray(transmittance, dtype=float)[..., None],
        detector,
        mu,
        p,
        rep_rate_hz=rep_rate_hz,
        background_prob=np.asarray(background_prob, float)[..., None],
    )
    p_x = np.asarray(p_x, dtype=float)[..., None]
    sent = np.asarray(n_pulses, dtype=float)[..., None] * p
    px2, pz2 = p_x**2, (1.0 - p_x) ** 2
    shape = np.broadcast_shapes(det.shape, sent.shape, p_x.shape)
    full = lambda x: np.broadcast_to(x, shape)  # noqa: E731
    return DecoyCounts(
        intensities=full(mu),
        probabilities=full(p),
        n_x=full(sent * px2 * det),
        m_x=full(sent * px2 * err),
        n_z=full(sent * pz2 * det),
        m_z=full(sent * pz2 * err),
        n_pulses=np.asarray(n_pulses, dtype=float),
    )


@dataclass(frozen=True)
class FiniteKeyResult:
    """Finite-key outcome (arrays over the leading axes of the counts).

    length_bits: extractable secret key length ell (>= 0, integer-valued floats);
    s_x0, s_x1: lower bounds on vacuum and single-photon events in the key basis;
    s_z1, v_z1: single-photon events and their errors (upper) in the test basis;
    phase_error_upper: upper bound on the single-photon phase error rate in the key basis;
    ec_leak_bits: bits leaked by error correction (given or f n_X h(E_X)); qber_x: E_X.
    """

    length_bits: np.ndarray
    s_x0: np.ndarray
    s_x1: np.ndarray
    s_z1: np.ndarray
    v_z1: np.ndarray
    phase_error_upper: np.ndarray
    ec_leak_bits: np.ndarray
    qber_x: np.ndarray


def finite_key_length(
    counts: DecoyCounts,
    *,
    eps_sec: float = 1e-9,
    eps_cor: float = 1e-15,
    ec_leak_bits: ArrayLike | None = None,
    ec_efficiency: float = 1.16,
    method: str = "lim2014",
) -> FiniteKeyResult:
    """Secret key length from (observed) decoy counts.

    ``method="lim2014"``: three intensities, Lim et al. PRA 89, 022307 (2014) Eq. (1);
    ``method="rusca2018"``: two intensities, Rusca et al. APL 112, 171104 (2018) Eq. (A25).
    ``ec_leak_bits`` is what reconciliation actually disclosed; if None it is estimated as
    ec_efficiency * n_X * h(E_X). Secrecy is eps_sec-secret and eps_cor-correct.
    """
    if method not in METHODS:
        raise InvalidParameter("method", method, "one of " + ", ".join(METHODS))
    check_range("eps_sec", eps_sec, low=0.0, high=1.0, low_inclusive=False)
    check_range("eps_cor", eps_cor, low=0.0, high=1.0, low_inclusive=False)
    check_range("ec_efficiency", ec_efficiency, low=1.0, high=2.0)  # as LinkParameters
    mu = np.asarray(counts.intensities, dtype=float)
    if mu.shape[-1] != METHODS[method]:
        raise InvalidParameter(
            "intensities", mu.shape[-1], f"{METHODS[method]} intensities for method={method}"
        )
    n_x, m_x = np.asarray(counts.n_x, float), np.asarray(counts.m_x, float)
    n_tot = n_x.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        qber = np.where(n_tot > 0, m_x.sum(-1) / n_tot, 0.0)
    if ec_leak_bits is None:
        leak = ec_efficiency * n_tot * binary_entropy(qber)
    else:
        leak = np.asarray(ec_leak_bits, dtype=float)
    out = key_length(
        mu,
        np.asarray(counts.probabilities, dtype=float),
        n_x,
        m_x,
        np.asarray(counts.n_z, float),
        np.asarray(counts.m_z, float),
        eps_sec=eps_sec,
        eps_cor=eps_cor,
        ec_leak_bits=leak,
        method=method,
    )
    leak = np.broadcast_to(leak, out["length_bits"].shape)
    out.pop("raw_bits")
    return FiniteKeyResult(ec_leak_bits=leak, qber_x=qber, **out)
