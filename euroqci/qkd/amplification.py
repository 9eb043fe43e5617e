"""Privacy amplification by (modified) Toeplitz hashing, computed exactly with FFTs.

The extractor is the modified Toeplitz family of Hayashi and Tsurumaru (IEEE Trans. Inf.
Theory 62, 2213, 2016): for an ``n``-bit input split as ``x = (x1, x2)`` with ``x2`` the last
``m`` bits, ``y = T x1 xor x2`` where ``T`` is the ``m x (n - m)`` Toeplitz matrix of an
``(n - 1)``-bit uniform seed ``s`` (``T[i, j] = s[i - j + n - m - 1]``). It is 2-universal,
so the leftover hash lemma applies (Tomamichel et al., IEEE Trans. Inf. Theory 57, 5524,
2011), and needs a circular convolution of length only ``n - 1`` instead of ``n + m - 1``.

Speed: the real convolution of even length ``L`` runs as complex FFTs of ``h = L/2`` points
(the real sequence packed as ``a[2k] + i a[2k+1]``; split and re-packed around the spectral
product in one numba pass, the real-transform identity of Sorensen et al., IEEE Trans.
ASSP 35, 849, 1987), each computed by the four-step method (Bailey, J. Supercomputing 4,
23, 1990) as batches of ~sqrt(h)-point pocketfft transforms, which stay in cache and are
vectorised: ~3x faster than pocketfft's one real transform of ``L`` points at 10^7. The
seed's spectrum can be shared by both ends of an in-process link (:class:`SeedSpectra`;
each end still hashes its own key).

Exactness: the integer convolution is computed in float64 and rounded. Every call evaluates
the a-priori error bound of Percival (Math. Comp. 72, 387, 2003, Thm. 5.1),
``|err| <= ||x1||_2 ||s||_2 * ((1+e)^(3L) (1+e*sqrt5)^(3L+1) (1+b)^(3L) - 1)`` with
``L = ceil(log2 N)``, unit roundoff ``e = 2^-53`` and twiddle error ``b`` (taken as ``8e``);
proved for radix-2 transforms, we apply it to pocketfft's mixed radices as an estimate,
counting two extra levels for the four-step twiddles and the real split (tables of <= 3
ulp): ~8e-6 at n = 10^8. When it is not below 1/4 the input is split into column slices
whose partial sums are each exact (never needed below ~10^9 bits). A residual check (every
value within 1/4 of an integer before rounding) guards against any violation at run time.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np
import scipy.fft

from euroqci.errors import InvalidParameter
from euroqci.qkd._jit import njit

_UNIT_ROUNDOFF = 2.0**-53
_TWIDDLE_ERROR = 8 * _UNIT_ROUNDOFF
_MAX_ERROR = 0.25
_TWIDDLE_BITS = 11  # w^k = coarse[k >> 11] * fine[k & 2047]: two table reads, <= 3 ulp
_TWIDDLE_STEP = 1 << _TWIDDLE_BITS
_TWIDDLE_MASK = _TWIDDLE_STEP - 1


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


def _twos(n: int) -> int:
    """The exponent of 2 in ``n``."""
    return (n & -n).bit_length() - 1


@functools.lru_cache(maxsize=64)
def _grid(half_min: int) -> tuple[int, int]:
    """(n1, n2): a fast complex FFT size n1 * n2 >= ``half_min`` with sqrt / 4 <= n1 <=
    sqrt, for the four-step transform; among those splits, the one that leaves the most
    factors of 2 in both (pocketfft's radix-4/2 passes are its fastest: at 2·10^6 points
    1000 x 2000 takes 15.1 ms for both passes, 1250 x 1600 18.7 ms, measured)."""
    half = scipy.fft.next_fast_len(half_min)
    while True:
        root = math.isqrt(half)
        splits = [d for d in range(root, 0, -1) if half % d == 0 and 16 * d * d >= half]
        if splits:
            n1 = max(splits, key=lambda d: (min(_twos(d), _twos(half // d)), d))
            return n1, half // n1
        half = scipy.fft.next_fast_len(half + 1)


def convolution_length(n: int) -> int:
    """Even circular-convolution length >= ``n`` whose half is a fast four-step FFT size."""
    n1, n2 = _grid(max(1, -(-n // 2)))
    return 2 * n1 * n2


@functools.lru_cache(maxsize=8)
def _twiddles(length: int) -> tuple[np.ndarray, np.ndarray]:
    """exp(-2 pi i k / length), k < length, as a coarse table (multiples of the step) and a
    fine one (see :func:`_w`)."""
    fine = np.exp(-2j * np.pi * np.arange(_TWIDDLE_STEP) / length)
    coarse = np.exp(-2j * np.pi * np.arange(0, length + _TWIDDLE_STEP, _TWIDDLE_STEP) / length)
    return coarse, fine


@njit(inline="always")
def _w(coarse, fine, k):
    """w^k from the two tables of :func:`_twiddles` (constant shifts, no division)."""
    return coarse[k >> _TWIDDLE_BITS] * fine[k & _TWIDDLE_MASK]


@njit(nogil=True)
def _twist_factors(n1, n2, coarse, fine):
    """w_h^(k1 n2) for every element [k1, n2] of the four-step grid, h = n1 n2 (w_h^e =
    w_L^(2e) from the tables of :func:`_twiddles`)."""
    half = n1 * n2
    out = np.empty((n1, n2), dtype=np.complex128)
    for k1 in range(n1):
        e = 0
        for c in range(n2):
            out[k1, c] = _w(coarse, fine, 2 * e)
            e += k1
            if e >= half:
                e -= half
    return out


@functools.lru_cache(maxsize=2)
def _twist_table(length: int) -> np.ndarray:
    """The twiddle factors between the two passes of the four-step FFT of ``length // 2``
    points, computed once per length: multiplying by a table costs ~1.5 ms for 2·10^6
    points against ~4.5 ms computing each factor (measured), and every block uses the
    table 2-3 times per end (16 B per point: 32 MB at 2·10^6, two lengths kept)."""
    return _twist_factors(*_grid(length // 2), *_twiddles(length))


@njit(nogil=True)
def _twist(grid, table, inverse):
    """grid *= table (conjugated if ``inverse``), in place: the twiddle step."""
    n1, n2 = grid.shape
    for k1 in range(n1):
        for c in range(n2):
            w = table[k1, c]
            grid[k1, c] *= w.conjugate() if inverse else w
    return grid


def _packed_spectrum(values: np.ndarray, length: int, workers: int) -> np.ndarray:
    """FFT (length/2 points) of ``a[2k] + i a[2k+1]``, ``a`` = 0/1 ``values`` zero-padded,
    by the four-step method (Bailey, J. Supercomputing 4, 23, 1990): column FFTs, twiddles,
    row FFTs; pocketfft vectorises the batches and they fit in cache (~3x faster than one
    transform of 10^6-10^7 points). Z[k1 + n1 k2] is left at [k1, k2] (no transposition)."""
    n1, n2 = _grid(length // 2)
    buf = np.zeros(length, dtype=np.float64)
    buf[: values.size] = values
    grid = scipy.fft.fft(buf.view(np.complex128).reshape(n1, n2), axis=0, workers=workers,
                         overwrite_x=True)
    _twist(grid, _twist_table(length), False)
    return scipy.fft.fft(grid, axis=1, workers=workers, overwrite_x=True)


def _inverse_packed(grid: np.ndarray, length: int, workers: int) -> np.ndarray:
    """The real sequence (float64, ``length``) whose packed spectrum is ``grid`` (four-step
    layout): the steps of :func:`_packed_spectrum` reversed; overwrites ``grid``."""
    grid = scipy.fft.ifft(grid, axis=1, workers=workers, overwrite_x=True)
    _twist(grid, _twist_table(length), True)
    grid = scipy.fft.ifft(grid, axis=0, workers=workers, overwrite_x=True)
    return np.ascontiguousarray(grid).reshape(-1).view(np.float64)


@njit
def _split(z, zj, w):
    """(A[k], A[k + L/2]) of a real sequence from its packed spectrum z = Z[k], zj = Z[-k]."""
    even = 0.5 * (z + zj.conjugate())
    odd = -0.5j * (z - zj.conjugate()) * w
    return even + odd, even - odd


@njit(nogil=True)
def _spectral_product(zs, zx, coarse, fine):
    """zx <- packed spectrum of the real convolution (in place; four-step layout, Z[k1 + n1
    k2] at [k1, k2]): split both packed spectra into A[k], A[k + L/2], multiply, re-pack
    E[k] + i O[k]. The partner j = -k uses A[j] = conj(A[k + L/2]), A[j + L/2] = conj(A[k])."""
    n1, n2 = zx.shape
    for r in range(n1 // 2 + 1):  # rows r and n1 - r hold the partners of each other
        jr = (n1 - r) % n1
        for c in range(n2):
            jc = n2 - 1 - c if r else (n2 - c) % n2  # j = jr + n1 jc = -(r + n1 c) mod n1 n2
            if jr == r and jc < c:
                continue  # done with its partner
            k, j = r + n1 * c, jr + n1 * jc
            wk = _w(coarse, fine, k)
            a_lo, a_hi = _split(zs[r, c], zs[jr, jc], wk)
            b_lo, b_hi = _split(zx[r, c], zx[jr, jc], wk)
            p_lo, p_hi = a_lo * b_lo, a_hi * b_hi
            zx[r, c] = 0.5 * (p_lo + p_hi) + 0.5j * (p_lo - p_hi) * wk.conjugate()
            if j != k:
                wj = _w(coarse, fine, j)
                q_lo, q_hi = p_hi.conjugate(), p_lo.conjugate()
                zx[jr, jc] = 0.5 * (q_lo + q_hi) + 0.5j * (q_lo - q_hi) * wj.conjugate()


@njit(nogil=True)
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


class SeedSpectra:
    """Seed spectra shared by the two ends of an in-process link (thread-safe).

    The first end to hash with a given seed computes its spectrum; the other end reuses it
    (the seed arrays are compared, so a different seed is never served). An entry is
    dropped once ``users`` hashes took it.
    """

    def __init__(self, users: int = 2):
        self._users = users
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, int], list] = {}

    def get(self, seed: np.ndarray, length: int, workers: int) -> np.ndarray:
        key = (seed.size, length)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not np.array_equal(entry[0], seed):
                entry = [seed, threading.Lock(), None, 0]
                self._entries[key] = entry
        with entry[1]:
            if entry[2] is None:
                entry[2] = _packed_spectrum(seed, length, workers)
            spectrum = entry[2]
        with self._lock:
            entry[3] += 1
            if entry[3] >= self._users and self._entries.get(key) is entry:
                del self._entries[key]
        return spectrum


def _convolution_parity(x1: np.ndarray, seed: np.ndarray, m: int, workers: int,
                        out: np.ndarray, spectra: SeedSpectra | None) -> None:
    """``out ^= T x1 mod 2`` via one circular convolution of length >= n - 1."""
    cols = x1.size
    length = convolution_length(cols + m - 1)
    spectrum = _packed_spectrum(x1, length, workers)  # first: the other end may be on the seed
    seed_spectrum = (spectra.get(seed, length, workers) if spectra is not None
                     else _packed_spectrum(seed, length, workers))
    coarse, fine = _twiddles(length)
    _spectral_product(seed_spectrum, spectrum, coarse, fine)
    conv = _inverse_packed(spectrum, length, workers)
    del spectrum
    residual = _round_parity(conv, cols - 1, m, out)
    if residual >= _MAX_ERROR:  # pragma: no cover - guarded by the a-priori bound
        raise ArithmeticError(f"FFT rounding residual {residual:.3g} too large for exactness")


def toeplitz_hash(
    bits: np.ndarray, seed: np.ndarray, n_out: int, *, workers: int = 1,
    spectra: SeedSpectra | None = None,
) -> np.ndarray:
    """Hash ``bits`` (uint8 0/1, length n) to ``n_out`` bits with the modified Toeplitz seed.

    ``seed`` is uint8 0/1 of length :func:`seed_length_bits` ``(n)``; only its first
    ``n - 1`` bits are read (the matrix uses ``n - m + m - 1`` of them). Exact for any n.
    ``spectra`` shares the seed's transform with the other end (same process).
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
    length = convolution_length(cols + n_out - 1)
    # split the columns until each slice's partial sums are provably exact
    slices = 1
    # 4 * length: two more levels for the four-step twiddles and the real split
    while fft_error_bound(math.sqrt(cols / slices), norm_s, 4 * length) >= _MAX_ERROR:
        slices *= 2
    result = x2.copy()
    step = -(-cols // slices)
    for start in range(0, cols, step):
        stop = min(start + step, cols)
        # columns start..stop-1 of T form the Toeplitz matrix of s[cols - stop :]
        sub_seed = used_seed[cols - stop : cols - start + n_out - 1]
        _convolution_parity(x1[start:stop], sub_seed, n_out, workers, result,
                            spectra if slices == 1 else None)
    return result


def random_seed(n_in: int, rng: np.random.Generator) -> np.ndarray:
    """A uniform seed (uint8 0/1) for hashing ``n_in`` bits; Alice draws it, Bob receives it."""
    n_bits = seed_length_bits(n_in)
    raw = np.frombuffer(rng.bytes(-(-n_bits // 8)), dtype=np.uint8)
    return np.unpackbits(raw)[:n_bits]
