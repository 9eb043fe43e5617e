"""Information reconciliation: the common result type and the choice of method by QBER.

Two methods are implemented:

- :mod:`euroqci.qkd.cascade` — interactive Cascade (Brassard & Salvail, EUROCRYPT 1993;
  optimised per Martinez-Mateo, Pacher, Peev, Ciurana & Martin, "Demystifying the
  information reconciliation protocol Cascade", Quantum Inf. Comput. 15, 453 (2015)).
- :mod:`euroqci.qkd.ldpc` — one-way rate-adaptive LDPC syndrome coding (Elkouss,
  Martinez-Mateo & Martin, Quantum Inf. Comput. 11, 226 (2011)).

Efficiency is ``f = leaked_bits / (n h(Q))`` with ``h`` the binary entropy and ``Q`` the
error rate actually corrected (Cascade) or the frame's true error rate (LDPC, in memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from euroqci.errors import InvalidParameter, check_range
from euroqci.physics.bounds import binary_entropy

__all__ = [
    "LATENCY_RTT_S",
    "LDPC_LATENCY_QBER",
    "LDPC_MAX_QBER",
    "LDPC_QBER_THRESHOLD",
    "ReconciliationResult",
    "binary_entropy",
    "choose_method",
]

#: LDPC is chosen for LDPC_QBER_THRESHOLD <= QBER <= LDPC_MAX_QBER, Cascade elsewhere.
#: Measured in memory (docs/reconciliation.md, 2026-11-27): Cascade (`pow2`, the link
#: engine's variant, n = 10^4) leaks f = 1.058 / 1.063 / 1.060 / 1.063 / 1.067 at
#: Q = 5 / 6 / 7 / 8 / 9 % in ~1200-1700 round trips per batch; LDPC (n = 10^5) leaks
#: f ~ 1.09 in 1-5 messages from its default start (1.07-1.08 from a start at 1.07). LDPC
#: never leaks less; it is chosen where the f gap is smallest (~0.03 from 6 %, ~0.01 from
#: a start at 1.07) and Cascade's round trips are most numerous, which over a real channel
#: cost ~1-2 s per batch at 1 ms RTT. Below 6 % the gap is larger (and
#: below ~2 % no listed code can compete: R = 0.9 has f_thr = 1.15 even asymptotically,
#: ISIT 2009 Table I). Above 9 % the lowest-rate mother code (0.55) cannot reach the
#: needed rate, and Cascade (which works to 11 %) takes over.
LDPC_QBER_THRESHOLD = 0.06
LDPC_MAX_QBER = 0.09
#: Over a classical channel with a round-trip time of at least LATENCY_RTT_S, LDPC is used
#: from LDPC_LATENCY_QBER: Cascade's ~1200-1700 round trips per 4·10^6-bit block at 3-6 %
#: then cost more time than LDPC's decoding (measured across a delay line, QBER 3 %, two
#: blocks: Cascade 3.9 / 0.57 / 0.31 Mbit/s at 0 / 1 / 4 ms RTT, LDPC 2.2-2.5 Mbit/s
#: whatever the RTT, docs/benchmarks.md; the crossover is near 0.4 ms), for a few % less
#: key per block (f ~1.09-1.10 instead of ~1.05). Below 3 % LDPC needs its 10^6-symbol
#: codes (frames of 900 000 key bits, f ~1.10), so Cascade stays.
LATENCY_RTT_S = 5e-4
LDPC_LATENCY_QBER = 0.03


def choose_method(qber: float, rtt_s: float = 0.0) -> str:
    """``"ldpc"`` for QBER in [LDPC_QBER_THRESHOLD, LDPC_MAX_QBER] -- from
    LDPC_LATENCY_QBER when the classical channel's round-trip time ``rtt_s`` is at least
    LATENCY_RTT_S -- else ``"cascade"``.

    Raises :class:`InvalidParameter` for a QBER outside [0, 0.5) (no reconciliation can
    help at or above 50 %, and a key needs Q below ~11 % anyway) or a negative ``rtt_s``.
    """
    check_range("qber", qber, low=0.0, high=0.5, high_inclusive=False)
    check_range("rtt_s", rtt_s, low=0.0)
    low = LDPC_LATENCY_QBER if rtt_s >= LATENCY_RTT_S else LDPC_QBER_THRESHOLD
    return "ldpc" if low <= qber <= LDPC_MAX_QBER else "cascade"


@dataclass(frozen=True)
class ReconciliationResult:
    """Bob's corrected frames and what it cost.

    ``corrected`` has the shape of the input (uint8 bits). ``converged`` is per frame:
    for LDPC whether the decoder satisfied the syndrome; for Cascade whether the protocol
    ran to completion. A converged frame can still (rarely) hold residual errors: the
    verification hash is what guarantees identical keys. ``leaked_bits`` counts every
    bit of information disclosed about the key (parities, syndrome bits, revealed
    shortened/punctured values), per frame in ``leaked_bits_per_frame``.
    """

    method: str
    corrected: np.ndarray = field(repr=False)
    converged: np.ndarray
    leaked_bits_per_frame: np.ndarray
    errors_corrected_per_frame: np.ndarray
    round_trips: int
    frame_length: int

    @property
    def leaked_bits(self) -> int:
        return int(self.leaked_bits_per_frame.sum())

    @property
    def efficiency(self) -> float:
        """Aggregate f = sum(leaked) / sum(n h(e_frame)); inf if no error was corrected."""
        q = self.errors_corrected_per_frame / self.frame_length
        denom = float(np.sum(self.frame_length * binary_entropy(q)))
        return self.leaked_bits / denom if denom > 0 else float("inf")


def as_frames(bits: np.ndarray, name: str) -> np.ndarray:
    """Validate a bit array (1-D or [n_frames, n]) and return it as a 2-D uint8 copy."""
    arr = np.asarray(bits)
    if arr.ndim not in (1, 2):
        raise InvalidParameter(f"{name}.ndim", arr.ndim, "must be 1 (one frame) or 2 (frames)")
    if arr.size == 0:
        raise InvalidParameter(f"{name}.shape", arr.shape, "must hold at least one bit")
    if arr.dtype != np.uint8 and arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.integer):
            raise InvalidParameter(f"{name}.dtype", str(arr.dtype), "must be uint8 or bool bits")
    if arr.min() < 0 or arr.max() > 1:
        raise InvalidParameter(name, "values outside {0, 1}", "must hold bits (0 or 1)")
    return np.array(arr, dtype=np.uint8, ndmin=2, copy=True)
