"""Weak coherent (phase-randomised laser) sources with decoy intensities.

A phase-randomised coherent state of mean photon number mu emits n photons with Poisson
probability ``exp(-mu) mu**n / n!`` (Lo, Ma, Chen, PRL 94, 230504, 2005).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln, xlogy

from euroqci.errors import InvalidParameter
from euroqci.physics.finite_key import tau


def poisson_photon_prob(n: ArrayLike, mu: ArrayLike) -> np.ndarray:
    """Probability of n photons in a pulse of mean photon number mu (broadcasts)."""
    n = np.asarray(n, dtype=float)
    mu = np.asarray(mu, dtype=float)
    return np.exp(-mu + xlogy(n, mu) - gammaln(n + 1.0))


@dataclass(frozen=True)
class DecoySource:
    """Decoy-state weak coherent source.

    Attributes:
        intensities: mean photon numbers per pulse, signal first, decreasing
            (mu1 > mu2 > ... >= 0); e.g. (mu, nu, omega) for the two-decoy protocol.
        probabilities: probability of sending each intensity; sums to 1.
    """

    intensities: tuple[float, ...] = (0.5, 0.1, 2e-4)
    probabilities: tuple[float, ...] = (0.8, 0.15, 0.05)

    def __post_init__(self) -> None:
        mus = np.asarray(self.intensities, dtype=float)
        ps = np.asarray(self.probabilities, dtype=float)
        if mus.ndim != 1 or mus.size < 1 or np.any(~np.isfinite(mus)) or np.any(mus < 0):
            raise InvalidParameter("intensities", self.intensities, "finite values >= 0")
        if np.any(np.diff(mus) >= 0):
            raise InvalidParameter("intensities", self.intensities, "strictly decreasing")
        if ps.shape != mus.shape:
            raise InvalidParameter(
                "probabilities", self.probabilities, f"{mus.size} values, one per intensity"
            )
        if np.any(ps <= 0) or abs(ps.sum() - 1.0) > 1e-9:
            raise InvalidParameter("probabilities", self.probabilities, "positive, summing to 1")

    def photon_number_prob(self, n: ArrayLike) -> np.ndarray:
        """P(n photons | intensity k), shape ``n.shape + (K,)``."""
        n = np.asarray(n, dtype=float)[..., None]
        return poisson_photon_prob(n, np.asarray(self.intensities))

    def tau(self, n: int) -> float:
        """tau_n = sum_k p_k exp(-mu_k) mu_k**n / n!: probability of sending n photons
        (:func:`euroqci.physics.finite_key.tau`)."""
        return float(tau(n, np.asarray(self.intensities, float),
                         np.asarray(self.probabilities, float)))
