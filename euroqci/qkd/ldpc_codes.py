"""LDPC mother codes for reconciliation over the binary symmetric channel.

Degree distributions: Elkouss, Leverrier, Alleaume & Boutros, "Efficient reconciliation
protocol for discrete-variable quantum key distribution", ISIT 2009 (arXiv:0901.2140),
Table I: edge-perspective lambda(x) = sum lambda_i x^(i-1), rho(x) = sum rho_i x^(i-1),
optimised by density evolution for the BSC.

Construction (:mod:`euroqci.qkd._ldpc_construction`): codes up to
:data:`PEG_MAX_LENGTH` symbols are built directly by a depth-2 progressive-edge-growth
(PEG) style greedy placement; longer ones are quasi-cyclic lifts by a factor Z
(:func:`lifting_factor`) of such a PEG base graph of n/Z symbols with circulant shifts
chosen to leave no 4-cycle and few 6-cycles: a code of 2 x 10^5 symbols builds in ~2 s
instead of the > 6 min of the direct construction at 10^5. Built codes are cached in
process and on disk (:func:`cache_dir`), keyed by (n, rate, seed, CONSTRUCTION_VERSION).
"""

from __future__ import annotations

import functools
import os
import tempfile
import zipfile
from dataclasses import dataclass

import numpy as np

from euroqci.errors import InvalidParameter
from euroqci.qkd import _ldpc_construction as build

__all__ = [
    "CONSTRUCTION_VERSION",
    "DEGREE_DISTRIBUTIONS",
    "PEG_MAX_LENGTH",
    "LdpcCode",
    "build_ldpc_code",
    "cache_dir",
    "code_checks",
    "design_rate",
    "lifting_factor",
]

#: Bumped whenever the construction changes, so that cached codes are not reused.
CONSTRUCTION_VERSION = 3
#: Codes up to this length are built directly (PEG); longer ones are lifted.
PEG_MAX_LENGTH = 16_384
#: Smallest base graph of a lifted code (symbols): with ~4000 base symbols the greedy
#: shifts leave no 4-cycle at Z = 50 (n = 2 x 10^5); Z = 10 on 2000 left hundreds.
BASE_MIN_LENGTH = 4000
MAX_LIFTING_FACTOR = 1024
#: Cycles of up to this many degree-2 symbols are kept from lifting to low-weight codewords.
MAX_CYCLE_2 = 12


#: rate -> (lambda {degree i: lambda_i}, rho {degree i: rho_i}); ISIT 2009, Table I.
DEGREE_DISTRIBUTIONS: dict[float, tuple[dict[int, float], dict[int, float]]] = {
    0.9: ({2: 0.07689, 3: 0.28096, 5: 0.08933, 9: 0.19620, 12: 0.30631, 21: 0.05031},
          {50: 0.95025, 51: 0.04975}),
    0.85: ({2: 0.04528, 3: 0.20537, 4: 0.05878, 5: 0.094274, 6: 0.08454, 7: 0.01176,
            9: 0.05137, 21: 0.50015},
           {41: 0.54204, 42: 0.45795}),
    0.8: ({2: 0.09420, 3: 0.18088, 6: 0.11972, 7: 0.08550, 8: 0.09816, 17: 0.07194,
           26: 0.34960},
          {29: 0.58807, 30: 0.41193}),
    0.75: ({2: 0.10805, 3: 0.09511, 4: 0.01449, 5: 0.13764, 6: 0.10667, 7: 0.05288,
            28: 0.01107, 31: 0.47408},
           {25: 0.74161, 26: 0.25839}),
    0.7: ({2: 0.05343, 3: 0.29406, 6: 0.00896, 9: 0.15571, 12: 0.12189, 25: 0.19872,
           46: 0.09572, 62: 0.02741, 65: 0.04056, 73: 0.00354},
          {20: 0.76922, 21: 0.23077}),
    0.65: ({2: 0.10451, 3: 0.15652, 4: 0.08057, 5: 0.00056, 9: 0.12151, 13: 0.10485,
            15: 0.10719, 21: 0.00771, 51: 0.31656},
           {2: 0.000578, 15: 0.06089, 16: 0.47001, 21: 0.46852}),
    0.6: ({2: 0.11040, 3: 0.20804, 8: 0.14163, 9: 0.14858, 26: 0.14438, 27: 0.08909,
           46: 0.00748, 71: 0.15038},
          {2: 0.00036, 10: 0.13063, 13: 0.31068, 18: 0.49341, 19: 0.064915}),
    0.55: ({2: 0.16880, 3: 0.20994, 6: 0.18095, 15: 0.03846, 16: 0.02635, 18: 0.23454,
            19: 0.05815, 31: 0.08280},
           {10: 0.27631, 11: 0.72369}),
}


@dataclass(frozen=True)
class LdpcCode:
    """A binary LDPC code as a sparse parity-check matrix H (m x n), stored by checks.

    ``check_vars[check_ptr[c]:check_ptr[c+1]]`` are the variable nodes of check ``c``.
    ``rate`` = 1 - m/n (design rate; H has full rank with overwhelming probability).
    """

    n: int
    m: int
    check_ptr: np.ndarray
    check_vars: np.ndarray
    var_degree: np.ndarray
    design_rate: float

    @property
    def rate(self) -> float:
        return 1.0 - self.m / self.n

    @functools.cached_property
    def var_checks(self) -> tuple[np.ndarray, np.ndarray]:
        """H by variables: (var_ptr, checks), ``checks[var_ptr[v]:var_ptr[v + 1]]`` the
        checks of variable ``v`` in increasing order (computed once per code)."""
        by_var = np.argsort(self.check_vars, kind="stable")
        var_ptr = np.concatenate(([0], np.cumsum(np.bincount(self.check_vars,
                                                             minlength=self.n))))
        checks = np.repeat(np.arange(self.m), np.diff(self.check_ptr))[by_var]
        return var_ptr, checks

    def dense(self) -> np.ndarray:
        """H as a dense uint8 array (for tests on small codes)."""
        h = np.zeros((self.m, self.n), dtype=np.uint8)
        rows = np.repeat(np.arange(self.m), np.diff(self.check_ptr))
        h[rows, self.check_vars] = 1
        return h


def _variable_degrees(n: int, lam: dict[int, float]) -> np.ndarray:
    """Node degrees from the edge-perspective lambda: fraction of nodes ~ lambda_i / i."""
    degs = np.array(sorted(lam), dtype=np.int64)
    node_frac = np.array([lam[d] / d for d in degs])
    node_frac /= node_frac.sum()
    counts = np.floor(node_frac * n).astype(np.int64)
    rest = n - counts.sum()
    order = np.argsort(-(node_frac * n - counts))
    counts[order[:rest]] += 1
    return np.repeat(degs, counts)


def lifting_factor(n: int) -> int:
    """Z of the quasi-cyclic lift used for length ``n``: 1 (direct PEG) up to
    :data:`PEG_MAX_LENGTH`, else the largest divisor of ``n`` with n/Z >= BASE_MIN_LENGTH
    (and Z <= MAX_LIFTING_FACTOR); raises InvalidParameter if that leaves a base graph
    longer than PEG_MAX_LENGTH (``n`` without a suitable divisor)."""
    if n <= PEG_MAX_LENGTH:
        return 1
    for z in range(min(n // BASE_MIN_LENGTH, MAX_LIFTING_FACTOR), 1, -1):
        if n % z == 0 and n // z <= PEG_MAX_LENGTH:
            return z
    raise InvalidParameter("n", n, f"must be <= {PEG_MAX_LENGTH} or have a divisor Z <= "
                           f"{MAX_LIFTING_FACTOR} with {BASE_MIN_LENGTH} <= n/Z <= "
                           f"{PEG_MAX_LENGTH} (e.g. 10^5, 2 x 10^5)")


def design_rate(rate: float) -> float:
    """1 - (sum rho_i/i)/(sum lambda_i/i) of the tabulated distribution for ``rate``."""
    lam, rho = DEGREE_DISTRIBUTIONS[rate]
    return 1.0 - sum(r / i for i, r in rho.items()) / sum(v / i for i, v in lam.items())


def code_checks(n: int, rate: float) -> int:
    """Number of checks m of the length-``n`` code built for ``rate`` (without building it)."""
    z = lifting_factor(n)
    return z * int(round(n // z * (1.0 - design_rate(rate))))


def cache_dir() -> str:
    """Directory of the on-disk code cache: ``$EUROQCI_CACHE_DIR`` if set, else
    ``~/.cache/euroqci/ldpc``."""
    return os.environ.get("EUROQCI_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "euroqci", "ldpc")


def _cache_path(n: int, rate: float, seed: int) -> str:
    return os.path.join(cache_dir(),
                        f"ldpc-n{n}-r{rate:g}-s{seed}-v{CONSTRUCTION_VERSION}.npz")


def _load(path: str, n: int, m: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(check_ptr, check_vars) from a cache file, or None if missing or not a valid code
    of this size."""
    try:
        with open(path, "rb") as fh, np.load(fh) as f:
            ptr = f["check_ptr"].astype(np.int64)
            flat = f["check_vars"].astype(np.int64)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if (ptr.shape != (m + 1,) or ptr[0] != 0 or np.any(np.diff(ptr) < 0)
            or ptr[-1] != flat.size or flat.size == 0 or flat.min() < 0 or flat.max() >= n):
        return None
    return ptr, flat


def _store(path: str, ptr: np.ndarray, flat: np.ndarray) -> None:
    """Atomic write (temporary file + rename); a cache that cannot be written is skipped."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, check_ptr=ptr.astype(np.int32), check_vars=flat.astype(np.int32))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return


def _construct(n: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    z = lifting_factor(n)
    var_deg = _variable_degrees(n // z, DEGREE_DISTRIBUTIONS[rate][0])
    ptr, flat = build.peg_depth2(var_deg, code_checks(n, rate) // z, seed)
    if z == 1:
        return ptr, flat
    # every variable degree counts its 6-cycles (~1-2 s at n = 2 x 10^5); low degrees first
    shifts, _, _ = build.circulant_shifts(ptr, flat, np.argsort(var_deg, kind="stable"), z,
                                          int(var_deg.max()), MAX_CYCLE_2, seed + 1)
    return build.lift(ptr, flat, shifts, z)


@functools.lru_cache(maxsize=16)
def build_ldpc_code(n: int, rate: float, seed: int = 0) -> LdpcCode:
    """The mother code of length ``n`` and design rate ``rate`` (a key of
    :data:`DEGREE_DISTRIBUTIONS`), deterministic in (``n``, ``rate``, ``seed``); cached in
    process and on disk (a missing or corrupt cache file is rebuilt)."""
    if rate not in DEGREE_DISTRIBUTIONS:
        raise InvalidParameter("rate", rate, f"must be one of {sorted(DEGREE_DISTRIBUTIONS)}")
    if n < 200:
        raise InvalidParameter("n", n, "must be >= 200 bits")
    m = code_checks(n, rate)
    path = _cache_path(n, rate, seed)
    found = _load(path, n, m)
    if found is None:
        found = _construct(n, rate, seed)
        _store(path, *found)
    ptr, flat = found
    return LdpcCode(n=n, m=m, check_ptr=ptr, check_vars=flat,
                    var_degree=np.bincount(flat, minlength=n), design_rate=design_rate(rate))
