"""Optical fiber channel: loss in dB and transmittance.

Standard single-mode fiber at 1550 nm loses about 0.2 dB/km (ITU-T G.652); ultra-low-loss
fiber about 0.16 dB/km. Connectors and splices enter as a lumped ``extra_loss_db``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def fiber_loss_db(
    length_km: ArrayLike, attenuation_db_per_km: ArrayLike = 0.2, extra_loss_db: ArrayLike = 0.0
) -> np.ndarray:
    """Total loss in dB of a fiber span: ``attenuation_db_per_km * length_km + extra_loss_db``.

    Broadcasts over numpy arrays.
    """
    length_km = np.asarray(length_km, dtype=float)
    return np.asarray(attenuation_db_per_km, dtype=float) * length_km + np.asarray(
        extra_loss_db, dtype=float
    )


def transmittance(loss_db: ArrayLike) -> np.ndarray:
    """Power transmittance ``10**(-loss_db/10)`` (dimensionless, in (0, 1] for loss >= 0)."""
    return 10.0 ** (-np.asarray(loss_db, dtype=float) / 10.0)


def loss_db_from_transmittance(transmittance_: ArrayLike) -> np.ndarray:
    """Inverse of :func:`transmittance`: ``-10 log10(transmittance)`` in dB."""
    return -10.0 * np.log10(np.asarray(transmittance_, dtype=float))
