"""Decoy-state BB84 secret key rates with optimised free parameters, for many links at once.

Asymptotic (rate per pulse, sifting factor q = 1 for efficient and 1/2 for symmetric BB84):

- ``decoys="infinite"``: GLLP with exact single-photon yield and error (Gottesman, Lo,
  Luetkenhaus, Preskill, QIC 4, 325, 2004; Ma, Qi, Zhao, Lo, PRA 72, 012326, 2005, Eq. 1):
  R = q [Q_1 (1 - h(e_1)) - f Q_mu h(E_mu)], Y_1 = Y0 + eta, e_1 = (Y0/2 + e_d eta)/Y_1.
- ``decoys="vacuum+weak"``: Ma et al. 2005 Sec. V B bounds (signal mu, weak nu, vacuum).
- ``decoys="2"``: the three-intensity bound of Lim et al. PRA 89, 022307 (2014) without
  fluctuations (mu1 > mu2 + mu3, mu3 = ``vacuum_intensity``), vacuum events counted.
- ``decoys="1"``: the one-decoy bound of Rusca et al. APL 112, 171104 (2018) without
  fluctuations, vacuum events counted.

Asymptotically the decoys cost nothing (their probability tends to 0) and the best weak
decoy intensity tends to 0; ``min_decoy_intensity`` keeps it at a realisable value.

Finite key (``block_size`` = n_X sifted key-basis bits per block): Lim 2014 for
``decoys="2"`` and Rusca 2018 for ``decoys="1"`` with the expected counts of
:func:`~euroqci.physics.bb84.expected_decoy_counts`; the number of pulses per block is
N = n_X / (p_x**2 sum_k p_k P_det,k) and the rate is ell/N per pulse.

Optimisation is hand-written because it must be vectorised over links: a fixed quasi-random
(Sobol) start set for every link, then a per-link compass (pattern) search with shrinking
steps in the unit box of the free parameters; every step is one numpy evaluation over
(links x candidates). A scipy.optimize loop per link would be ~1000 x slower.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc

from euroqci.errors import InvalidParameter, check_range
from euroqci.physics.bounds import binary_entropy
from euroqci.physics.detection import detection_probabilities
from euroqci.physics.finite_key import (
    key_length,
    lastsum,
    one_decoy_yields,
    two_decoy_yields,
)
from euroqci.physics.link import LinkParameters

DECOYS = ("infinite", "vacuum+weak", "2", "1")
REPRESENTATIVES = 256  # links that see the full start set when there are many


@dataclass(frozen=True)
class KeyRate:
    """Secret key rate of one or many links (arrays shaped like ``link.loss_db``).

    rate_per_pulse: secret bits per emitted pulse; rate_bps: secret bits per second
    (rate_per_pulse x rep_rate_hz); qber: error rate of the key-basis signal (asymptotic) or
    of the whole key basis (finite key); parameters: the optimal free parameters by name
    (mu1, mu2, mu3: intensities; p1, p2, p3: their probabilities; q_x: key-basis
    probability, finite key; sifting_factor q, asymptotic) and, for finite key,
    ``pulses_per_block`` (pulses sent per block of n_X).
    """

    rate_per_pulse: np.ndarray
    rate_bps: np.ndarray
    qber: np.ndarray
    parameters: dict[str, np.ndarray]


@dataclass(frozen=True)
class _Space:
    """Free parameters in the unit box and how they map to the physical ones."""

    names: tuple[str, ...]
    to_params: Callable[[np.ndarray], dict[str, np.ndarray]]


def _lin(u, lo, hi):
    return lo + (hi - lo) * u


def _space(decoys, finite, sifting, vacuum_intensity, min_decoy):
    free_q = finite and sifting == "efficient"
    names = ["mu1"]
    if decoys != "infinite":
        names.append("r2")
    if finite:
        names += ["p1"] + (["r_p2"] if decoys == "2" else [])
    if free_q:
        names.append("q_x")

    def to_params(u):
        d = dict(zip(names, np.moveaxis(u, -1, 0), strict=True))
        mu1 = _lin(d["mu1"], 0.02 if finite else max(0.01, 2.5 * min_decoy), 1.2)
        out = {"mu1": mu1}
        if decoys == "vacuum+weak" or decoys == "2":
            mu3 = 0.0 if decoys == "vacuum+weak" else vacuum_intensity
            lo2 = mu3 + (1e-3 if finite else min_decoy)
            out["mu2"] = lo2 + _lin(d["r2"], 0.0, 0.95) * (mu1 - mu3 - lo2)
            out["mu3"] = np.full_like(mu1, mu3)
        elif decoys == "1":
            lo2 = 1e-3 if finite else min_decoy
            out["mu2"] = lo2 + _lin(d["r2"], 0.0, 0.95) * (mu1 - lo2)
        if finite:
            p1 = _lin(d["p1"], 0.01, 0.98)
            if decoys == "2":
                p2 = (1.0 - p1) * _lin(d["r_p2"], 0.02, 0.98)
                out.update(p1=p1, p2=p2, p3=1.0 - p1 - p2)
            else:
                out.update(p1=p1, p2=1.0 - p1)
            out["q_x"] = _lin(d["q_x"], 0.05, 0.995) if free_q else np.full_like(mu1, 0.5)
        else:  # asymptotic: the sifting factor itself (efficient: q_x -> 1)
            out["sifting_factor"] = np.full_like(mu1, 1.0 if sifting == "efficient" else 0.5)
        return out

    return _Space(tuple(names), to_params)


def _stack(params, keys):
    return np.stack([params[k] for k in keys], axis=-1)


def _asymptotic(params, eta, link, decoys, count_vacuum):
    """Raw asymptotic rate per pulse (may be negative) and signal QBER; shapes (L, C)."""
    det, f = link.detector, link.ec_efficiency
    q = params["sifting_factor"]
    mu1 = params["mu1"]
    if decoys == "infinite":
        mus = mu1[..., None]
    else:
        keys = ("mu1", "mu2", "mu3") if decoys != "1" else ("mu1", "mu2")
        mus = _stack(params, keys)
    signal_only = np.zeros(mus.shape[-1])
    signal_only[0] = 1.0  # asymptotically every pulse is a signal (dead time counts them)
    gains, errs = detection_probabilities(
        eta[..., None], det, mus, signal_only, rep_rate_hz=link.rep_rate_hz
    )
    qber = errs[..., 0] / gains[..., 0]
    leak = f * gains[..., 0] * binary_entropy(qber)
    if decoys == "infinite":
        # exact single-photon yield and error (Ma 2005 Eqs. 7-8), with the same afterpulse
        # and dead-time factors as the measured gains
        dead = (
            gains[..., 0]
            / detection_probabilities(eta[..., None], det, mus, signal_only)[0][..., 0]
        )
        eta_sys, y0, ap = eta * det.efficiency, det.background_yield, det.afterpulse_prob
        y1 = (y0 + eta_sys) * (1.0 + ap) * dead
        ey1 = (0.5 * y0 + det.misalignment * eta_sys + 0.5 * ap * (y0 + eta_sys)) * dead
        y0 = y0 * (1.0 + ap) * dead
    else:
        g = np.exp(mus) * gains
        e = np.exp(mus) * errs
        if decoys == "1":
            y0, y1, ey1 = one_decoy_yields(mus, g, g, e, e)
        else:
            y0, y1, ey1 = two_decoy_yields(mus, g, g, e, e)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.where(y1 > 0, np.maximum(ey1, 0.0) / y1, 0.5)
    e1 = np.minimum(e1, 0.5)
    if not count_vacuum:  # Ma et al. 2005 Eq. (1) counts no vacuum events
        y0 = np.zeros_like(y0)
    raw = q * (np.exp(-mu1) * y0 + mu1 * np.exp(-mu1) * y1 * (1.0 - binary_entropy(e1)) - leak)
    # no key: rank by the key fraction per detection instead (see _finite)
    raw = np.where(raw > 0, raw, raw / (q * gains[..., 0]))
    return raw, qber, None


def _finite(params, eta, link, decoys, block_size, eps_sec, eps_cor):
    """Raw finite-key rate per pulse (ell/N, may be negative) and key-basis QBER."""
    keys = ("mu1", "mu2", "mu3") if decoys == "2" else ("mu1", "mu2")
    mus = _stack(params, keys)
    ps = _stack(params, ("p1", "p2", "p3") if decoys == "2" else ("p1", "p2"))
    det, err = detection_probabilities(
        eta[..., None], link.detector, mus, ps, rep_rate_hz=link.rep_rate_hz
    )
    q_x = params["q_x"]
    det_w, err_w = ps * det, ps * err
    det_sum = lastsum(det_w)
    n_pulses = block_size / (q_x**2 * det_sum)
    n_x = (block_size / det_sum)[..., None] * det_w  # q_x**2 cancels
    m_x = (block_size / det_sum)[..., None] * err_w
    ratio = (((1.0 - q_x) / q_x) ** 2)[..., None]
    n_z, m_z = n_x * ratio, m_x * ratio
    qber = lastsum(err_w) / det_sum
    leak = link.ec_efficiency * block_size * binary_entropy(qber)
    method = "lim2014" if decoys == "2" else "rusca2018"
    out = key_length(
        mus,
        ps,
        n_x,
        m_x,
        n_z,
        m_z,
        eps_sec=eps_sec,
        eps_cor=eps_cor,
        ec_leak_bits=leak,
        method=method,
    )
    # no key: the (negative) key fraction per sifted bit guides the search towards a key;
    # per pulse it would favour ever fewer detections (raw/N -> 0 from below)
    raw = np.where(
        out["length_bits"] > 0,
        out["length_bits"] / n_pulses,
        np.minimum(out["raw_bits"], -1.0) / block_size,
    )
    return raw, qber, n_pulses


def compass_search(objective, dim, n_links, n_start, n_iter, step0=0.06, tol=2e-4, order=None):
    """Vectorised compass search in [0, 1]^dim; returns the best u, shape (L, dim).

    ``objective(u, idx)`` scores candidates u (len(idx), C, dim) of the links ``idx`` (all
    links when idx is None). With ``order`` (links sorted by a physical neighbourhood, e.g.
    transmittance), each link then also tries its neighbours' optima and refines them
    again, which pulls stragglers out of poorer local optima.
    """
    sobol = qmc.Sobol(dim, scramble=True, rng=np.random.default_rng(20140227)).random(n_start)
    if order is not None and n_links > 8 * REPRESENTATIVES:
        # many links: the full start set only on ~REPRESENTATIVES links spread along
        # ``order``; every link then starts from its representative's best and 8 points
        stride = n_links // REPRESENTATIVES
        reps = order[::stride]
        rv = objective(np.broadcast_to(sobol, (reps.size, n_start, dim)), reps)
        rep_best = sobol[np.argmax(rv, axis=1)]
        rank = np.empty(n_links, dtype=int)
        rank[order] = np.arange(n_links)
        near = rep_best[np.minimum(rank // stride, reps.size - 1)]
        starts = np.concatenate(
            [near[:, None, :], np.broadcast_to(sobol[:8], (n_links, 8, dim))], 1
        )
    else:
        starts = np.broadcast_to(sobol, (n_links, n_start, dim))
    vals = objective(starts)
    best_i = np.argmax(vals, axis=1)
    u = starts[np.arange(n_links), best_i]
    best = vals[np.arange(n_links), best_i]
    step = np.full(n_links, step0)
    _refine(objective, u, best, step, n_iter, tol)
    if order is None or n_links < 2:
        return u
    for _ in range(4):  # neighbour sweeps
        rank = np.empty(n_links, dtype=int)
        rank[order] = np.arange(n_links)
        lo = order[np.maximum(rank - 1, 0)]
        hi = order[np.minimum(rank + 1, n_links - 1)]
        cand = np.stack([u[lo], u[hi]], axis=1)
        cv = objective(cand)
        j = np.argmax(cv, axis=1)
        gain = cv[np.arange(n_links), j] > best * (1 + 1e-9) + 1e-300
        if not gain.any():
            break
        u[gain] = cand[gain, j[gain]]
        best[gain] = cv[gain, j[gain]]
        step[:] = 0.0
        step[gain] = 0.02
        _refine(objective, u, best, step, n_iter // 2, tol)
    return u


def _refine(objective, u, best, step, n_iter, tol):
    """Compass steps in place on the links whose step is above ``tol``."""
    dim = u.shape[1]
    dirs = np.concatenate([np.eye(dim), -np.eye(dim)])
    for _ in range(n_iter):
        active = step > tol
        if not active.any():
            break
        idx = np.flatnonzero(active)
        cand = np.clip(u[idx, None, :] + step[idx, None, None] * dirs, 0.0, 1.0)
        cv = objective(cand, idx)
        j = np.argmax(cv, axis=1)
        improved = cv[np.arange(idx.size), j] > best[idx]
        better = idx[improved]
        u[better] = cand[improved, j[improved]]
        best[better] = cv[improved, j[improved]]
        step[idx[~improved]] *= 0.5


def secret_key_rate(
    link: LinkParameters,
    *,
    decoys: str = "2",
    block_size: float | None = None,
    eps_sec: float = 1e-9,
    eps_cor: float = 1e-15,
    vacuum_intensity: float = 2e-4,
    min_decoy_intensity: float = 0.01,
    count_vacuum: bool | None = None,
) -> KeyRate:
    """Optimised decoy-state BB84 secret key rate for every loss in ``link.loss_db``.

    Args:
        link: link parameters (``loss_db`` scalar or array; detector; f; rep rate; sifting).
        decoys: "infinite" | "vacuum+weak" | "2" | "1" (see the module docstring).
        block_size: n_X, sifted key-basis bits per post-processing block; None = asymptotic.
            Finite key needs decoys "2" (Lim 2014) or "1" (Rusca 2018).
        eps_sec, eps_cor: secrecy and correctness parameters of the finite-key bound.
        vacuum_intensity: mu3 of the two-decoy protocol (Lim 2014 use 2e-4).
        min_decoy_intensity: lower limit of the weak decoy intensity (asymptotic only).
        count_vacuum: add the vacuum events exp(-mu) Y0 to the asymptotic key (default: no
            for "infinite" and "vacuum+weak" as in Ma et al. 2005, yes for "2" and "1" as
            in Lim 2014 / Rusca 2018; finite keys always count them).

    Returns:
        :class:`KeyRate`, arrays shaped like ``link.loss_db``; never negative or NaN.
    """
    if decoys not in DECOYS:
        raise InvalidParameter("decoys", decoys, "one of " + ", ".join(DECOYS))
    finite = block_size is not None
    if finite:
        check_range("block_size", block_size, low=1.0)
        if decoys not in ("2", "1"):
            raise InvalidParameter("decoys", decoys, "2 or 1 when a block size is given")
        check_range("eps_sec", eps_sec, low=0.0, high=1.0, low_inclusive=False)
        check_range("eps_cor", eps_cor, low=0.0, high=1.0, low_inclusive=False)
    check_range("vacuum_intensity", vacuum_intensity, low=0.0, high=0.01)
    check_range("min_decoy_intensity", min_decoy_intensity, low=1e-4, high=0.2)
    if count_vacuum is None:
        count_vacuum = decoys in ("2", "1")
    shape = np.shape(link.loss_db)
    eta_all = np.ravel(link.channel_transmittance)
    space = _space(decoys, finite, link.sifting, vacuum_intensity, min_decoy_intensity)

    def evaluate(u, idx=None):
        eta = eta_all if idx is None else eta_all[idx]
        params = space.to_params(u)
        if finite:
            return _finite(params, eta[:, None], link, decoys, float(block_size), eps_sec, eps_cor)
        return _asymptotic(params, eta[:, None], link, decoys, count_vacuum)

    def objective(u, idx=None):
        with np.errstate(all="ignore"):
            raw = evaluate(u, idx)[0]
        return np.where(np.isfinite(raw), raw, -np.inf)

    dim = len(space.names)
    n_start = 8 if dim == 1 else 2 ** int(np.ceil(np.log2(16 * dim)))  # Sobol: powers of 2
    u = compass_search(
        objective, dim, eta_all.size, n_start, 25 + 12 * dim, order=np.argsort(eta_all)
    )
    with np.errstate(all="ignore"):
        raw, qber, n_pulses = evaluate(u[:, None, :])
    rate = np.where(np.isfinite(raw[:, 0]), np.maximum(raw[:, 0], 0.0), 0.0)
    params = {k: v[:, 0].reshape(shape) for k, v in space.to_params(u[:, None, :]).items()}
    if n_pulses is not None:
        params["pulses_per_block"] = n_pulses[:, 0].reshape(shape)
    rate = rate.reshape(shape)
    return KeyRate(
        rate_per_pulse=rate,
        rate_bps=rate * link.rep_rate_hz,
        qber=np.nan_to_num(qber[:, 0], nan=0.5).reshape(shape),
        parameters=params,
    )
