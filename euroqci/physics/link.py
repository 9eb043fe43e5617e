"""Parameters of one QKD link (or of many links at once: ``loss_db`` may be an array)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from euroqci.errors import InvalidParameter, check_range
from euroqci.physics.detectors import Detector
from euroqci.physics.fiber import fiber_loss_db, transmittance

SIFTING_CHOICES = ("efficient", "symmetric")


def finite_nonnegative(name: str, values: ArrayLike, unit: str) -> np.ndarray:
    """``values`` as a float array; :class:`InvalidParameter` unless all are finite and >= 0
    (losses in dB, lengths in km: one check for every model that takes arrays of them)."""
    arr = np.asarray(values, dtype=float)
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise InvalidParameter(name, values, f"finite values >= 0 {unit}")
    return arr


def check_sifting(sifting: str) -> None:
    """:class:`InvalidParameter` unless ``sifting`` is one of :data:`SIFTING_CHOICES`."""
    if sifting not in SIFTING_CHOICES:
        raise InvalidParameter("sifting", sifting, "one of " + ", ".join(SIFTING_CHOICES))


@dataclass(frozen=True)
class LinkParameters:
    """Everything the key-rate models need to know about a link.

    Attributes:
        loss_db: channel loss Alice -> Bob's receiver input in dB (scalar or array of links);
            the detector efficiency is NOT included (it is in ``detector``).
        detector: Bob's detectors.
        ec_efficiency: error-correction efficiency f >= 1 (leak = f n h(QBER)).
        rep_rate_hz: source repetition rate, pulses per second (turns per-pulse into bps).
        sifting: "efficient" (biased basis choice, Lo-Chau-Ardehali; sifting factor -> 1) or
            "symmetric" (both bases with probability 1/2; sifting factor 1/2).
    """

    loss_db: ArrayLike = 0.0
    detector: Detector = field(default_factory=Detector)
    ec_efficiency: float = 1.16
    rep_rate_hz: float = 1e9
    sifting: str = "efficient"

    def __post_init__(self) -> None:
        finite_nonnegative("loss_db", self.loss_db, "dB")
        check_range("ec_efficiency", self.ec_efficiency, low=1.0, high=2.0)
        check_range("rep_rate_hz", self.rep_rate_hz, low=0.0, low_inclusive=False)
        check_sifting(self.sifting)

    @classmethod
    def from_fiber(
        cls,
        length_km: ArrayLike,
        attenuation_db_per_km: float = 0.2,
        extra_loss_db: float = 0.0,
        **kwargs,
    ) -> LinkParameters:
        """Link over fiber of ``length_km`` (see :func:`~euroqci.physics.fiber.fiber_loss_db`)."""
        length = finite_nonnegative("length_km", length_km, "km")
        check_range("attenuation_db_per_km", attenuation_db_per_km, low=0.0)
        check_range("extra_loss_db", extra_loss_db, low=0.0)
        return cls(loss_db=fiber_loss_db(length, attenuation_db_per_km, extra_loss_db), **kwargs)

    @property
    def channel_transmittance(self) -> np.ndarray:
        """Channel transmittance (detector efficiency excluded)."""
        return transmittance(self.loss_db)

    @property
    def total_transmittance(self) -> np.ndarray:
        """eta = channel transmittance x detector efficiency (what the gain model uses)."""
        return self.channel_transmittance * self.detector.efficiency
