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


def tau(n: int, mu: np.ndarray, p: np.ndarray) -> np.ndarray:
    """tau_n = sum_k p_k exp(-mu_k) mu_k**n / n! (probability an n-photon pulse was sent)."""
    fact = float(np.prod(np.arange(1, n + 1)))
    return np.sum(p * np.exp(-mu) * mu**n, axis=-1) / fact


def hoeffding(total: np.ndarray, eps: float | None) -> np.ndarray:
    """Hoeffding deviation sqrt(total/2 ln(1/eps)); zero when eps is None (asymptotic)."""
    if eps is None:
        return np.zeros_like(np.asarray(total, dtype=float))
    return np.sqrt(np.maximum(total, 0.0) / 2.0 * np.log(1.0 / eps))


def _bounds_pm(mu, p, counts, delta):
    """(e^k/p_k)(counts_k -/+ delta): lower and upper expected counts, Lim Eq. (2)."""
    scale = np.exp(mu) / p
    d = np.asarray(delta)[..., None]
    return scale * (counts - d), scale * (counts + d)


def gamma(eps: float, b: np.ndarray, c: np.ndarray, d: np.ndarray, const: float) -> np.ndarray:
    """Random-sampling correction of the phase error, Lim 2014 Eq. (5) (const = 21)."""
    b = np.clip(b, 1e-15, 0.5)
    c = np.maximum(c, 1.0)
    d = np.maximum(d, 1.0)
    arg = (c + d) / (c * d * (1.0 - b) * b) * (const / eps) ** 2
    return np.sqrt((c + d) * (1.0 - b) * b / (c * d * LN2) * np.log2(np.maximum(arg, 1.0)))


def two_decoy_bounds(mu, p, n, m, eps):
    """Lim 2014 Eqs. (2)-(4) for one basis: (s0_lower, s1_lower, v1_upper).

    mu, p: (..., 3); n, m: detections and errors per intensity (..., 3) in that basis.
    eps: per-term error eps_sec/21, or None (asymptotic).
    """
    mu1, mu2, mu3 = mu[..., 0], mu[..., 1], mu[..., 2]
    n_lo, n_hi = _bounds_pm(mu, p, n, hoeffding(n.sum(-1), eps))
    m_lo, m_hi = _bounds_pm(mu, p, m, hoeffding(m.sum(-1), eps))
    t0, t1 = tau(0, mu, p), tau(1, mu, p)
    s0 = np.maximum(t0 * (mu2 * n_lo[..., 2] - mu3 * n_hi[..., 1]) / (mu2 - mu3), 0.0)
    s1 = (
        t1
        * mu1
        * (
            n_lo[..., 1]
            - n_hi[..., 2]
            - (mu2**2 - mu3**2) / mu1**2 * (n_hi[..., 0] - s0 / t0)
        )
        / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
    )
    v1 = t1 * (m_hi[..., 1] - m_lo[..., 2]) / (mu2 - mu3)
    return s0, np.maximum(s1, 0.0), v1


def one_decoy_bounds(mu, p, n, m, eps):
    """Rusca 2018 Eqs. (A16)-(A22) for one basis: (s0_lower, s1_lower, v1_upper).

    mu, p: (..., 2); n, m per intensity (..., 2). The vacuum upper bound (A16) uses the
    errors of the decoy mu2 (the choice of intensity there is ambiguous in the paper).
    """
    mu1, mu2 = mu[..., 0], mu[..., 1]
    dn = hoeffding(n.sum(-1), eps)
    dm = hoeffding(m.sum(-1), eps)
    n_lo, n_hi = _bounds_pm(mu, p, n, dn)
    m_lo, m_hi = _bounds_pm(mu, p, m, dm)
    t0, t1 = tau(0, mu, p), tau(1, mu, p)
    s0_up = 2.0 * (t0 * np.exp(mu2) / p[..., 1] * (m[..., 1] + dm) + dn)
    s0_lo = np.maximum(t0 / (mu1 - mu2) * (mu1 * n_lo[..., 1] - mu2 * n_hi[..., 0]), 0.0)
    s1 = (
        t1
        * mu1
        / (mu2 * (mu1 - mu2))
        * (
            n_lo[..., 1]
            - (mu2 / mu1) ** 2 * n_hi[..., 0]
            - (mu1**2 - mu2**2) / mu1**2 * s0_up / t0
        )
    )
    v1 = t1 / (mu1 - mu2) * (m_hi[..., 0] - m_lo[..., 1])
    return s0_lo, np.maximum(s1, 0.0), v1


def key_length(
    mu, p, n_x, m_x, n_z, m_z, *, eps_sec, eps_cor, ec_leak_bits, method, finite=True
) -> dict[str, np.ndarray]:
    """Secret key length (bits) and the bounds behind it; Lim Eq. (1) / Rusca Eq. (A25).

    With ``finite=False`` counts are expectations and the result is the asymptotic key
    (no deviations, no gamma, no eps terms, no rounding).
    """
    if method == "lim2014":
        const, bounds = 21.0, two_decoy_bounds
    else:
        const, bounds = 19.0, one_decoy_bounds
    eps = eps_sec / const if finite else None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s_x0, s_x1, _ = bounds(mu, p, n_x, m_x, eps)
        _, s_z1, v_z1 = bounds(mu, p, n_z, m_z, eps)
        ratio = np.where(s_z1 > 0, np.maximum(v_z1, 0.0) / s_z1, 0.5)
        phi = ratio + gamma(eps_sec, ratio, s_z1, s_x1, const) if finite else ratio
        phi = np.where(np.isfinite(phi), phi, 0.5)
        ell = s_x0 + s_x1 * (1.0 - binary_entropy(np.minimum(phi, 0.5))) - ec_leak_bits
        if finite:
            ell = np.floor(ell - 6.0 * np.log2(const / eps_sec) - np.log2(2.0 / eps_cor))
        ok = (phi < 0.5) & (s_x1 > 0) & (s_z1 > 0) & np.isfinite(ell)
        ell = np.where(ok, np.maximum(ell, 0.0), 0.0)
    return {
        "length_bits": ell,
        "s_x0": s_x0,
        "s_x1": s_x1,
        "s_z1": s_z1,
        "v_z1": v_z1,
        "phase_error_upper": np.minimum(phi, 0.5),
    }
