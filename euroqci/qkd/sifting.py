"""Sifting: keep the detections where Alice's and Bob's bases agree.

X (label 0) is the key basis and Z (label 1) the test basis (Lim et al., PRA 89, 022307,
2014, Sec. II; basis probabilities p_x and 1 - p_x at both ends, "efficient" BB84 of Lo,
Chau, Ardehali, J. Cryptology 18, 133, 2005). Both ends compute the same indices from the
bases and intensity labels exchanged over the authenticated channel. The key set is cut to
a whole number of reconciliation frames; the dropped tail is not counted anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from euroqci.errors import InvalidParameter
from euroqci.qkd.events import X, Z


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """uint8 0/1 -> packed bytes (uint8 array, 8 bits per byte, big-endian bit order)."""
    return np.packbits(np.asarray(bits, dtype=np.uint8))


def unpack_bits(packed: np.ndarray, n_bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`; :class:`InvalidParameter` if too short."""
    packed = np.asarray(packed, dtype=np.uint8)
    if 8 * packed.size < n_bits:
        raise InvalidParameter("packed bits", f"{8 * packed.size} bits", f">= {n_bits} bits")
    return np.unpackbits(packed, count=n_bits)


def label_bits(n_labels: int) -> int:
    """Bits per intensity label: ceil(log2(n_labels)), at least 1."""
    return max(1, (n_labels - 1).bit_length())


def pack_labels(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Intensity labels (uint8 < n_labels) as packed bit planes, most significant first."""
    labels = np.asarray(labels, dtype=np.uint8)
    planes = [pack_bits((labels >> b) & 1) for b in reversed(range(label_bits(n_labels)))]
    return np.concatenate(planes) if planes else np.zeros(0, dtype=np.uint8)


def unpack_labels(packed: np.ndarray, n: int, n_labels: int) -> np.ndarray:
    """Inverse of :func:`pack_labels` for ``n`` labels."""
    packed = np.asarray(packed, dtype=np.uint8)
    width = -(-n // 8)
    k = label_bits(n_labels)
    if packed.size != k * width:
        raise InvalidParameter("packed labels", f"{packed.size} bytes", f"{k * width} bytes")
    labels = np.zeros(n, dtype=np.uint8)
    for i in range(k):
        labels = (labels << 1) | unpack_bits(packed[i * width : (i + 1) * width], n)
    return labels


@dataclass(frozen=True)
class SiftResult:
    """Indices (into the block's detections) of the key-basis and test-basis sifted events."""

    key_index: np.ndarray
    test_index: np.ndarray


def sift(alice_basis: np.ndarray, bob_basis: np.ndarray, frame_bits: int = 1) -> SiftResult:
    """Sifted X (key, cut to a multiple of ``frame_bits``) and Z (test) detection indices."""
    alice_basis = np.asarray(alice_basis, dtype=np.uint8)
    bob_basis = np.asarray(bob_basis, dtype=np.uint8)
    if alice_basis.shape != bob_basis.shape or alice_basis.ndim != 1:
        raise InvalidParameter("basis announcements", f"{alice_basis.shape} vs {bob_basis.shape}",
                               "two 1-D arrays of the same length")
    if frame_bits < 1:
        raise InvalidParameter("frame_bits", frame_bits, ">= 1")
    same = alice_basis == bob_basis
    key = np.flatnonzero(same & (alice_basis == X))
    test = np.flatnonzero(same & (alice_basis == Z))
    return SiftResult(key[: key.size - key.size % frame_bits], test)


def per_intensity(intensity: np.ndarray, n_intensities: int) -> np.ndarray:
    """Number of entries per intensity label, int64[n_intensities]."""
    intensity = np.asarray(intensity)
    counts = np.array([np.count_nonzero(intensity == k) for k in range(n_intensities)],
                      dtype=np.int64)
    if counts.sum() != intensity.size:
        raise InvalidParameter("intensity label", "out of range",
                               f"< {n_intensities} (the number of intensities)")
    return counts
