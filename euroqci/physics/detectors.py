"""Single-photon detectors (threshold detectors, gated or free-running).

Conventions (see docs/physics.md): ``dark_count_prob`` is per detector and per gate (pulse
slot); a BB84 receiver has two detectors per basis measurement, so the background yield of
the whole receiver is ``Y0 = 1 - (1 - p_dc)**2``, about ``2 p_dc``.
"""

from __future__ import annotations

from dataclasses import dataclass

from euroqci.errors import check_range


@dataclass(frozen=True)
class Detector:
    """Threshold single-photon detector model.

    Attributes:
        efficiency: detection efficiency, including receiver optics (0, 1].
        dark_count_prob: dark-count probability per detector per gate [0, 0.5].
        afterpulse_prob: afterpulse probability per detection [0, 1), model of Lim et al.
            PRA 89, 022307 (2014): detections scale by (1 + p_ap), half of afterpulses err.
        dead_time_s: dead time in seconds (>= 0); lowers the detection rate at high count rates.
        misalignment: optical error probability e_d of a detected photon [0, 0.5].
    """

    efficiency: float = 0.1
    dark_count_prob: float = 1e-6
    afterpulse_prob: float = 0.0
    dead_time_s: float = 0.0
    misalignment: float = 0.01

    def __post_init__(self) -> None:
        check_range("detector_efficiency", self.efficiency, low=0.0, high=1.0, low_inclusive=False)
        check_range("dark_count_prob", self.dark_count_prob, low=0.0, high=0.5)
        check_range(
            "afterpulse_prob", self.afterpulse_prob, low=0.0, high=1.0, high_inclusive=False
        )
        check_range("dead_time_s", self.dead_time_s, low=0.0)
        check_range("misalignment", self.misalignment, low=0.0, high=0.5)

    @property
    def background_yield(self) -> float:
        """Y0: probability that the receiver (two detectors) clicks with no photon, per gate."""
        return 1.0 - (1.0 - self.dark_count_prob) ** 2
