"""Error verification after reconciliation: a universal-hash comparison of the two keys.

Alice draws a fresh 128-bit hash key, sends it with the top ``t`` bits of
``h_k(key)`` (:mod:`euroqci.qkd.polyhash`); Bob compares with his own. Truncating the
(L/2^128)-AXU polynomial hash to t bits leaves a collision probability of at most L/2^t, so
``t = ceil(log2(L / eps_cor))`` makes the accepted keys equal except with probability
eps_cor (Lim et al., PRA 89, 022307, 2014, Sec. II: the published tag is part of the leak
counted by the log2(2/eps_cor) term). A failed block is discarded, never delivered.
"""

from __future__ import annotations

import math

import numpy as np

from euroqci.errors import check_range
from euroqci.qkd.polyhash import BLOCK_BYTES, FIELD_BITS, poly_hash


def tag_length_bits(n_key_bits: int, eps_cor: float) -> int:
    """Tag bits t such that two different n-bit keys pass with probability <= eps_cor."""
    check_range("eps_cor", eps_cor, low=0.0, high=1.0, low_inclusive=False)
    message_bytes = -(-n_key_bits // 8) + 8  # packed bits and their count
    blocks = -(-message_bytes // BLOCK_BYTES) + 1
    t = math.ceil(math.log2(blocks / eps_cor))
    if t > FIELD_BITS:
        raise ValueError(f"eps_cor={eps_cor:g} needs {t} > {FIELD_BITS} tag bits")
    return t


def draw_hash_key(rng: np.random.Generator) -> int:
    """A uniform 128-bit hash key (chosen by Alice after reconciliation, sent in clear)."""
    return int.from_bytes(rng.bytes(FIELD_BITS // 8), "big")


def key_tag(bits: np.ndarray, hash_key: int, tag_bits: int) -> int:
    """Top ``tag_bits`` bits of the polynomial hash of the packed key bits (uint8 0/1)."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    digest = poly_hash(packed.tobytes() + int(bits.size).to_bytes(8, "big"), hash_key)
    return digest >> (FIELD_BITS - tag_bits)
