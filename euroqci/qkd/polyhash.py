"""Polynomial (evaluation) hash over GF(2^128): the universal hash of verification and
authentication.

``h_k(M) = sum_{i=1..L} m_i k^(L-i+1)`` in GF(2)[x]/(x^128 + x^7 + x^2 + x + 1), with
``m_1 .. m_{L-1}`` the 16-byte blocks of ``M`` (zero-padded, each read as a big-endian
integer whose bit i is the coefficient of x^i) and ``m_L`` the bit length of ``M``. Two
different messages of at most L blocks collide, or differ by any given value, for at most
L of the 2^128 keys: the family is (L / 2^128)-almost-XOR-universal (Wegman & Carter,
JCSS 22, 265, 1981; Stinson, J. Cryptology 1994). The modulus is the one of GCM and of
AIT's evhash-128.

Hand-written because no maintained Python package computes GF(2^128) Horner hashes over
megabytes at line rate; the Horner kernel multiplies by the key with Shoup's byte tables
(16 independent look-ups per block), single products with 8-bit windows.
"""

from __future__ import annotations

import numpy as np

from euroqci.qkd._jit import njit

BLOCK_BYTES = 16
FIELD_BITS = 128
_MASK64 = (1 << 64) - 1
_REDUCTION = 0x87  # x^7 + x^2 + x + 1


def _clmul_small(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        b >>= 1
    return out


_WINDOW = 8  # bits per Horner step: 128 / 8 = 16 table steps per block
#: (top byte o) -> o(x) * (x^7+x^2+x+1): what x^128 * o(x) reduces to (degree <= 14)
_BYTE_REDUCE = np.array([_clmul_small(o, _REDUCTION) for o in range(1 << _WINDOW)],
                          dtype=np.uint64)


@njit
def _times_x(hi, lo):
    carry = hi >> np.uint64(63)
    hi = (hi << np.uint64(1)) | (lo >> np.uint64(63))
    lo = lo << np.uint64(1)
    if carry:
        lo ^= np.uint64(0x87)
    return hi, lo


@njit
def _window_table(khi, klo):
    """t[j] = j(x) * k for every 8-bit j."""
    table = np.zeros((256, 2), dtype=np.uint64)
    pow_hi, pow_lo = khi, klo
    for bit in range(8):
        step = 1 << bit
        for j in range(step, 2 * step):
            table[j, 0] = table[j - step, 0] ^ pow_hi
            table[j, 1] = table[j - step, 1] ^ pow_lo
        pow_hi, pow_lo = _times_x(pow_hi, pow_lo)
    return table


@njit
def _mul_table(ahi, alo, table, reduce):
    """a * k with ``table`` = _window_table(k): bytes of a from the top, r <- r x^8 + t."""
    rhi = np.uint64(0)
    rlo = np.uint64(0)
    for word in range(2):
        w = ahi if word == 0 else alo
        for pos in range(56, -8, -8):
            top = rhi >> np.uint64(56)
            rhi = (rhi << np.uint64(8)) | (rlo >> np.uint64(56))
            rlo = (rlo << np.uint64(8)) ^ reduce[top]
            nib = (w >> np.uint64(pos)) & np.uint64(255)
            rhi ^= table[nib, 0]
            rlo ^= table[nib, 1]
    return rhi, rlo


@njit
def _byte_tables(khi, klo):
    """Shoup's tables: t[p, b] = b(x) x^(8p) * k for every byte position p and value b, so
    a * k is the XOR of 16 independent look-ups (V. Shoup, ISSAC 1996; as in GCM's 8-bit
    tables). 64 KiB per key."""
    tables = np.zeros((16, 256, 2), dtype=np.uint64)
    hi, lo = khi, klo
    for p in range(16):
        tables[p] = _window_table(hi, lo)
        for _ in range(8):
            hi, lo = _times_x(hi, lo)
    return tables


@njit(inline="always")
def _mul_bytes(ahi, alo, tables):
    """a * k with ``tables`` = _byte_tables(k)."""
    rhi = np.uint64(0)
    rlo = np.uint64(0)
    for p in range(8):
        b = (alo >> np.uint64(8 * p)) & np.uint64(255)
        rhi ^= tables[p, b, 0]
        rlo ^= tables[p, b, 1]
        b = (ahi >> np.uint64(8 * p)) & np.uint64(255)
        rhi ^= tables[p + 8, b, 0]
        rlo ^= tables[p + 8, b, 1]
    return rhi, rlo


@njit(nogil=True)  # long transcripts: let the other end's thread run meanwhile
def _horner(words, acc_hi, acc_lo, tables):
    for i in range(words.shape[0] // 2):
        acc_hi, acc_lo = _mul_bytes(acc_hi ^ words[2 * i], acc_lo ^ words[2 * i + 1], tables)
    return acc_hi, acc_lo


@njit
def _mul_one(ahi, alo, tables):
    return _mul_bytes(ahi, alo, tables)


def _split(value: int) -> tuple[np.uint64, np.uint64]:
    return np.uint64(value >> 64), np.uint64(value & _MASK64)


def _join(hi: np.uint64, lo: np.uint64) -> int:
    return (int(hi) << 64) | int(lo)


def gf_mul(a: int, b: int) -> int:
    """a * b in GF(2^128) (integers 0 <= a, b < 2^128, bit i = coefficient of x^i)."""
    table = _window_table(*_split(b))
    return _join(*_mul_table(*_split(a), table, _BYTE_REDUCE))


def gf_pow(a: int, exponent: int) -> int:
    """a ** exponent in GF(2^128) by square and multiply."""
    result, base = 1, a
    while exponent:
        if exponent & 1:
            result = gf_mul(result, base)
        base = gf_mul(base, base)
        exponent >>= 1
    return result


def _as_words(data: bytes | np.ndarray) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    pad = (-raw.size) % BLOCK_BYTES
    if pad:
        raw = np.concatenate([raw, np.zeros(pad, dtype=np.uint8)])
    return raw.view(">u8").astype(np.uint64)


class PolyHashState:
    """Incremental Horner state: absorb whole (zero-padded) 16-byte blocks, keyed by ``key``.

    ``value`` after absorbing blocks m_1..m_L is sum m_i k^(L-i+1); ``blocks`` counts L.
    """

    __slots__ = ("_table", "acc", "blocks", "key")

    def __init__(self, key: int):
        self.key = key
        self._table = _byte_tables(*_split(key))
        self.acc = 0
        self.blocks = 0

    def absorb(self, data: bytes | np.ndarray) -> None:
        """Absorb ``data`` (bytes or uint8 array) zero-padded to whole blocks."""
        words = _as_words(data)
        hi, lo = _horner(words, *_split(self.acc), self._table)
        self.acc = _join(hi, lo)
        self.blocks += words.size // 2

    def absorb_prefixed(self, message: bytes) -> None:
        """Absorb one block holding ``len(message)``, then ``message`` zero-padded: the
        same as ``absorb_int(len(message)); absorb(message)`` in one kernel call."""
        data = b"".join((len(message).to_bytes(BLOCK_BYTES, "big"), message,
                         bytes(-len(message) % BLOCK_BYTES)))
        words = np.frombuffer(data, dtype=">u8").astype(np.uint64)
        hi, lo = _horner(words, *_split(self.acc), self._table)
        self.acc = _join(hi, lo)
        self.blocks += words.size // 2

    def reset(self) -> None:
        """Back to the empty state (same key; its tables are kept)."""
        self.acc = 0
        self.blocks = 0

    def absorb_int(self, value: int) -> None:
        """Absorb one block holding the 128-bit integer ``value``."""
        self.acc = _join(*_mul_one(*_split(self.acc ^ value), self._table))
        self.blocks += 1


def poly_hash(data: bytes | np.ndarray, key: int) -> int:
    """``h_key(data)`` as defined in the module docstring (128-bit integer)."""
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    state = PolyHashState(key)
    state.absorb(raw)
    state.absorb_int(8 * raw.size)
    return state.acc


def collision_bound(n_bytes: int) -> float:
    """epsilon of the family for messages of ``n_bytes``: L / 2^128, L = blocks + 1."""
    return (-(-n_bytes // BLOCK_BYTES) + 1) / 2.0**FIELD_BITS
