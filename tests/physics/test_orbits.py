"""Orbits and passes: offline data, sun-synchronous orbits, pass search against skyfield."""

import socket
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import skyfield.iokit
from sgp4.exporter import export_tle
from skyfield.api import wgs84

from euroqci.errors import InvalidParameter
from euroqci.physics import orbits
from euroqci.physics.freespace import slant_range_km
from euroqci.physics.orbits import (
    find_passes,
    ground_track,
    raan_for_ltan_deg,
    satellite_from_elements,
    satellite_from_tle,
    sun_synchronous_inclination_deg,
)

START = datetime(2025, 6, 21, tzinfo=UTC)
MATERA = (40.649, 16.705)  # ASI Matera Laser Ranging Observatory


@pytest.fixture(scope="module")
def sat():
    # 500 km dusk-dawn-ish sun-synchronous orbit, ascending node at 22:30 local solar time.
    return satellite_from_elements(500.0, None, raan_for_ltan_deg(22.5, START), START)


def test_everything_runs_offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(skyfield.iokit, "download", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    orbits.ephemeris().close()
    for cached in (orbits._loader, orbits.timescale, orbits.ephemeris):
        cached.cache_clear()
    satellite = satellite_from_elements(500.0, None, raan_for_ltan_deg(22.5, START), START)
    passes = find_passes(satellite, *MATERA, START, days=1)
    assert passes and all(np.isfinite(p.sun_altitude_deg) for p in passes)


def test_sun_synchronous_inclination():
    # J2 nodal precession = 360 deg / tropical year. Sentinel-1: 693 km, 98.18 deg (ESA
    # Sentinel-1 User Handbook, 2013); a 500 km orbit: 97.4 deg (e.g. Micius, Liao
    # et al., Nature 549, 43, 2017: "sun-synchronous orbit at an altitude of ~500 km").
    assert sun_synchronous_inclination_deg(693.0) == pytest.approx(98.18, abs=0.05)
    assert sun_synchronous_inclination_deg(500.0) == pytest.approx(97.40, abs=0.05)
    with pytest.raises(InvalidParameter):
        sun_synchronous_inclination_deg(10_000.0)


def test_passes_agree_with_skyfield_find_events(sat):
    # Independent search: skyfield's EarthSatellite.find_events + altaz (full frame chain).
    passes = find_passes(sat, *MATERA, START, days=2, min_elevation_deg=10.0)
    site = wgs84.latlon(*MATERA)
    ts = orbits.timescale()
    t, events = sat.find_events(site, ts.from_datetime(START),
                                ts.from_datetime(START.replace(day=23)), altitude_degrees=10.0)
    rises = [ti.utc_datetime() for ti, e in zip(t, events, strict=True) if e == 0]
    sets = [ti.utc_datetime() for ti, e in zip(t, events, strict=True) if e == 2]
    culminations = [ti for ti, e in zip(t, events, strict=True) if e == 1]
    assert len(passes) == len(rises) == len(sets) >= 3
    for p, rise, set_, culm in zip(passes, rises, sets, culminations, strict=True):
        assert abs((p.start - rise).total_seconds()) < 1.0
        assert abs((p.end - set_).total_seconds()) < 1.0
        alt, _, _ = (sat - site).at(culm).altaz()
        assert p.max_elevation_deg == pytest.approx(alt.degrees, abs=0.05)


def test_sun_altitude_agrees_with_skyfield_apparent_altaz(sat):
    # Night flag input, checked against skyfield's full chain (light time, aberration,
    # nutation): observe(sun).apparent().altaz() without refraction; tolerance 0.05 deg.
    eph, ts = orbits.ephemeris(), orbits.timescale()
    site = eph["earth"] + wgs84.latlon(*MATERA)
    for p in find_passes(sat, *MATERA, START, days=2, min_elevation_deg=0.0):
        culm = p.start + timedelta(seconds=float(p.times_s[np.argmax(p.elevation_deg)]))
        alt, _, _ = site.at(ts.from_datetime(culm)).observe(eph["sun"]).apparent().altaz()
        assert p.sun_altitude_deg == pytest.approx(alt.degrees, abs=0.05)


def test_pass_samples_are_consistent(sat):
    for p in find_passes(sat, *MATERA, START, days=1, min_elevation_deg=10.0):
        assert p.duration_s == pytest.approx(p.times_s[-1] - p.times_s[0])
        assert (p.end - p.start).total_seconds() == pytest.approx(p.duration_s, abs=1e-3)
        assert np.all(np.diff(p.times_s) > 0)
        assert p.elevation_deg.min() == pytest.approx(10.0, abs=0.01)
        # spherical-Earth slant range (a - 6371 km = 507 km) vs SGP4 on WGS-84: within 2 %
        np.testing.assert_allclose(p.range_km, slant_range_km(p.elevation_deg, 507.0),
                                   rtol=0.02)


def test_pass_plausibility_500_km(sat):
    # Longest pass above 10 deg (overhead): the orbit arc 2*lambda, with the Earth-central
    # angle lambda = 90 - e - asin(R cos e / (R + h)) = 14.2 deg, over the period
    # 2 pi sqrt(a^3/mu) = 94.6 min: 447 s (+-3 % for Earth rotation). Several passes a day.
    lam = 80.0 - np.degrees(np.arcsin(6371.0 * np.cos(np.radians(10.0)) / 6878.0))
    longest = 2 * lam / 360.0 * 2 * np.pi * np.sqrt(6878.135**3 / 398600.8)
    assert longest == pytest.approx(447.0, abs=2.0)
    week = find_passes(sat, *MATERA, START, days=7, min_elevation_deg=10.0)
    assert 15 <= len(week) <= 35
    durations = np.array([p.duration_s for p in week])
    assert durations.max() < 1.03 * longest and durations.min() > 0.0
    overhead = [p.duration_s for p in week if p.max_elevation_deg > 85.0]
    assert overhead and min(overhead) > 0.95 * longest
    assert max(p.max_elevation_deg for p in week) > 60.0
    night = find_passes(sat, *MATERA, START, days=7, min_elevation_deg=10.0, night_only=True)
    assert night and {p.start for p in night} <= {p.start for p in week}
    assert all(p.night and p.sun_altitude_deg < -12.0 for p in night)


def test_helsinki_has_no_astronomical_night_at_midsummer(sat):
    # 60.17 N at the June solstice: the Sun sinks at most 90 - 60.17 - 23.44 = 6.4 deg below
    # the horizon, so no pass is "night" at the -12 deg limit, and none is below -6.4 deg.
    passes = find_passes(sat, 60.170, 24.938, START, days=2)
    assert passes and not any(p.night for p in passes)
    assert min(p.sun_altitude_deg for p in passes) > -6.5


def test_tle_round_trip(sat):
    line1, line2 = export_tle(sat.model)
    again = satellite_from_tle(line1, line2, name="again")
    a = find_passes(sat, *MATERA, START, days=1)
    b = find_passes(again, *MATERA, START, days=1)
    assert len(a) == len(b)
    for pa, pb in zip(a, b, strict=True):
        assert abs((pa.start - pb.start).total_seconds()) < 2.0


def test_bad_tle_is_rejected():
    with pytest.raises(InvalidParameter, match="tle"):
        satellite_from_tle("1 garbage", "2 garbage")


def test_ground_track(sat):
    lat, lon = ground_track(sat, START, 6000.0, 30.0)
    assert lat.shape == lon.shape == (201,)
    inclination = sun_synchronous_inclination_deg(500.0)
    assert np.abs(lat).max() <= 180.0 - inclination + 0.3   # 82.6 deg for i = 97.4 deg
    assert np.abs(lat).max() > 80.0                         # one orbit reaches the limit
    assert np.all(np.abs(lon) <= 180.0)


def test_window_starting_mid_pass(sat):
    whole = find_passes(sat, *MATERA, START, days=1)[0]
    begin = whole.start + timedelta(seconds=60)
    (cut,) = find_passes(sat, *MATERA, begin, days=0.002)  # 173 s, shorter than a pass
    assert cut.start == begin and cut.elevation_deg[0] > 10.0
    assert cut.duration_s == pytest.approx(min(172.8, whole.duration_s - 60), abs=1.0)
