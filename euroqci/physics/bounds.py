"""Information-theoretic helpers and fundamental bounds.

PLOB: Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017): the secret-key
capacity of a pure-loss channel of transmittance eta is -log2(1 - eta) bits per channel use;
no repeaterless point-to-point protocol can exceed it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def binary_entropy(p: ArrayLike) -> np.ndarray:
    """h(p) = -p log2 p - (1-p) log2(1-p) in bits; p is clipped to [0, 1], h(0) = h(1) = 0."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -p * np.log2(p) - (1.0 - p) * np.log2(1.0 - p)
    return np.nan_to_num(h, nan=0.0)


def plob_bound(transmittance: ArrayLike) -> np.ndarray:
    """PLOB repeaterless bound -log2(1 - eta) in secret bits per channel use (pulse/mode)."""
    eta = np.clip(np.asarray(transmittance, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return -np.log1p(-eta) / np.log(2.0)
