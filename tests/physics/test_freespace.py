"""Free-space downlink channel: geometry, diffraction, atmosphere, background."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euroqci.errors import InvalidParameter
from euroqci.physics.freespace import (
    DownlinkParameters,
    atmospheric_transmittance,
    background_counts_per_s,
    beam_transmittance,
    diffraction_transmittance,
    downlink_loss_db,
    slant_range_km,
    truncated_diffraction_transmittance,
    zenith_transmittance_for,
)

DATA = Path(__file__).parent.parent / "data"


def db(eta):
    return -10 * np.log10(eta)


def test_slant_range_limits_and_values():
    # Zenith: the altitude; horizon: the tangent sqrt((R+h)^2 - R^2) (pure geometry).
    assert slant_range_km(90.0, 500.0) == pytest.approx(500.0)
    assert slant_range_km(0.0, 500.0) == pytest.approx(np.sqrt(6871.0**2 - 6371.0**2))
    # h = 500 km, R = 6371 km (law of cosines); the ranges Liao et al. (Nature 549, 43, 2017)
    # quote for Micius (~500 km orbit): 645 km near culmination, 1200 km at ~20 deg.
    ranges = slant_range_km([90, 60, 45, 30, 20, 15, 10], 500.0)
    np.testing.assert_allclose(ranges, [500, 571, 683, 909, 1193, 1407, 1695], atol=1.0)
    # A station 1 km up sees the satellite 1 km closer at zenith.
    assert slant_range_km(90.0, 500.0, 1.0) == pytest.approx(499.0)


@given(st.floats(1.0, 89.0), st.floats(200.0, 2000.0))
@settings(max_examples=50, deadline=None)
def test_loss_rises_as_elevation_falls(elevation, altitude):
    params = DownlinkParameters()
    hi, lo = downlink_loss_db(np.array([elevation + 1.0, elevation]), altitude, params)
    assert np.isfinite(hi) and lo > hi > 0


@given(st.floats(200.0, 3000.0), st.floats(0.0, 10.0), st.booleans())
@settings(max_examples=30, deadline=None)
def test_collected_fraction_falls_with_range(range_km, jitter_urad, truncated):
    params = DownlinkParameters(pointing_jitter_urad=jitter_urad,
                                truncated_tx_aperture=truncated)
    near, far = beam_transmittance(np.array([range_km, 1.05 * range_km]), params)
    assert 1.0 > near > far > 0.0


def test_untruncated_diffraction_closed_form():
    # Gaussian beam w0 = 0.15 m, 810 nm, into a 0.6 m-radius receiver (SatQuMA v2.0.0 default
    # geometry, Sidhu et al., npj Quantum Inf. 8, 18, 2022): 1 - exp(-2 a_R^2 / w(L)^2),
    # w(L) = w0 sqrt(1 + (L/z_R)^2). Hand values: 2.13 / 5.04 / 8.10 / 9.90 dB.
    p = DownlinkParameters(
        wavelength_nm=810, tx_aperture_m=0.3, rx_aperture_m=1.2, pointing_jitter_urad=0.0
    )
    np.testing.assert_allclose(
        db(diffraction_transmittance([500, 800, 1200, 1500], p)),
        [2.13, 5.04, 8.10, 9.90],
        atol=0.01,
    )


def test_truncated_aperture_matches_satquma():
    # SatQuMA v2.0.0 channel/diffraction/diffraction.py `diffract(aT=0.15, aR=0.6, z, k, w0=0.15)`
    # at 810 nm (Fraunhofer integral, run by us): 4.33 / 7.89 / 11.22 / 13.10 dB at
    # 500 / 800 / 1200 / 1500 km; tolerance 0.02 dB.
    eta = truncated_diffraction_transmittance([500, 800, 1200, 1500], 0.15, 0.6, 0.15, 810)
    np.testing.assert_allclose(db(eta), [4.33, 7.89, 11.22, 13.10], atol=0.02)
    p = DownlinkParameters(
        wavelength_nm=810, tx_aperture_m=0.3, rx_aperture_m=1.2, truncated_tx_aperture=True
    )
    assert db(diffraction_transmittance(500, p)) == pytest.approx(4.33, abs=0.02)


def test_wide_aperture_recovers_far_field_gaussian():
    # With a_T = 4 w0 nothing is clipped: the Fraunhofer integral must equal the far-field
    # Gaussian 1 - exp(-2 a_R^2 / w_ff^2), w_ff = lambda L / (pi w0) (Siegman, Lasers, 1986).
    ranges = np.array([300.0, 700.0, 1500.0])
    w_ff = 810e-9 * ranges * 1e3 / (np.pi * 0.15)
    expected = -np.expm1(-2 * 0.6**2 / w_ff**2)
    got = truncated_diffraction_transmittance(ranges, 0.6, 0.6, 0.15, 810)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_pointing_jitter_widens_the_spot():
    # Long-term spot radius^2 = w^2 + 4 sigma^2 (sigma = jitter x range, per axis).
    base = DownlinkParameters(pointing_jitter_urad=0.0)
    jit = DownlinkParameters(pointing_jitter_urad=5.0)
    assert beam_transmittance(1000.0, jit) < beam_transmittance(1000.0, base)
    w2 = -2 * 0.5**2 / np.log1p(-diffraction_transmittance(1000.0, base))
    expected = -np.expm1(-2 * 0.5**2 / (w2 + 4 * (5e-6 * 1e6) ** 2))
    assert beam_transmittance(1000.0, jit) == pytest.approx(expected, rel=1e-9)


def test_atmosphere_against_modtran():
    # Clear-sky MODTRAN transmittance shipped with SatQuMA v2.0.0 (tests/data, source in its
    # header): Beer-Lambert with air mass 1/sin(e) and the MODTRAN zenith value stays within
    # 0.02 of it from 10 to 90 deg at 785, 850 and 1550 nm.
    table = np.genfromtxt(DATA / "satquma_modtran_clear_sky.csv", delimiter=",", names=True,
                          skip_header=3)
    sel = table["elevation_deg"] >= 10
    for column, wavelength in (("t_785nm", 785.0), ("t_850nm", 850.0), ("t_1550nm", 1550.0)):
        model = atmospheric_transmittance(
            table["elevation_deg"][sel], zenith_transmittance_for(wavelength)
        )
        np.testing.assert_allclose(model, table[column][sel], atol=0.02)


def test_atmosphere_edges():
    assert atmospheric_transmittance(0.0, 0.9) == 0.0
    assert atmospheric_transmittance(90.0, 0.9) == pytest.approx(0.9)
    with pytest.raises(InvalidParameter, match="wavelength_nm"):
        zenith_transmittance_for(1064.0)
    assert zenith_transmittance_for(1064.0, 0.93) == 0.93


def test_background_from_sky_radiance():
    # N = H * Omega * A * dlambda * eta / (h c / lambda) (Bonato et al., NJP 11, 045017, 2009):
    # by hand: H = 1e-6 W/m^2/sr/nm, 100 urad FOV (7.854e-9 sr), 1 m telescope (0.7854 m^2),
    # 1 nm filter, 850 nm photons (2.337e-19 J) -> 6.169e-15 W / 2.337e-19 J = 2.64e4 counts/s.
    n = background_counts_per_s(1e-6, 100.0, 1.0, 1.0, 850.0)
    assert n == pytest.approx(2.64e4, rel=0.01)
    p = DownlinkParameters(background_counts_per_s_night=500.0, gate_s=1e-9)
    assert p.background_prob_per_detector(True) == pytest.approx(2.5e-7)
    assert p.background_prob_per_detector(False) > p.background_prob_per_detector(True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rx_aperture_m": 0.0},
        {"wavelength_nm": -1.0},
        {"zenith_transmittance": 1.5},
        {"divergence_urad": 10.0, "truncated_tx_aperture": True},
        {"wavelength_nm": 1310.0},
    ],
)
def test_invalid_parameters(kwargs):
    with pytest.raises(InvalidParameter):
        DownlinkParameters(**kwargs)


def test_elevation_outside_range_rejected():
    with pytest.raises(InvalidParameter, match="elevation_deg"):
        downlink_loss_db(-5.0, 500.0, DownlinkParameters())
