"""Continuous-variable QKD: GG02 (Gaussian-modulated coherent states), asymptotic.

Grosshans, Grangier, PRL 88, 057902 (2002); security against collective attacks with
reverse reconciliation (Holevo bound) and trusted detector noise as in Lodewyck et al.,
PRA 76, 042305 (2007), Sec. V and App., and Laudenbach et al., Adv. Quantum Technol. 1,
1800011 (2018), Sec. 4. All variances in shot-noise units (SNU).

K = beta I_AB - chi_BE bits per symbol, with V = V_A + 1,
chi_line = 1/T - 1 + xi, chi_hom = (1 - eta + v_el)/eta, chi_het = (2 - eta + 2 v_el)/eta,
chi_tot = chi_line + chi_det/T, I_AB = (1/2) log2((V + chi_tot)/(1 + chi_tot)) (homodyne;
twice that for heterodyne), chi_BE from the symplectic eigenvalues lambda_1..4 (lambda_5 = 1).
``excess_noise`` xi is referred to the channel input (Alice's output). Valid while the key
is above ~1e-12 bits per symbol (the rounding floor of the entropy difference; beyond
~100 dB of loss the result is 0).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from euroqci.errors import InvalidParameter, check_range
from euroqci.physics.fiber import transmittance
from euroqci.physics.link import finite_nonnegative
from euroqci.physics.optimise import KeyRate, compass_search


def _g(nu: np.ndarray) -> np.ndarray:
    """Von Neumann entropy of a thermal mode with symplectic eigenvalue nu >= 1 (bits)."""
    x = np.maximum((nu - 1.0) / 2.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (x + 1.0) * np.log2(x + 1.0) - np.where(x > 0, x * np.log2(x), 0.0)
    return np.nan_to_num(s)


def _pair(c: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Square roots of the two roots of z^2 - c z + d = 0."""
    disc = np.sqrt(np.maximum(c**2 - 4.0 * d, 0.0))
    return np.sqrt(np.maximum((c + disc) / 2.0, 1.0)), np.sqrt(np.maximum((c - disc) / 2.0, 1.0))


def gg02_key_fraction(
    modulation_variance: ArrayLike,
    channel_transmittance: ArrayLike,
    excess_noise: ArrayLike = 0.01,
    *,
    detector_efficiency: float = 0.6,
    electronic_noise: float = 0.05,
    reconciliation_efficiency: float = 0.95,
    detection: str = "homodyne",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, I_AB, chi_BE) in bits per symbol, may be negative; Lodewyck 2007 Eqs. for RR."""
    v = np.asarray(modulation_variance, dtype=float) + 1.0
    t = np.asarray(channel_transmittance, dtype=float)
    eta, vel = detector_efficiency, electronic_noise
    with np.errstate(divide="ignore", invalid="ignore"):
        chi_line = 1.0 / t - 1.0 + np.asarray(excess_noise, dtype=float)
        hom = detection == "homodyne"
        chi_det = (1.0 - eta + vel) / eta if hom else (2.0 - eta + 2.0 * vel) / eta
        chi_tot = chi_line + chi_det / t
        i_ab = (0.5 if hom else 1.0) * np.log2((v + chi_tot) / (1.0 + chi_tot))
        a = v**2 * (1.0 - 2.0 * t) + 2.0 * t + t**2 * (v + chi_line) ** 2
        b = t**2 * (v * chi_line + 1.0) ** 2
        sb = np.sqrt(b)
        if hom:
            c = (v * sb + t * (v + chi_line) + a * chi_det) / (t * (v + chi_tot))
            d = sb * (v + sb * chi_det) / (t * (v + chi_tot))
        else:
            c = (
                a * chi_det**2
                + b
                + 1.0
                + 2.0 * chi_det * (v * sb + t * (v + chi_line))
                + 2.0 * t * (v**2 - 1.0)
            ) / (t * (v + chi_tot)) ** 2
            d = ((v + sb * chi_det) / (t * (v + chi_tot))) ** 2
        l1, l2 = _pair(a, b)
        l3, l4 = _pair(c, d)
        g = (_g(l1), _g(l2), _g(l3), _g(l4))
        chi_be = g[0] + g[1] - g[2] - g[3]
        k = reconciliation_efficiency * i_ab - chi_be
        # K is a difference of O(1-10) bit entropies: below ~1e-12 of their size it is
        # rounding noise (very high loss), and counts as no key
        tol = 1e-12 * (1.0 + i_ab + g[0] + g[1] + g[2] + g[3])
        k = np.where(k > tol, k, np.minimum(k, -tol))
    return np.where(np.isfinite(k), k, -np.inf), i_ab, chi_be


def gg02_key_rate(
    loss_db: ArrayLike,
    *,
    excess_noise: float = 0.01,
    detector_efficiency: float = 0.6,
    electronic_noise: float = 0.05,
    reconciliation_efficiency: float = 0.95,
    detection: str = "homodyne",
    symbol_rate_hz: float = 1e8,
    modulation_variance: float | None = None,
) -> KeyRate:
    """Asymptotic GG02 reverse-reconciliation key rate; V_A optimised in [0.1, 100] SNU
    per link unless ``modulation_variance`` is given.

    ``rate_per_pulse`` is bits per symbol (clamped at 0), ``qber`` is NaN (no bit errors
    in CV-QKD); ``parameters`` holds ``modulation_variance`` (SNU) and ``snr``.
    """
    check_range("excess_noise", excess_noise, low=0.0, high=1.0)
    check_range("detector_efficiency", detector_efficiency, low=0.0, high=1.0, low_inclusive=False)
    check_range("electronic_noise", electronic_noise, low=0.0, high=10.0)
    check_range("reconciliation_efficiency", reconciliation_efficiency, low=0.0, high=1.0)
    check_range("symbol_rate_hz", symbol_rate_hz, low=0.0, low_inclusive=False)
    if detection not in ("homodyne", "heterodyne"):
        raise InvalidParameter("detection", detection, "one of homodyne, heterodyne")
    loss = finite_nonnegative("loss_db", loss_db, "dB")
    shape = loss.shape
    t_all = transmittance(loss).ravel()
    kwargs = dict(
        excess_noise=excess_noise,
        detector_efficiency=detector_efficiency,
        electronic_noise=electronic_noise,
        reconciliation_efficiency=reconciliation_efficiency,
        detection=detection,
    )

    def to_va(u):  # log-uniform 0.1 .. 100 SNU
        return 10.0 ** (-1.0 + 3.0 * u[..., 0])

    def objective(u, idx=slice(None)):
        return gg02_key_fraction(to_va(u), t_all[idx][:, None], **kwargs)[0]

    if modulation_variance is None:
        va = to_va(compass_search(objective, 1, t_all.size, 16, 40)[:, None, :])
    else:
        check_range("modulation_variance", modulation_variance, low=0.0, low_inclusive=False)
        va = np.full((t_all.size, 1), float(modulation_variance))
    k = gg02_key_fraction(va, t_all[:, None], **kwargs)[0][:, 0]
    k = np.where(np.isfinite(k), np.maximum(k, 0.0), 0.0).reshape(shape)
    eta_t = t_all * detector_efficiency
    snr = eta_t * va[:, 0] / (1.0 + eta_t * excess_noise + electronic_noise)
    return KeyRate(
        rate_per_pulse=k,
        rate_bps=k * symbol_rate_hz,
        qber=np.full(shape, np.nan),
        parameters={"modulation_variance": va[:, 0].reshape(shape), "snr": snr.reshape(shape)},
    )
