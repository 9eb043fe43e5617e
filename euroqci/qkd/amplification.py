"""Privacy amplification by (modified) Toeplitz hashing, computed exactly with a real FFT.

The extractor is the modified Toeplitz family of Hayashi and Tsurumaru (IEEE Trans. Inf.
Theory 62, 2213, 2016): for an ``n``-bit input split as ``x = (x1, x2)`` with ``x2`` the last
``m`` bits, ``y = T x1 xor x2`` where ``T`` is the ``m x (n - m)`` Toeplitz matrix of an
``(n - 1)``-bit uniform seed ``s`` (``T[i, j] = s[i - j + n - m - 1]``). It is 2-universal,
so the leftover hash lemma applies (Tomamichel et al., IEEE Trans. Inf. Theory 57, 5524,
2011), and needs a circular convolution of length only ``n - 1`` instead of ``n + m - 1``.

Exactness: the integer convolution is computed with float64 FFTs and rounded. Every call
evaluates the a-priori error bound of Percival (Math. Comp. 72, 387, 2003, Thm. 5.1),
``|err| <= ||x1||_2 ||s||_2 * ((1+e)^(3L) (1+e*sqrt5)^(3L+1) (1+b)^(3L) - 1)`` with
``L = ceil(log2 N)``, unit roundoff ``e = 2^-53`` and twiddle error ``b`` (taken as ``8e``);
proved for radix-2 transforms, we apply it to pocketfft's mixed radices as an estimate
(~7e-6 at n = 10^8). When it is not below 1/4 the input is split into column slices whose
partial sums are each exact (never needed below ~10^9 bits). A residual check (every value
within 1/4 of an integer before rounding) guards against any violation at run time.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from euroqci.errors import InvalidParameter
from euroqci.qkd._jit import njit

_UNIT_ROUNDOFF = 2.0**-53
_TWIDDLE_ERROR = 8 * _UNIT_ROUNDOFF
_MAX_ERROR = 0.25


def seed_length_bits(n_in: int) -> int:
    """Length of the uniform seed for one modified-Toeplitz hash of ``n_in`` input bits."""
    return max(n_in - 1, 0)


def fft_error_bound(norm2_x: float, norm2_s: float, fft_length: int) -> float:
    """Percival's (2003, Thm. 5.1) bound on the max error of an FFT convolution (float64)."""
    levels = max(1, math.ceil(math.log2(max(fft_length, 2))))
    log_growth = (
        3 * levels * math.log1p(_UNIT_ROUNDOFF)
        + (3 * levels + 1) * math.log1p(_UNIT_ROUNDOFF * math.sqrt(5.0))
        + 3 * levels * math.log1p(_TWIDDLE_ERROR)
    )
    return norm2_x * norm2_s * math.expm1(log_growth)


@njit
def _round_parity(conv, start, m, out):
    """out ^= parity(rint(conv[start : start + m])); returns the largest rounding residual."""
    worst = 0.0
    for i in range(m):
        value = conv[start + i]
        nearest = np.rint(value)
        residual = abs(value - nearest)
        if residual > worst:
            worst = residual
        out[i] ^= np.uint8(np.int64(nearest) & 1)
    return worst


def _convolution_parity(x1: np.ndarray, seed: np.ndarray, m: int, workers: int,
                        out: np.ndarray) -> None:
    """``out ^= T x1 mod 2`` via one circular convolution of length >= n - 1."""
    cols = x1.size
    length = scipy.fft.next_fast_len(cols + m - 1, real=True)
    spectrum = scipy.fft.rfft(seed.astype(np.float64), length, workers=workers)
    spectrum *= scipy.fft.rfft(x1.astype(np.float64), length, workers=workers)
    conv = scipy.fft.irfft(spectrum, length, workers=workers, overwrite_x=True)
    del spectrum
    residual = _round_parity(conv, cols - 1, m, out)
    if residual >= _MAX_ERROR:  # pragma: no cover - guarded by the a-priori bound
        raise ArithmeticError(f"FFT rounding residual {residual:.3g} too large for exactness")


def toeplitz_hash(
    bits: np.ndarray, seed: np.ndarray, n_out: int, *, workers: int = 1
) -> np.ndarray:
    """Hash ``bits`` (uint8 0/1, length n) to ``n_out`` bits with the modified Toeplitz seed.

    ``seed`` is uint8 0/1 of length :func:`seed_length_bits` ``(n)``; only its first
    ``n - 1`` bits are read (the matrix uses ``n - m + m - 1`` of them). Exact for any n.
    """
    bits = np.asarray(bits, dtype=np.uint8)
    seed = np.asarray(seed, dtype=np.uint8)
    n = bits.size
    if not 0 <= n_out <= n:
        raise InvalidParameter("n_out", n_out, f"must be in [0, {n}] (the input length)")
    if seed.size < seed_length_bits(n):
        raise InvalidParameter("seed", f"{seed.size} bits", f"needs {seed_length_bits(n)} bits")
    if n_out == 0:
        return np.zeros(0, dtype=np.uint8)
    cols = n - n_out
    x1, x2 = bits[:cols], bits[cols:]
    if cols == 0:
        return x2.copy()
    # T[i, j] = s[i - j + cols - 1] uses s[0 : cols + n_out - 1]
    used_seed = seed[: cols + n_out - 1]
    norm_s = math.sqrt(int(np.count_nonzero(used_seed)))
    length = scipy.fft.next_fast_len(cols + n_out - 1, real=True)
    # split the columns until each slice's partial sums are provably exact
    slices = 1
    while fft_error_bound(math.sqrt(cols / slices), norm_s, length) >= _MAX_ERROR:
        slices *= 2
    result = x2.copy()
    step = -(-cols // slices)
    for start in range(0, cols, step):
        stop = min(start + step, cols)
        # columns start..stop-1 of T form the Toeplitz matrix of s[cols - stop :]
        sub_seed = used_seed[cols - stop : cols - start + n_out - 1]
        _convolution_parity(x1[start:stop], sub_seed, n_out, workers, result)
    return result


def random_seed(n_in: int, rng: np.random.Generator) -> np.ndarray:
    """A uniform seed (uint8 0/1) for hashing ``n_in`` bits; Alice draws it, Bob receives it."""
    n_bits = seed_length_bits(n_in)
    raw = np.frombuffer(rng.bytes(-(-n_bits // 8)), dtype=np.uint8)
    return np.unpackbits(raw)[:n_bits]
