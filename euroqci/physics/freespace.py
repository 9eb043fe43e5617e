"""Free-space satellite-to-ground (downlink) channel.

One function per effect, numpy-broadcasting over elevation (or range):

- geometry: :func:`slant_range_km` (spherical Earth);
- diffraction of a Gaussian beam into a circular receiver: :func:`diffraction_transmittance`,
  closed form, or with the beam clipped by the transmitter aperture (Fraunhofer integral);
- pointing jitter and extra divergence widen the long-term spot: :func:`beam_transmittance`;
- clear-sky atmosphere, Beer-Lambert with plane-parallel air mass:
  :func:`atmospheric_transmittance`;
- background clicks from sky radiance: :func:`background_counts_per_s`;
- the whole budget: :func:`downlink_loss_db` (detector efficiency NOT included: it belongs to
  the :class:`~euroqci.physics.detectors.Detector`).

References: Bonato et al., New J. Phys. 11, 045017 (2009) (downlink budget, background);
Sidhu et al., npj Quantum Inf. 8, 18 (2022) and the SatQuMA code (truncated-aperture
diffraction, MODTRAN atmosphere); Liao et al., Nature 549, 43 (2017) (Micius).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import j0, roots_legendre

from euroqci.constants import EARTH_RADIUS_KM, PLANCK_J_S, SPEED_OF_LIGHT_M_PER_S
from euroqci.errors import InvalidParameter, check_range

#: Clear-sky zenith transmittance by wavelength (nm): the 90 deg column of the MODTRAN runs
#: (500 km to sea level) shipped with SatQuMA v2.0.0 (Sidhu et al. 2022), MIT licence.
#: 810-825 nm sit in an O2/H2O absorption feature.
ZENITH_TRANSMITTANCE_BY_WAVELENGTH_NM: dict[float, float] = {
    785.0: 0.87604, 790.0: 0.865418, 795.0: 0.860783, 800.0: 0.859997, 805.0: 0.856202,
    810.0: 0.813639, 815.0: 0.741585, 820.0: 0.717792, 825.0: 0.741359, 830.0: 0.775114,
    835.0: 0.82053, 840.0: 0.863268, 845.0: 0.886683, 850.0: 0.895181, 1550.0: 0.960377,
}

_QUADRATURE_NODES = 48  # Gauss-Legendre nodes per radial integral (error < 1e-4 relative)


@dataclass(frozen=True)
class DownlinkParameters:
    """A satellite-to-ground optical link, everything but the detectors.

    Apertures are diameters. ``beam_waist_m`` is the 1/e^2 intensity radius at the
    transmitter (None: half the transmitter aperture). ``divergence_urad``, when given,
    replaces the diffraction-limited far-field divergence by a measured FULL angle at
    1/e^2 (a beam that is not diffraction limited, e.g. Micius' ~10 urad).
    ``pointing_jitter_urad`` is the rms per axis. ``zenith_transmittance`` None means the
    MODTRAN clear-sky value at ``wavelength_nm`` (785-850 nm in 5 nm steps, or 1550 nm).
    ``extra_loss_db`` is the receiver optics, coupling and analyser loss (not the detector
    efficiency). Background counts per second reach ALL the QKD detectors together; with
    ``gate_s`` they give a per-gate background yield (added to Y0).
    """

    wavelength_nm: float = 850.0
    tx_aperture_m: float = 0.3
    rx_aperture_m: float = 1.0
    beam_waist_m: float | None = None
    divergence_urad: float | None = None
    truncated_tx_aperture: bool = False
    pointing_jitter_urad: float = 2.0
    zenith_transmittance: float | None = None
    extra_loss_db: float = 6.0
    background_counts_per_s_night: float = 500.0
    background_counts_per_s_day: float = 1.0e7
    gate_s: float = 1.0e-9

    def __post_init__(self) -> None:
        check_range("wavelength_nm", self.wavelength_nm, low=100.0, high=20_000.0)
        check_range("tx_aperture_m", self.tx_aperture_m, low=0.0, low_inclusive=False, high=10.0)
        check_range("rx_aperture_m", self.rx_aperture_m, low=0.0, low_inclusive=False, high=100.0)
        if self.beam_waist_m is not None:
            check_range("beam_waist_m", self.beam_waist_m, low=0.0, low_inclusive=False,
                        high=10.0)
        if self.divergence_urad is not None:
            check_range("divergence_urad", self.divergence_urad, low=0.0, low_inclusive=False,
                        high=1e5)
            if self.truncated_tx_aperture:
                raise InvalidParameter("truncated_tx_aperture", True,
                                       "cannot be combined with a given divergence_urad")
        check_range("pointing_jitter_urad", self.pointing_jitter_urad, low=0.0, high=1e4)
        if self.zenith_transmittance is not None:
            check_range("zenith_transmittance", self.zenith_transmittance, low=0.0,
                        low_inclusive=False, high=1.0)
        check_range("extra_loss_db", self.extra_loss_db, low=0.0, high=200.0)
        check_range("background_counts_per_s_night", self.background_counts_per_s_night, low=0.0)
        check_range("background_counts_per_s_day", self.background_counts_per_s_day, low=0.0)
        check_range("gate_s", self.gate_s, low=0.0, low_inclusive=False, high=1.0)
        zenith_transmittance_for(self.wavelength_nm, self.zenith_transmittance)

    @property
    def waist_m(self) -> float:
        """The 1/e^2 beam radius at the transmitter, m."""
        return self.tx_aperture_m / 2 if self.beam_waist_m is None else self.beam_waist_m

    def background_prob_per_detector(self, night: ArrayLike) -> np.ndarray:
        """Background click probability per detector per gate, night (True) or day (False).

        The receiver's background yield is twice this (two detectors, docs/physics.md).
        """
        rate = np.where(np.asarray(night, dtype=bool), self.background_counts_per_s_night,
                        self.background_counts_per_s_day)
        return rate * self.gate_s / 2.0


def slant_range_km(elevation_deg: ArrayLike, altitude_km: ArrayLike,
                   station_altitude_km: ArrayLike = 0.0) -> np.ndarray:
    """Station-to-satellite distance, km, on a spherical Earth (R = 6371 km).

    L = sqrt((R+h)^2 - ((R+h0) cos e)^2) - (R+h0) sin e.
    """
    e = np.radians(np.asarray(elevation_deg, dtype=float))
    r_sat = EARTH_RADIUS_KM + np.asarray(altitude_km, dtype=float)
    r_gs = EARTH_RADIUS_KM + np.asarray(station_altitude_km, dtype=float)
    return np.sqrt(r_sat**2 - (r_gs * np.cos(e)) ** 2) - r_gs * np.sin(e)


def gaussian_beam_radius_m(range_km: ArrayLike, waist_m: float, wavelength_nm: float
                           ) -> np.ndarray:
    """1/e^2 radius of a Gaussian beam after ``range_km``: w0 sqrt(1 + (L/z_R)^2)."""
    lam = wavelength_nm * 1e-9
    z_r = np.pi * waist_m**2 / lam
    return waist_m * np.sqrt(1.0 + (np.asarray(range_km, dtype=float) * 1e3 / z_r) ** 2)


def _collected(rx_radius_m: float, beam_radius_m: ArrayLike) -> np.ndarray:
    """Fraction of a centred Gaussian spot (1/e^2 radius w) inside a disc: 1 - exp(-2a^2/w^2)."""
    return -np.expm1(-2.0 * rx_radius_m**2 / np.asarray(beam_radius_m) ** 2)


def truncated_diffraction_transmittance(range_km: ArrayLike, tx_radius_m: float,
                                        rx_radius_m: float, waist_m: float,
                                        wavelength_nm: float) -> np.ndarray:
    """Power fraction of a Gaussian clipped by the transmitter aperture that enters the receiver.

    Fraunhofer far field of the field exp(-r^2/w0^2) over r < a_T, integrated over the
    receiver disc and divided by the power leaving the aperture (the convention of SatQuMA's
    ``diffract``, Sidhu et al. 2022). Both radial integrals use Gauss-Legendre quadrature,
    vectorised over range.
    """
    x, wts = roots_legendre(_QUADRATURE_NODES)
    r = 0.5 * tx_radius_m * (x + 1.0)          # transmitter-plane radius
    wr = 0.5 * tx_radius_m * wts
    rho = 0.5 * rx_radius_m * (x + 1.0)        # receiver-plane radius
    wrho = 0.5 * rx_radius_m * wts
    z = np.asarray(range_km, dtype=float)[..., None, None] * 1e3
    k = 2.0 * np.pi / (wavelength_nm * 1e-9)
    field = np.exp(-((r / waist_m) ** 2))
    amplitude = (j0(k * rho[:, None] * r[None, :] / z) * (field * r * wr)).sum(axis=-1)
    received = ((k / z[..., 0]) ** 2 * rho * wrho * amplitude**2).sum(axis=-1)
    sent = (r * field**2 * wr).sum()
    return received / sent


def diffraction_transmittance(range_km: ArrayLike, params: DownlinkParameters) -> np.ndarray:
    """Fraction of the beam collected by the receiver, from diffraction alone (no jitter)."""
    rx_radius = params.rx_aperture_m / 2
    if params.truncated_tx_aperture:
        return truncated_diffraction_transmittance(
            range_km, params.tx_aperture_m / 2, rx_radius, params.waist_m, params.wavelength_nm)
    if params.divergence_urad is not None:
        half_angle = 0.5 * params.divergence_urad * 1e-6
        w = np.hypot(params.waist_m, half_angle * np.asarray(range_km, dtype=float) * 1e3)
    else:
        w = gaussian_beam_radius_m(range_km, params.waist_m, params.wavelength_nm)
    return _collected(rx_radius, w)


def beam_transmittance(range_km: ArrayLike, params: DownlinkParameters) -> np.ndarray:
    """Diffraction plus pointing jitter: the long-term collected fraction.

    Averaging a Gaussian spot of radius w over a random offset with rms sigma per axis gives
    a Gaussian of radius sqrt(w^2 + 4 sigma^2) (sigma = jitter_rad x range). For the truncated
    beam the diffraction result is first mapped to the Gaussian radius that collects the same
    power (an approximation, exact for the untruncated beam).
    """
    rx_radius = params.rx_aperture_m / 2
    eta = np.clip(diffraction_transmittance(range_km, params), 1e-300, 1.0 - 1e-15)
    w2 = -2.0 * rx_radius**2 / np.log1p(-eta)
    sigma_m = params.pointing_jitter_urad * 1e-6 * np.asarray(range_km, dtype=float) * 1e3
    return _collected(rx_radius, np.sqrt(w2 + 4.0 * sigma_m**2))


def zenith_transmittance_for(wavelength_nm: float, given: float | None = None) -> float:
    """``given`` if not None, else the MODTRAN clear-sky zenith value at ``wavelength_nm``."""
    if given is not None:
        return given
    for key, value in ZENITH_TRANSMITTANCE_BY_WAVELENGTH_NM.items():
        if abs(key - wavelength_nm) <= 0.5:
            return value
    raise InvalidParameter(
        "wavelength_nm", wavelength_nm,
        "has no built-in zenith transmittance (785-850 nm in 5 nm steps, or 1550 nm): "
        "give zenith_transmittance",
    )


def atmospheric_transmittance(elevation_deg: ArrayLike, zenith_transmittance: float
                              ) -> np.ndarray:
    """Clear-sky transmittance T_zen^(1/sin e) (Beer-Lambert, plane-parallel air mass).

    Within 0.02 of MODTRAN (SatQuMA's table) from 10 to 90 deg elevation; it underestimates
    the transmittance below ~5 deg, where Earth curvature limits the air mass.
    """
    s = np.sin(np.radians(np.asarray(elevation_deg, dtype=float)))
    with np.errstate(divide="ignore"):
        return np.where(s > 0, zenith_transmittance ** (1.0 / np.where(s > 0, s, 1.0)), 0.0)


def downlink_transmittance(elevation_deg: ArrayLike, altitude_km: ArrayLike,
                           params: DownlinkParameters, station_altitude_km: float = 0.0
                           ) -> np.ndarray:
    """Satellite exit aperture to the detector inputs (detector efficiency excluded)."""
    elevation = np.asarray(elevation_deg, dtype=float)
    if np.any((elevation < 0.0) | (elevation > 90.0)):
        raise InvalidParameter("elevation_deg", elevation_deg, "must be in [0, 90]")
    range_km = slant_range_km(elevation, altitude_km, station_altitude_km)
    return path_transmittance(range_km, elevation, params)


def path_transmittance(range_km: ArrayLike, elevation_deg: ArrayLike,
                       params: DownlinkParameters) -> np.ndarray:
    """Transmittance for a known range and elevation (e.g. sampled along an SGP4 pass)."""
    t_zen = zenith_transmittance_for(params.wavelength_nm, params.zenith_transmittance)
    return (beam_transmittance(range_km, params)
            * atmospheric_transmittance(elevation_deg, t_zen)
            * 10.0 ** (-params.extra_loss_db / 10.0))


def downlink_loss_db(elevation_deg: ArrayLike, altitude_km: ArrayLike,
                     params: DownlinkParameters, station_altitude_km: float = 0.0
                     ) -> np.ndarray:
    """Total downlink loss, dB (geometric + pointing + atmosphere + extra receiver loss)."""
    with np.errstate(divide="ignore"):
        return -10.0 * np.log10(downlink_transmittance(elevation_deg, altitude_km, params,
                                                       station_altitude_km))


def background_counts_per_s(sky_radiance_w_m2_sr_nm: ArrayLike, fov_full_angle_urad: float,
                            rx_aperture_m: float, filter_bandwidth_nm: float,
                            wavelength_nm: float, rx_efficiency: float = 1.0) -> np.ndarray:
    """Sky background photon counts per second into the receiver.

    N_b = H_b * Omega_FOV * A_R * d_lambda * eta_Rx / (h c / lambda) (Bonato et al. 2009,
    Eq. 6), with Omega the solid angle of a conical field of view of the given full angle.
    """
    half = 0.5 * fov_full_angle_urad * 1e-6
    solid_angle_sr = 2.0 * np.pi * (1.0 - np.cos(half))
    area_m2 = np.pi * (rx_aperture_m / 2) ** 2
    photon_j = PLANCK_J_S * SPEED_OF_LIGHT_M_PER_S / (wavelength_nm * 1e-9)
    return (np.asarray(sky_radiance_w_m2_sr_nm, dtype=float) * solid_angle_sr * area_m2
            * filter_bandwidth_nm * rx_efficiency / photon_j)
