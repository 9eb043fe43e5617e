"""Cascade information reconciliation, Bob-driven, with many frames per round trip.

Bob corrects his frames by asking Alice for parities of blocks of bits; Alice is a parity
*oracle* (:class:`CascadeOracle` in process, or the far end of the classical channel).
One call ``ask_parities(request) -> parities`` is one round trip, and the questions of all
frames of a batch travel together. Block ``(pass, start, end)`` means the bits at positions
``perm[pass, start:end]`` of the frame, where ``perm`` comes from a seed both ends share
(:func:`cascade_permutations`; pass 0 is unshuffled). Leakage = one bit per parity answered.

Variants (block sizes ``k_i`` from the estimated QBER ``Q``; Martinez-Mateo, Pacher, Peev,
Ciurana & Martin, "Demystifying the information reconciliation protocol Cascade", Quantum
Inf. Comput. 15, 453 (2015)):

- ``"original"``: Brassard & Salvail (EUROCRYPT 1993), 4 passes, k1 = ceil(0.73/Q), doubling.
- ``"optimized"`` (default): opt. (4) of the paper: 16 passes, k1 = ceil(1/Q), k2 = 2 k1,
  then n/2, with sub-block reuse (every disclosed parity is kept; see _cascade_kernels);
  measured f 1.081 / 1.068 / 1.070 at Q = 1 / 2 / 5 %.
- ``"pow2"``: as ``"optimized"`` with k1 = 2^ceil(log2(1/Q)), a power of two as the paper
  recommends: f 1.075 / 1.060 / 1.058, about as many round trips (docs/reconciliation.md).

The top-level parities of all passes are asked in the first round trip (they do not depend
on Bob's corrections, so this leaks exactly the same bits) and each frame runs its passes
at its own pace, so a batch needs about as many round trips as its slowest frame.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from euroqci.errors import InvalidParameter, check_range
from euroqci.qkd import _cascade_kernels as kern
from euroqci.qkd.reconciliation import ReconciliationResult, as_frames

__all__ = [
    "MAX_PASSES",
    "VARIANTS",
    "CascadeOracle",
    "ParityRequest",
    "cascade_block_sizes",
    "cascade_in_memory",
    "cascade_permutations",
    "cascade_reconcile",
    "pack_parities",
    "unpack_parities",
]

VARIANTS = ("optimized", "pow2", "original")
MAX_PASSES = 16  # the most passes any variant uses
_MIN_QBER = 1e-5  # clamp of the estimate, as in the open implementations
_MAX_ROUNDS = 10_000  # far above any real run (< 300): guards against a broken oracle

# wire forms, after a one-byte tag: 7 bytes per question while frame numbers and positions
# fit 16 bits (frames of up to 65535 bits: the common case), 13 bytes otherwise
_REQUEST_DTYPES = (
    np.dtype([("frame", "<u2"), ("pass", "u1"), ("start", "<u2"), ("end", "<u2")]),
    np.dtype([("frame", "<u4"), ("pass", "u1"), ("start", "<u4"), ("end", "<u4")]),
)


@dataclass(frozen=True)
class ParityRequest:
    """One round trip's parity questions, rows (frame, pass, start, end) of int64: the
    parity of ``bits[frame, perm[pass][start:end]]``.

    ``to_bytes``/``from_bytes`` give a compact wire form (7 bytes per question for frames of
    up to 65535 bits, else 13).
    """

    rows: np.ndarray

    @classmethod
    def from_arrays(cls, frame, pass_index, start, end) -> ParityRequest:
        return cls(np.stack([np.asarray(a, dtype=np.int64) for a in
                             (frame, pass_index, start, end)], axis=1).reshape(-1, 4))

    @property
    def frame(self) -> np.ndarray:
        return self.rows[:, 0]

    @property
    def pass_index(self) -> np.ndarray:
        return self.rows[:, 1]

    @property
    def start(self) -> np.ndarray:
        return self.rows[:, 2]

    @property
    def end(self) -> np.ndarray:
        return self.rows[:, 3]

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def to_bytes(self) -> bytes:
        wide = int(len(self) > 0 and self.rows.max() > 0xFFFF)
        rec = np.empty(len(self), dtype=_REQUEST_DTYPES[wide])
        rec["frame"], rec["pass"] = self.frame, self.pass_index
        rec["start"], rec["end"] = self.start, self.end
        return bytes((wide,)) + rec.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> ParityRequest:
        if not data or data[0] > 1 or (len(data) - 1) % _REQUEST_DTYPES[data[0]].itemsize:
            raise InvalidParameter("parity request", f"{len(data)} bytes",
                                   "a format byte (0 or 1), then 7 or 13 bytes per question")
        dtype = _REQUEST_DTYPES[data[0]]
        rec = np.frombuffer(data, dtype=dtype, offset=1)
        rows = np.empty((rec.shape[0], 4), dtype=np.int64)
        for column, name in enumerate(dtype.names):
            rows[:, column] = rec[name]
        return cls(rows)


def pack_parities(parities: np.ndarray) -> bytes:
    """Answers as packed bits (8 per byte), for the wire."""
    return np.packbits(np.asarray(parities, dtype=np.uint8)).tobytes()


def unpack_parities(data: bytes, count: int) -> np.ndarray:
    """Inverse of :func:`pack_parities` for ``count`` answers."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=count)
    if bits.shape[0] != count:
        raise InvalidParameter("answer length", len(data), f"must hold {count} bits")
    return bits


def cascade_block_sizes(n: int, qber_estimate: float, variant: str = "optimized") -> np.ndarray:
    """Top-level block size of every pass (int64), each in [1, n]."""
    if variant not in VARIANTS:
        raise InvalidParameter("variant", variant, f"must be one of {VARIANTS}")
    q = max(qber_estimate, _MIN_QBER)
    if variant == "original":
        k1 = math.ceil(0.73 / q)
        sizes = [k1 * 2**i for i in range(4)]
    else:
        # opt. (4): k1 = ceil(1/Q); pow2: the next power of two, whose binary searches are
        # balanced (log2 k1 parities each) and whose blocks are fewer
        k1 = 2 ** math.ceil(math.log2(1.0 / q)) if variant == "pow2" else math.ceil(1.0 / q)
        sizes = [k1, 2 * k1] + [math.ceil(n / 2)] * 14
    return np.clip(np.array(sizes, dtype=np.int64), 1, n)


def cascade_permutations(n: int, n_passes: int, seed: int) -> np.ndarray:
    """The shared shuffles, int64[n_passes, n]: pass 0 unshuffled, then seeded permutations.

    Pass p's shuffle does not depend on ``n_passes``, so Alice can simply build
    :data:`MAX_PASSES` of them (:meth:`CascadeOracle.from_seed`) whatever Bob's variant.
    """
    rng = np.random.default_rng(seed)
    perm = np.empty((n_passes, n), dtype=np.int64)
    perm[0] = np.arange(n)
    for p in range(1, n_passes):
        perm[p] = rng.permutation(n)
    return perm


class CascadeOracle:
    """Alice's side: answers :class:`ParityRequest` from her frames. Holds key: no repr."""

    def __init__(self, alice_bits: np.ndarray, permutations: np.ndarray):
        bits = as_frames(alice_bits, "alice_bits")
        self._n_frames, self._n = bits.shape
        perm = np.ascontiguousarray(permutations, dtype=_index_dtype(self._n))
        if perm.ndim != 2 or perm.shape[1] != self._n:
            raise InvalidParameter("permutations.shape", perm.shape,
                                   f"must be (n_passes, {self._n})")
        # answers from prefix parities (two lookups each; a shuffle is gathered once per
        # frame, not per question), built lazily per frame and pass: most late passes are
        # only ever asked for their two halves, which come from packed words instead
        self._bits, self._perm = bits, perm
        self._packed = kern.pack_frames(bits)
        half = -(-self._n // 2)
        self._half = half
        self._masks = kern.block_masks(perm, np.full(perm.shape[0], half, dtype=np.int64))
        self._prefix = np.empty((self._n_frames, perm.shape[0], (self._n >> 3) + 1), np.uint8)
        self._ready = np.zeros((self._n_frames, perm.shape[0]), dtype=bool)

    @classmethod
    def from_seed(cls, alice_bits: np.ndarray, seed: int) -> CascadeOracle:
        """The oracle for Bob's :func:`cascade_reconcile` with the same ``seed``."""
        n = np.shape(alice_bits)[-1]
        return cls(alice_bits, cascade_permutations(n, MAX_PASSES, seed))

    def __repr__(self) -> str:
        return f"CascadeOracle(frames={self._n_frames}, n={self._n})"

    def __call__(self, request: ParityRequest) -> np.ndarray:
        rows = np.ascontiguousarray(request.rows, dtype=np.int64)
        answers = np.empty(rows.shape[0], dtype=np.uint8)
        bad = kern.range_parities(self._prefix, self._ready, self._bits, self._perm,
                                  self._packed, self._masks, self._half, rows, answers)
        if bad >= 0:
            raise InvalidParameter("parity request", rows[bad].tolist(),
                                   f"frame < {self._n_frames}, pass < "
                                   f"{self._prefix.shape[1]}, 0 <= start < end <= {self._n}")
        return answers


def _index_dtype(n: int) -> type:
    """uint16 positions where a frame fits (n <= 65536), else int64: the kernels stream all
    shuffles for every frame, and the narrow type makes the parity sums ~2x faster."""
    return np.uint16 if n <= 1 << 16 else np.int64


def cascade_reconcile(
    bob_bits: np.ndarray,
    qber_estimate: float,
    ask_parities: Callable[[ParityRequest], np.ndarray],
    seed: int,
    *,
    variant: str = "optimized",
    max_parallel: int | None = None,
) -> ReconciliationResult:
    """Correct Bob's frames (uint8[n_frames, n] or 1-D) by Cascade against ``ask_parities``.

    ``qber_estimate`` (from parameter estimation, in (0, 0.5)) sets the block sizes; ``seed``
    must equal the seed Alice's oracle used for :func:`cascade_permutations`.
    ``converged`` is False for a frame whose disclosed parities reach its length (nothing
    secret is left: the QBER estimate was far too low) or whose search list overflowed.
    ``max_parallel`` top-level searches per frame run at once after pass 1: 1 is the
    sequential protocol (least leakage, most round trips); the default is 2 for
    ``"optimized"`` and 4 for ``"pow2"`` (~0.005 more in f than 1, 25-40 % fewer round
    trips; docs/reconciliation.md) and all blocks at once for ``"original"``, as in the
    published simulations.
    """
    if max_parallel is None:
        max_parallel = {"original": np.iinfo(np.int32).max, "pow2": 4}.get(variant, 2)
    if int(max_parallel) < 1:
        raise InvalidParameter("max_parallel", max_parallel, "must be an integer >= 1")
    check_range("qber_estimate", qber_estimate, low=0.0, high=0.5, high_inclusive=False)
    bob = as_frames(bob_bits, "bob_bits")
    n_frames, n = bob.shape
    ks = cascade_block_sizes(n, qber_estimate, variant)
    n_passes = ks.shape[0]
    perms = np.empty((2, n_passes, n), dtype=_index_dtype(n))
    perms[0] = cascade_permutations(n, n_passes, seed)
    perms[1][np.arange(n_passes)[:, None], perms[0]] = np.arange(n)[None, :]
    nbs = -(-n // ks)
    pass_base = np.concatenate(([0], np.cumsum(nbs * (2 * ks - 1))[:-1]))
    tree_base = np.concatenate(([0], np.cumsum(nbs)[:-1]))
    layout = np.stack([ks, pass_base, tree_base]).astype(np.int64)
    n_slots = int(np.sum(nbs * (2 * ks - 1)))

    # Round trip 1: the top-level parity of every block of every pass.
    p_idx = np.repeat(np.arange(n_passes), nbs)
    b_idx = np.concatenate([np.arange(nb) for nb in nbs])
    starts = b_idx * ks[p_idx]
    ends = np.minimum(starts + ks[p_idx], n)
    t = len(p_idx)
    first = ParityRequest.from_arrays(np.repeat(np.arange(n_frames), t),
                                      np.tile(p_idx, n_frames), np.tile(starts, n_frames),
                                      np.tile(ends, n_frames))
    alice_root = _answers(ask_parities, first).reshape(n_frames, t)
    leaked = np.full(n_frames, t, dtype=np.int64)
    round_trips = 1

    node = _node_buffer(n_frames, n_slots)
    packed = kern.pack_frames(bob)  # kept equal to ``bob`` by the kernels' flips
    masks = kern.block_masks(perms[0], ks)
    fs = np.zeros((n_frames, 6), dtype=np.int64)  # see _cascade_kernels
    fs[:, kern.CUR] = -1
    cap = int(nbs.max()) + min(max_parallel, n) + 16 * n_passes
    cand = np.zeros((n_frames, cap, 6), dtype=np.int64)
    out = np.zeros((n_frames * cap, 5), dtype=np.int64)
    answers = np.zeros(0, dtype=np.uint8)
    o_total = np.zeros(1, dtype=np.int64)
    total = 0
    while (total := kern.cascade_round(bob, packed, masks, perms, layout, node, alice_root,
                                       fs, cand, out, total, answers, max_parallel, o_total)) > 0:
        if round_trips >= _MAX_ROUNDS:
            raise RuntimeError("Cascade did not terminate; the parity oracle is inconsistent")
        answers = _answers(ask_parities, ParityRequest(out[:total, :4]))
        leaked += fs[:, kern.ASKED]
        round_trips += 1
    flips, overflow = fs[:, kern.FLIPS], fs[:, kern.OVERFLOW]
    return ReconciliationResult(
        method=f"cascade-{variant}",
        corrected=bob if np.ndim(bob_bits) == 2 else bob[0],
        converged=(overflow == 0) & (leaked < n),
        leaked_bits_per_frame=leaked,
        errors_corrected_per_frame=flips,
        round_trips=round_trips,
        frame_length=n,
    )


_NODE_CACHE_BYTES = 256 << 20  # largest parity-state buffer kept per thread for reuse
_node_cache = threading.local()


def _node_buffer(n_frames: int, n_slots: int) -> np.ndarray:
    """Uninitialised int8[n_frames, n_slots] for the kernels' parity state (each pass's
    slots are cleared when the pass starts). Reused per thread: a batch of 200 frames of
    16384 bits needs ~100 MB, and fresh pages cost a page fault each, which was about a
    third of Bob's Cascade time in the link pipeline."""
    size = n_frames * n_slots
    if size > _NODE_CACHE_BYTES:
        return np.empty((n_frames, n_slots), dtype=np.int8)
    buf = getattr(_node_cache, "buf", None)
    if buf is None or buf.size < size:
        buf = _node_cache.buf = np.empty(size, dtype=np.int8)
    return buf[:size].reshape(n_frames, n_slots)


def _answers(ask_parities: Callable[[ParityRequest], np.ndarray], req: ParityRequest):
    ans = np.asarray(ask_parities(req), dtype=np.uint8).reshape(-1)
    if ans.shape[0] != len(req) or ans.max(initial=0) > 1:
        raise InvalidParameter("parity answers", f"{ans.shape[0]} values",
                               f"must be {len(req)} bits")
    return ans


def cascade_in_memory(
    alice_bits: np.ndarray,
    bob_bits: np.ndarray,
    qber_estimate: float,
    rng: np.random.Generator,
    *,
    variant: str = "optimized",
    **kwargs,
) -> ReconciliationResult:
    """Cascade with Alice's oracle in process (tests, simulation); the seed comes from ``rng``."""
    alice = as_frames(alice_bits, "alice_bits")
    bob = as_frames(bob_bits, "bob_bits")
    if alice.shape != bob.shape:
        raise InvalidParameter("bob_bits.shape", bob.shape, f"must equal alice's {alice.shape}")
    seed = int(rng.integers(0, 2**63 - 1))
    n_passes = cascade_block_sizes(alice.shape[1], max(qber_estimate, _MIN_QBER), variant).size
    oracle = CascadeOracle(alice, cascade_permutations(alice.shape[1], n_passes, seed))
    return cascade_reconcile(bob if np.ndim(bob_bits) == 2 else bob[0], qber_estimate, oracle,
                             seed, variant=variant, **kwargs)

