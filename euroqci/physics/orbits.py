"""Satellite orbits and passes over ground stations, with skyfield + sgp4, fully offline.

The timescale is skyfield's built-in one and the JPL DE421 ephemeris (for the Sun) comes
from the installed ``skyfield-data`` package: nothing is ever downloaded.

Pass search (fast enough for many stations over weeks): the satellite's Earth-fixed (ITRS)
position is propagated once on a coarse time grid and interpolated by a cubic spline
(error ~ centimetres at a 20 s step); each station then only needs dot products. Windows
above the elevation mask are refined on a fine grid, crossings interpolated linearly.
Elevations are geometric (no refraction).
"""

from __future__ import annotations

import atexit
import functools
import math
import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.interpolate import CubicSpline
from sgp4.api import WGS72, Satrec, jday
from sgp4.earth_gravity import wgs72
from skyfield.api import EarthSatellite, Loader, wgs84
from skyfield.errors import EphemerisRangeError
from skyfield.framelib import itrs
from skyfield.sgp4lib import theta_GMST1982

from euroqci.errors import InvalidParameter, check_range

#: the WGS-72 constants SGP4 itself uses (taken from sgp4, not copied): km, km^3/s^2, J2
_MU_KM3_S2 = wgs72.mu
_EARTH_EQUATORIAL_RADIUS_KM = wgs72.radiusearthkm
_J2 = wgs72.j2
_TROPICAL_YEAR_S = 365.2422 * 86400.0
_SGP4_EPOCH = datetime(1949, 12, 31, tzinfo=UTC)

DEFAULT_EPOCH = datetime(2025, 6, 21, tzinfo=UTC)
COARSE_STEP_S = 20.0


@functools.cache
def _loader() -> Loader:
    import skyfield_data

    # Only de421.bsp (valid 1900-2050) is read from skyfield-data; its warning about its
    # (unused) Earth-orientation file having expired is irrelevant here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        path = skyfield_data.get_skyfield_data_path()
    return Loader(path, verbose=False, expire=False)


@functools.cache
def timescale():
    """skyfield's built-in timescale (leap seconds and Delta T shipped with skyfield)."""
    return _loader().timescale(builtin=True)


@functools.cache
def ephemeris():
    """JPL DE421 from the installed ``skyfield-data`` package (never downloaded)."""
    loader = _loader()
    path = os.path.join(loader.directory, "de421.bsp")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} missing: reinstall the skyfield-data package")
    kernel = loader("de421.bsp")
    atexit.register(kernel.close)  # the kernel keeps its file open while in use
    return kernel


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _times(start: datetime, offsets_s: np.ndarray):
    s = _utc(start)
    return timescale().utc(s.year, s.month, s.day, s.hour, s.minute,
                           s.second + s.microsecond * 1e-6 + np.asarray(offsets_s, dtype=float))


def sun_synchronous_inclination_deg(altitude_km: float) -> float:
    """Inclination (deg) whose J2 nodal precession follows the mean Sun, circular orbit.

    dOmega/dt = -3/2 J2 (R_E/a)^2 n cos i = 2 pi / tropical year (Vallado, Fundamentals of
    Astrodynamics and Applications, 4th ed. 2013, nodal regression by J2).
    """
    a = _EARTH_EQUATORIAL_RADIUS_KM + altitude_km
    n = math.sqrt(_MU_KM3_S2 / a**3)
    cos_i = -(2.0 * math.pi / _TROPICAL_YEAR_S) / (1.5 * _J2 * (_EARTH_EQUATORIAL_RADIUS_KM / a)
                                                   ** 2 * n)
    if cos_i < -1.0:
        raise InvalidParameter("altitude_km", altitude_km, "too high for a sun-synchronous orbit")
    return math.degrees(math.acos(cos_i))


def raan_for_ltan_deg(ltan_h: float, epoch: datetime) -> float:
    """RAAN (deg) that puts the ascending node at local solar time ``ltan_h`` at ``epoch``."""
    check_range("ltan_h", ltan_h, low=0.0, high=24.0)
    eph = ephemeris()
    try:
        ra, _, _ = eph["earth"].at(_times(epoch, np.array(0.0))).observe(eph["sun"]).radec()
    except EphemerisRangeError as exc:
        raise InvalidParameter("epoch", epoch.isoformat(), str(exc)) from None
    return float((ra.hours * 15.0 + (ltan_h - 12.0) * 15.0) % 360.0)


def satellite_from_elements(altitude_km: float = 500.0, inclination_deg: float | None = None,
                            raan_deg: float = 0.0, epoch: datetime = DEFAULT_EPOCH, *,
                            mean_anomaly_deg: float = 0.0, eccentricity: float = 1e-4,
                            name: str = "euroqci-sat") -> EarthSatellite:
    """A near-circular satellite from orbital elements, propagated by SGP4 (WGS-72).

    ``inclination_deg`` None means sun-synchronous (:func:`sun_synchronous_inclination_deg`).
    Altitude is above the equatorial radius (a = 6378.135 km + altitude).
    """
    check_range("altitude_km", altitude_km, low=150.0, high=40_000.0)
    check_range("eccentricity", eccentricity, low=0.0, high=0.1)
    if inclination_deg is None:
        inclination_deg = sun_synchronous_inclination_deg(altitude_km)
    check_range("inclination_deg", inclination_deg, low=0.0, high=180.0)
    for angle, value in (("raan_deg", raan_deg), ("mean_anomaly_deg", mean_anomaly_deg)):
        # any finite angle (wrapped below); NaN or inf would only fail deep inside the spline
        check_range(angle, value, low=-math.inf, high=math.inf, low_inclusive=False,
                    high_inclusive=False)
    a = _EARTH_EQUATORIAL_RADIUS_KM + altitude_km
    n_rad_per_min = math.sqrt(_MU_KM3_S2 / a**3) * 60.0
    days = (_utc(epoch) - _SGP4_EPOCH).total_seconds() / 86400.0
    sat = Satrec()
    sat.sgp4init(WGS72, "i", 99999, days, 0.0, 0.0, 0.0, eccentricity, 0.0,
                 math.radians(inclination_deg), math.radians(mean_anomaly_deg), n_rad_per_min,
                 math.radians(raan_deg % 360.0))
    satellite = EarthSatellite.from_satrec(sat, timescale())
    satellite.name = name
    return satellite


def satellite_from_tle(line1: str, line2: str, name: str | None = None) -> EarthSatellite:
    """A satellite from a two-line element set."""
    try:
        sat = EarthSatellite(line1.strip(), line2.strip(), name, timescale())
    except (ValueError, IndexError) as exc:
        raise InvalidParameter(
            "tle", line1.strip()[:20] + "...", f"not a valid TLE ({exc})"
        ) from exc
    if sat.model.error:
        raise InvalidParameter("tle", line1.strip()[:20] + "...", "SGP4 cannot propagate it")
    return sat


@dataclass(frozen=True)
class SatelliteTrack:
    """A satellite's Earth-fixed position, splined over [start, start + days]."""

    start: datetime
    duration_s: float
    spline: CubicSpline = field(repr=False)
    knot_positions_km: np.ndarray = field(repr=False)

    def itrs_km(self, t_s: np.ndarray) -> np.ndarray:
        """ITRS position (km), shape (n, 3), at ``t_s`` seconds after start."""
        return self.spline(t_s)

    def knots(self) -> tuple[np.ndarray, np.ndarray]:
        """The propagated samples covering [0, duration] (one more at each end): times (s)
        and ITRS positions (km)."""
        t, xyz = self.spline.x, self.knot_positions_km
        step = t[1] - t[0]
        keep = (t >= -step) & (t <= self.duration_s + step)
        return t[keep], xyz[keep]


def satellite_track(satellite: EarthSatellite, start: datetime, days: float = 1.0,
                    step_s: float = COARSE_STEP_S) -> SatelliteTrack:
    """Propagate once (vectorised SGP4) on a ``step_s`` grid and spline the ITRS position."""
    check_range("days", days, low=0.0, low_inclusive=False, high=366.0)
    duration = days * 86400.0
    t_s = np.arange(-2 * step_s, duration + 3 * step_s, step_s)
    xyz = _earth_fixed_km(satellite, start, t_s)
    return SatelliteTrack(_utc(start), duration, CubicSpline(t_s, xyz), xyz)


def _earth_fixed_km(satellite: EarthSatellite, start: datetime, t_s: np.ndarray) -> np.ndarray:
    """SGP4 TEME positions rotated to the Earth-fixed frame by GMST-1982, shape (n, 3).

    The TEME -> pseudo-Earth-fixed rotation of Vallado et al., AIAA 2006-6753 (polar motion,
    ~10 m, neglected); done here on raw arrays because skyfield's general frame machinery
    is ~30x slower for the ~10^5 epochs of a month-long track.
    """
    s = _utc(start)
    jd, fr = jday(s.year, s.month, s.day, s.hour, s.minute, s.second + s.microsecond * 1e-6)
    err, r, _ = satellite.model.sgp4_array(np.full(t_s.shape, jd), fr + t_s / 86400.0)
    if np.any(err):
        raise InvalidParameter("satellite", satellite.name, "SGP4 propagation failed (decayed?)")
    t = _times(start, t_s)
    theta, _ = theta_GMST1982(t.whole, t.ut1_fraction)
    c, sn = np.cos(theta), np.sin(theta)
    return np.stack((c * r[:, 0] + sn * r[:, 1], -sn * r[:, 0] + c * r[:, 1], r[:, 2]), axis=-1)


@dataclass(frozen=True, eq=False)
class Pass:
    """One pass above the elevation mask, sampled every ``times_s`` (s from ``start``)."""

    start: datetime
    end: datetime
    duration_s: float
    max_elevation_deg: float
    night: bool
    times_s: np.ndarray = field(repr=False)
    elevation_deg: np.ndarray = field(repr=False)
    range_km: np.ndarray = field(repr=False)
    sun_altitude_deg: float = float("nan")


def overhead_pass(start: datetime, *, altitude_km: float = 500.0,
                  half_duration_s: int = 221) -> Pass:
    """An idealised pass straight over the station, sampled every second.

    Circular orbit over a spherical Earth (radius 6371 km, G M from G = 6.67430e-11 and
    M = 5.9724e24 kg), as in SatQuMA's reference geometry (Sidhu et al., "Finite key
    effects in satellite quantum key distribution", npj Quantum Inf. 8, 18, 2022); the pass
    spans ``2 * half_duration_s`` seconds centred on the zenith.
    """
    check_range("altitude_km", altitude_km, low=0.0, low_inclusive=False)
    r_e, r_s = 6371e3, (6371.0 + altitude_km) * 1e3
    omega = np.sqrt(6.67430e-11 * 5.9724e24 / r_s**3)
    t = np.arange(-float(half_duration_s), half_duration_s + 1.0)
    d = r_s * np.stack([0 * t, np.sin(omega * t), np.cos(omega * t)], -1) - [0, 0, r_e]
    rng = np.linalg.norm(d, axis=-1)
    return Pass(start, start, 2.0 * half_duration_s, 90.0, True, t - t[0],
                np.degrees(np.arcsin(d[:, 2] / rng)), rng / 1e3)


def _station(lat_deg: float, lon_deg: float, altitude_m: float) -> tuple[np.ndarray, np.ndarray]:
    check_range("lat_deg", lat_deg, low=-90.0, high=90.0)
    check_range("lon_deg", lon_deg, low=-180.0, high=360.0)
    pos = wgs84.latlon(lat_deg, lon_deg, elevation_m=altitude_m).itrs_xyz.km
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    up = np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
    return pos, up


def _elevation_range(track: SatelliteTrack | np.ndarray, t_s: np.ndarray, pos: np.ndarray,
                     up: np.ndarray):
    xyz = track if isinstance(track, np.ndarray) else track.itrs_km(t_s)
    d = xyz - pos
    rng = np.linalg.norm(d, axis=-1)
    return np.degrees(np.arcsin(np.clip(d @ up / rng, -1.0, 1.0))), rng


def sun_altitude_deg(lat_deg: float, lon_deg: float, moments: list[datetime]) -> np.ndarray:
    """Geometric altitude of the Sun (deg) seen from the station at each moment (vectorised)."""
    if not moments:
        return np.zeros(0)
    eph = ephemeris()
    t = _times(moments[0], np.array([(m - moments[0]).total_seconds() for m in moments]))
    try:
        sun = (eph["sun"] - eph["earth"]).at(t).frame_xyz(itrs).km.T
    except EphemerisRangeError as exc:
        raise InvalidParameter("start", moments[0].isoformat(), str(exc)) from None
    _, up = _station(lat_deg, lon_deg, 0.0)
    return np.degrees(np.arcsin(sun @ up / np.linalg.norm(sun, axis=-1)))


def passes_from_track(track: SatelliteTrack, lat_deg: float, lon_deg: float, *,
                      min_elevation_deg: float = 10.0, night_only: bool = False,
                      station_altitude_m: float = 0.0, sun_altitude_limit_deg: float = -12.0,
                      sample_step_s: float = 1.0) -> list[Pass]:
    """Passes of a precomputed :class:`SatelliteTrack` over one station (cheap per station).

    ``night`` means the Sun is below ``sun_altitude_limit_deg`` at the station at
    culmination (-12 deg: nautical twilight has ended; use -6 for high latitudes in summer).
    """
    check_range("min_elevation_deg", min_elevation_deg, low=0.0, high=89.0)
    check_range("sample_step_s", sample_step_s, low=0.01, high=60.0)
    check_range("lat_deg", lat_deg, low=-90.0, high=90.0)
    check_range("lon_deg", lon_deg, low=-180.0, high=360.0)
    # Dead Sea shore to the highest observatories (a station 1e9 m down saw one endless pass)
    check_range("station_altitude_m", station_altitude_m, low=-500.0, high=9000.0)
    pos, up = _station(lat_deg, lon_deg, station_altitude_m)
    t_coarse, xyz_coarse = track.knots()
    step = t_coarse[1] - t_coarse[0]
    el_coarse, _ = _elevation_range(xyz_coarse, t_coarse, pos, up)
    above = el_coarse > min_elevation_deg - 1.0  # a low pass's peak moves < 1 deg in a step
    edges = np.flatnonzero(np.diff(np.concatenate(([0], above.astype(np.int8), [0]))))
    passes = []
    for i0, i1 in zip(edges[::2], edges[1::2], strict=True):
        t_fine = np.arange(max(t_coarse[i0] - step, 0.0),
                           min(t_coarse[i1 - 1] + step, track.duration_s), sample_step_s)
        el, rng = _elevation_range(track, t_fine, pos, up)
        ok = el >= min_elevation_deg
        if ok.sum() < 2:
            continue
        j0, j1 = np.flatnonzero(ok)[[0, -1]]
        t_rise = _crossing(t_fine, el, j0 - 1, j0, min_elevation_deg)
        t_set = _crossing(t_fine, el, j1, j1 + 1, min_elevation_deg)
        t_s = np.concatenate(([t_rise], t_fine[j0:j1 + 1], [t_set]))
        el_s, rng_s = _elevation_range(track, t_s, pos, up)
        passes.append((t_rise, t_set, t_s, el_s, rng_s, t_fine[np.argmax(el)]))
    culminations = [track.start + timedelta(seconds=float(p[5])) for p in passes]
    sun = sun_altitude_deg(lat_deg, lon_deg, culminations)
    out = []
    for (t_rise, t_set, t_s, el_s, rng_s, _), sun_alt in zip(passes, sun, strict=True):
        night = bool(sun_alt < sun_altitude_limit_deg)
        if night_only and not night:
            continue
        out.append(Pass(start=track.start + timedelta(seconds=float(t_rise)),
                        end=track.start + timedelta(seconds=float(t_set)),
                        duration_s=float(t_set - t_rise), max_elevation_deg=float(el_s.max()),
                        night=night, times_s=t_s - t_rise, elevation_deg=el_s, range_km=rng_s,
                        sun_altitude_deg=float(sun_alt)))
    return out


def _crossing(t: np.ndarray, el: np.ndarray, a: int, b: int, level: float) -> float:
    """Time at which elevation crosses ``level`` between samples a and b (linear)."""
    if a < 0:
        return float(t[b])
    if b >= len(t):
        return float(t[a])
    return float(t[a] + (level - el[a]) * (t[b] - t[a]) / (el[b] - el[a]))


def find_passes(satellite: EarthSatellite, lat_deg: float, lon_deg: float, start: datetime,
                days: float = 1.0, min_elevation_deg: float = 10.0, night_only: bool = False,
                station_altitude_m: float = 0.0, *, sun_altitude_limit_deg: float = -12.0,
                sample_step_s: float = 1.0) -> list[Pass]:
    """Passes of ``satellite`` over a station within ``days`` after ``start`` (UTC)."""
    track = satellite_track(satellite, start, days)
    return passes_from_track(track, lat_deg, lon_deg, min_elevation_deg=min_elevation_deg,
                             night_only=night_only, station_altitude_m=station_altitude_m,
                             sun_altitude_limit_deg=sun_altitude_limit_deg,
                             sample_step_s=sample_step_s)


def ground_track(satellite: EarthSatellite, start: datetime, duration_s: float,
                 step_s: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Sub-satellite geodetic latitude and longitude (deg, WGS-84), every ``step_s``."""
    check_range("duration_s", duration_s, low=0.0)
    check_range("step_s", step_s, low=0.01, low_inclusive=False)
    position = satellite.at(_times(start, np.arange(0.0, duration_s + step_s / 2, step_s)))
    lat, lon = wgs84.latlon_of(position)
    return lat.degrees, lon.degrees
