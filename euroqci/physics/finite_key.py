"""Decoy-state bounds on vacuum and single-photon events, finite-size and asymptotic.

Pure array functions: the last axis indexes the intensities (signal first, decreasing), the
leading axes broadcast over links. ``X`` is the key basis and ``Z`` the test basis throughout
(Rusca et al. call their key basis Z; we rename so both bounds read the same).

- Two decoys (three intensities mu1 > mu2 + mu3, mu2 > mu3 >= 0): Lim, Curty, Walenta, Xu,
  Zbinden, PRA 89, 022307 (2014), Eqs. (1)-(5) and App. B (eps_sec = 21 eps).
- One decoy (mu1 > mu2 > 0): Rusca, Boaron, Gruenenfelder, Martin, Zbinden, APL 112, 171104
  (2018), App. A, Eqs. (A16)-(A25) (eps_sec = 19 eps).

With ``eps=None`` the Hoeffding deviations vanish and the same formulas give the asymptotic
(infinite-data) bounds on expected counts; then the phase error has no gamma correction.
"""

from __future__ import annotations

import numpy as np

from euroqci.physics.bounds import binary_entropy

LN2 = np.log(2.0)


def lastsum(x: np.ndarray) -> np.ndarray:
    """Sum over the (short) last axis; slice additions beat a strided numpy reduction."""
    total = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        total += x[..., k]
    return total


def tau(n: int, mu: np.ndarray, p: np.ndarray) -> np.ndarray:
    """tau_n = sum_k p_k exp(-mu_k) mu_k**n / n! (probability an n-photon pulse was sent)."""
    fact = float(np.prod(np.arange(1, n + 1)))
    return lastsum(p * np.exp(-mu) * mu**n) / fact


def hoeffding(total: np.ndarray, eps: float | None) -> np.ndarray:
    """Hoeffding deviation sqrt(total/2 ln(1/eps)); zero when eps is None (asymptotic)."""
    if eps is None:
        return np.zeros_like(np.asarray(total, dtype=float))
    return np.sqrt(np.maximum(total, 0.0) / 2.0 * np.log(1.0 / eps))


def _scaled_pm(scale, counts, delta):
    """(e^k/p_k)(counts_k -/+ delta): lower/upper expected counts over tau, Lim Eq. (2)."""
    d = np.asarray(delta)[..., None]
    return scale * (counts - d), scale * (counts + d)


def gamma(eps: float, b: np.ndarray, c: np.ndarray, d: np.ndarray, const: float) -> np.ndarray:
    """Random-sampling correction of the phase error, Lim 2014 Eq. (5) (const = 21)."""
    b = np.clip(b, 1e-15, 0.5)
    c = np.maximum(c, 1.0)
    d = np.maximum(d, 1.0)
    arg = (c + d) / (c * d * (1.0 - b) * b) * (const / eps) ** 2
    return np.sqrt((c + d) * (1.0 - b) * b / (c * d * LN2) * np.log2(np.maximum(arg, 1.0)))


def two_decoy_yields(mu, g_lo, g_hi, e_lo, e_hi):
    """Lim 2014 Eqs. (2)-(4) divided by tau_n: (Y0 lower, Y1 lower, e1*Y1 upper).

    g_lo/g_hi: lower/upper gains e^k (n_k -/+ delta)/p_k per intensity (..., 3);
    e_lo/e_hi: the same for errors. Asymptotically g = e^k Q_k exactly, and these are the
    vacuum+weak bounds of Ma et al. PRA 72, 012326 (2005), Eqs. (34)-(37), when mu3 = 0.
    """
    mu1, mu2, mu3 = mu[..., 0], mu[..., 1], mu[..., 2]
    y0 = np.maximum((mu2 * g_lo[..., 2] - mu3 * g_hi[..., 1]) / (mu2 - mu3), 0.0)
    y1 = (
        mu1
        * (g_lo[..., 1] - g_hi[..., 2] - (mu2**2 - mu3**2) / mu1**2 * (g_hi[..., 0] - y0))
        / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
    )
    ey1 = (e_hi[..., 1] - e_lo[..., 2]) / (mu2 - mu3)
    return y0, np.maximum(y1, 0.0), ey1


def one_decoy_yields(mu, g_lo, g_hi, e_lo, e_hi, vacuum_slack=0.0):
    """Rusca 2018 Eqs. (A16)-(A22) divided by tau_n: (Y0 lower, Y1 lower, e1*Y1 upper).

    The vacuum upper bound (A16), 2 [e^mu2 (m_mu2 + delta_m)/p_mu2 + delta_n/tau0], uses the
    errors of the decoy mu2 (which intensity enters is ambiguous in the paper);
    ``vacuum_slack`` is delta_n/tau0 (zero asymptotically).
    """
    mu1, mu2 = mu[..., 0], mu[..., 1]
    y0_up = 2.0 * (e_hi[..., 1] + vacuum_slack)
    y0 = np.maximum((mu1 * g_lo[..., 1] - mu2 * g_hi[..., 0]) / (mu1 - mu2), 0.0)
    y1 = (
        mu1
        / (mu2 * (mu1 - mu2))
        * (g_lo[..., 1] - (mu2 / mu1) ** 2 * g_hi[..., 0] - (mu1**2 - mu2**2) / mu1**2 * y0_up)
    )
    ey1 = (e_hi[..., 0] - e_lo[..., 1]) / (mu1 - mu2)
    return y0, np.maximum(y1, 0.0), ey1


def basis_bounds(mu, p, n, m, eps, method, scale=None, taus=None):
    """Finite-size counts for one basis: (s0 lower, s1 lower, v1 upper), Lim/Rusca.

    ``scale`` = e^mu/p and ``taus`` = (tau0, tau1) may be passed when already computed.
    """
    dn = hoeffding(lastsum(n), eps)
    dm = hoeffding(lastsum(m), eps)
    scale = np.exp(mu) / p if scale is None else scale
    g_lo, g_hi = _scaled_pm(scale, n, dn)
    e_lo, e_hi = _scaled_pm(scale, m, dm)
    t0, t1 = (tau(0, mu, p), tau(1, mu, p)) if taus is None else taus
    if method == "lim2014":
        y0, y1, ey1 = two_decoy_yields(mu, g_lo, g_hi, e_lo, e_hi)
    else:
        y0, y1, ey1 = one_decoy_yields(mu, g_lo, g_hi, e_lo, e_hi, dn / t0)
    return t0 * y0, t1 * y1, t1 * ey1


def key_length(
    mu, p, n_x, m_x, n_z, m_z, *, eps_sec, eps_cor, ec_leak_bits, method, finite=True
) -> dict[str, np.ndarray]:
    """Secret key length (bits) and the bounds behind it; Lim Eq. (1) / Rusca Eq. (A25).

    With ``finite=False`` counts are expectations and the result is the asymptotic key
    (no deviations, no gamma, no eps terms, no rounding).
    """
    const = 21.0 if method == "lim2014" else 19.0
    eps = eps_sec / const if finite else None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale, taus = np.exp(mu) / p, (tau(0, mu, p), tau(1, mu, p))
        s_x0, s_x1, _ = basis_bounds(mu, p, n_x, m_x, eps, method, scale, taus)
        _, s_z1, v_z1 = basis_bounds(mu, p, n_z, m_z, eps, method, scale, taus)
        # the events of a basis cannot outnumber its detections (matters only for data
        # that the Poisson model does not fit; keeps ell <= n_X)
        n_x_tot, n_z_tot = lastsum(n_x), lastsum(n_z)
        s_x0 = np.minimum(s_x0, n_x_tot)
        s_x1 = np.minimum(s_x1, n_x_tot - s_x0)
        s_z1 = np.minimum(s_z1, n_z_tot)
        ratio = np.where(s_z1 > 0, np.maximum(v_z1, 0.0) / s_z1, 0.5)
        phi = ratio + gamma(eps_sec, ratio, s_z1, s_x1, const) if finite else ratio
        phi = np.where(np.isfinite(phi), phi, 0.5)
        ell = s_x0 + s_x1 * (1.0 - binary_entropy(np.minimum(phi, 0.5))) - ec_leak_bits
        if finite:
            ell = np.floor(ell - 6.0 * np.log2(const / eps_sec) - np.log2(2.0 / eps_cor))
        ok = (phi < 0.5) & (s_x1 > 0) & (s_z1 > 0) & np.isfinite(ell)
        raw = np.where(np.isfinite(ell), ell, -np.inf)
        ell = np.where(ok, np.maximum(ell, 0.0), 0.0)
    return {
        "length_bits": ell,
        "raw_bits": raw,
        "s_x0": s_x0,
        "s_x1": s_x1,
        "s_z1": s_z1,
        "v_z1": v_z1,
        "phase_error_upper": np.minimum(phi, 0.5),
    }
