"""Finite-key secret key of a whole satellite pass, the pass being ONE post-processing block.

Expected decoy-BB84 counts (:func:`euroqci.physics.bb84.expected_decoy_counts`) are summed
along the pass while the downlink transmittance follows the elevation and range of each
sample; the pass totals then go through :func:`euroqci.physics.bb84.finite_key_length`
(Lim et al., PRA 89, 022307, 2014, or Rusca et al., APL 112, 171104, 2018). The free
parameters (intensities, their probabilities, key-basis probability) are optimised for the
whole pass, as in Sidhu et al., npj Quantum Inf. 8, 18 (2022) (SatQuMA).

The optimiser is a vectorised shrinking-box search over a deterministic Sobol sequence:
every candidate of a round is evaluated in one numpy call (hand-written because scipy's
optimisers evaluate one point at a time, which is ~100x slower here).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import qmc

from euroqci.errors import InvalidParameter, check_range
from euroqci.physics.bb84 import (
    METHODS,
    DecoyCounts,
    expected_decoy_counts,
    finite_key_length,
)
from euroqci.physics.detectors import Detector
from euroqci.physics.freespace import DownlinkParameters, path_transmittance
from euroqci.physics.orbits import Pass

_OPT_BINS = 48          # time bins used while optimising (gain is ~linear in eta here)
_ROUNDS = (512, 128, 128, 128, 128)   # candidates per round; the box halves each round
_MU3 = 0.0              # weakest intensity: vacuum, as in SatQuMA
# (low, high) of the search box: mu1, mu2/mu1, p1, share of the rest given to mu2, p_x
_BOX = np.array([[0.2, 1.0], [0.05, 0.8], [0.3, 0.98], [0.1, 0.95], [0.5, 0.99]])


@dataclass(frozen=True)
class PassKey:
    """Key of one pass: ``secret_key_bits`` (>= 0), sifted key-basis detections ``n_x``,
    their error rate ``qber``, mean ``loss_db`` along the pass and the optimal
    ``parameters`` (intensities, probabilities, p_x)."""

    secret_key_bits: float
    n_x: float
    qber: float
    mean_loss_db: float
    parameters: dict


def pass_transmittance(pass_: Pass, params: DownlinkParameters) -> np.ndarray:
    """Channel transmittance at each sample of the pass (detector excluded)."""
    return path_transmittance(pass_.range_km, pass_.elevation_deg, params)


def _time_weights_s(times_s: np.ndarray) -> np.ndarray:
    """Trapezoid weights (s) of the samples, summing to the pass duration."""
    dt = np.diff(times_s)
    w = np.zeros_like(times_s, dtype=float)
    w[:-1] += dt / 2
    w[1:] += dt / 2
    return w


def _binned(eta: np.ndarray, w: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive samples into ``bins`` groups (weighted mean transmittance)."""
    if len(eta) <= bins:
        return eta, w
    groups = np.array_split(np.arange(len(eta)), bins)
    w_b = np.array([w[g].sum() for g in groups])
    eta_b = np.array([(eta[g] * w[g]).sum() for g in groups]) / np.maximum(w_b, 1e-300)
    return eta_b, w_b


def _decode(u: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit-box points -> (intensities (n, k), probabilities (n, k), p_x (n,))."""
    x = _BOX[:, 0] + u * (_BOX[:, 1] - _BOX[:, 0])
    mu1, mu2 = x[:, 0], x[:, 0] * x[:, 1]
    p1, p_x = x[:, 2], x[:, 4]
    if method == "rusca2018":
        return np.stack([mu1, mu2], -1), np.stack([p1, 1 - p1], -1), p_x
    p2 = (1 - p1) * x[:, 3]
    mus = np.stack([mu1, mu2, np.full_like(mu1, _MU3)], -1)
    return mus, np.stack([p1, p2, 1 - p1 - p2], -1), p_x


def _counts(eta, n_pulses, detector, background, mus, probs, p_x) -> DecoyCounts:
    """Pass-total expected counts for every candidate: time axis 0 summed away."""
    counts = expected_decoy_counts(eta[:, None], detector, mus, probs, p_x,
                                   n_pulses[:, None], background_prob=background)
    return counts.summed(axis=0)


def pass_counts(pass_: Pass, downlink_params: DownlinkParameters, detector: Detector, *,
                intensities: ArrayLike, probabilities: ArrayLike, p_x: ArrayLike,
                rep_rate_hz: float = 1e9) -> DecoyCounts:
    """Expected decoy counts of the whole pass (time integrated, trapezoid rule).

    Parameter arrays may carry leading candidate axes: intensities (..., k), p_x (...).
    """
    eta = pass_transmittance(pass_, downlink_params)
    w = _time_weights_s(np.asarray(pass_.times_s, dtype=float))
    background = float(downlink_params.background_prob_per_detector(pass_.night))
    return _counts(eta, w * rep_rate_hz, detector, background, np.asarray(intensities, float),
                   np.asarray(probabilities, float), np.asarray(p_x, float))


def pass_key(pass_: Pass, downlink_params: DownlinkParameters, detector: Detector, *,
             rep_rate_hz: float = 1e9, eps_sec: float = 1e-9, eps_cor: float = 1e-15,
             ec_efficiency: float = 1.16, method: str = "lim2014",
             intensities: tuple[float, ...] | None = None,
             probabilities: tuple[float, ...] | None = None,
             p_x: float | None = None) -> PassKey:
    """Finite-key secret key of one pass (one block), with optimised or given parameters.

    Give ``intensities``, ``probabilities`` and ``p_x`` together to fix them (e.g. a real
    source); otherwise all are optimised. Background clicks follow ``pass_.night``.
    """
    check_range("rep_rate_hz", rep_rate_hz, low=0.0, low_inclusive=False, high=1e12)
    if method not in METHODS:
        raise InvalidParameter("method", method, "one of " + ", ".join(METHODS))
    given = [intensities is not None, probabilities is not None, p_x is not None]
    if any(given) and not all(given):
        raise InvalidParameter("intensities/probabilities/p_x", given,
                               "give all three to fix the parameters, or none to optimise")
    eta = pass_transmittance(pass_, downlink_params)
    w = _time_weights_s(np.asarray(pass_.times_s, dtype=float))
    background = float(downlink_params.background_prob_per_detector(pass_.night))
    key_args = {"eps_sec": eps_sec, "eps_cor": eps_cor, "ec_efficiency": ec_efficiency,
                "method": method}
    if all(given):
        mus = np.asarray(intensities, dtype=float)[None, :]
        probs = np.asarray(probabilities, dtype=float)[None, :]
        px = np.array([p_x], dtype=float)
    else:
        mus, probs, px = _optimise(eta, w, rep_rate_hz, detector, background, key_args)
    counts = _counts(eta, w * rep_rate_hz, detector, background, mus, probs, px)
    result = finite_key_length(counts, **key_args)
    n_x = float(np.sum(counts.n_x))
    mean_eta = float(np.sum(eta * w) / max(np.sum(w), 1e-300))
    return PassKey(
        secret_key_bits=float(result.length_bits[0]),
        n_x=n_x,
        qber=float(np.sum(counts.m_x) / n_x) if n_x > 0 else 0.5,
        mean_loss_db=float(-10 * np.log10(mean_eta)) if mean_eta > 0 else float("inf"),
        parameters={"intensities": mus[0].tolist(), "probabilities": probs[0].tolist(),
                    "p_x": float(px[0])},
    )


@functools.cache
def _sobol(n: int) -> np.ndarray:
    """The first ``n`` points of the unscrambled 5-D Sobol sequence (deterministic)."""
    points = qmc.Sobol(5, scramble=False).random(n)
    points.setflags(write=False)
    return points


def _optimise(eta, w, rep_rate_hz, detector, background, key_args):
    """Shrinking-box Sobol search maximising the pass key; returns the best (1, ...) arrays."""
    eta_b, w_b = _binned(eta, w, _OPT_BINS)
    n_pulses = w_b * rep_rate_hz
    lo, hi = np.zeros(5), np.ones(5)
    best_u, best = np.full(5, 0.5), -np.inf
    for n in _ROUNDS:
        u = lo + _sobol(n) * (hi - lo)
        u = np.vstack([u, best_u])
        mus, probs, px = _decode(u, key_args["method"])
        counts = _counts(eta_b, n_pulses, detector, background, mus, probs, px)
        length = finite_key_length(counts, **key_args).length_bits
        # no key yet: climb towards more key-basis detections (scores stay below 0)
        score = np.where(length > 0, length, -1.0 / (1.0 + np.sum(counts.n_x, axis=-1)))
        k = int(np.argmax(score))
        if score[k] > best:
            best, best_u = score[k], u[k]
        half = (hi - lo) / 4
        lo, hi = np.clip(best_u - half, 0, 1), np.clip(best_u + half, 0, 1)
    mus, probs, px = _decode(best_u[None, :], key_args["method"])
    return mus, probs, px


def pass_secret_key_bits(pass_: Pass, downlink_params: DownlinkParameters, detector: Detector,
                         *, rep_rate_hz: float = 1e9, eps_sec: float = 1e-9,
                         eps_cor: float = 1e-15, ec_efficiency: float = 1.16,
                         method: str = "lim2014") -> float:
    """Finite-key secret bits of one pass with optimised parameters (see :func:`pass_key`)."""
    return pass_key(pass_, downlink_params, detector, rep_rate_hz=rep_rate_hz, eps_sec=eps_sec,
                    eps_cor=eps_cor, ec_efficiency=ec_efficiency, method=method).secret_key_bits
