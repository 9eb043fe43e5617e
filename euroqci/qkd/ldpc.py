"""One-way rate-adaptive LDPC reconciliation (syndrome coding) with an optional blind retry.

Alice sends the syndrome ``s = H x`` of her word ``x``; Bob decodes ``x`` from his frame,
the channel log-likelihood ratios ``ln((1-Q)/Q)`` and ``s``. Rate adaptation (Elkouss,
Martinez-Mateo & Martin, "Information reconciliation for quantum key distribution",
Quantum Inf. Comput. 11, 226 (2011)): of the mother code's ``n`` symbols, ``d = n - n_key``
are not key bits: ``p`` are *punctured* (random bits known to Alice only) and ``s`` are
*shortened* (values both ends draw from the shared seed), giving the rate
``R = (k - s)/(n - p - s)`` with ``k = n - m``. The leaked information is ``m - p`` bits
(the syndrome minus what the punctured bits hide). Blind retry (Martinez-Mateo, Elkouss &
Martin, Quantum Inf. Comput. 12, 791 (2012)): on a decoding failure Alice reveals a further
share of the punctured bits (each one leaked) and Bob decodes again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from euroqci.errors import InvalidParameter, check_range
from euroqci.qkd import _ldpc_fixed as fixed
from euroqci.qkd import _ldpc_kernels as kern
from euroqci.qkd.ldpc_codes import LdpcCode, build_ldpc_code, code_checks, lifting_factor
from euroqci.qkd.reconciliation import ReconciliationResult, as_frames, binary_entropy

__all__ = [
    "BLIND_SPAN",
    "DECODERS",
    "DEFAULT_CODE_LENGTH",
    "LONG_CODE_LENGTH",
    "LONG_CODE_QBER",
    "LONG_CODE_START_EFFICIENCY",
    "START_EFFICIENCY",
    "AdaptedCode",
    "adapt_code",
    "code_length",
    "ldpc_decode",
    "ldpc_frame_length",
    "ldpc_reconcile_in_memory",
    "ldpc_syndrome",
    "rescue_symbols",
    "start_efficiency",
]

#: Mother code length: 10^5 symbols (90 000 key bits per frame): f 1.07-1.09 at Q = 3-8 %
#: from a start at f 1.07 (docs/reconciliation.md); 2 x 10^5 (Elkouss et al. 2011's
#: length) gains ~0.01 more but needs link blocks of >= 180 000 key bits.
DEFAULT_CODE_LENGTH = 100_000
#: Below LONG_CODE_QBER the mother codes are LONG_CODE_LENGTH symbols long (frames of
#: 900 000 key bits): the high-rate codes (R0 = 0.8-0.85) have the largest gap to their
#: thresholds at n = 10^5. Measured (docs/reconciliation.md): at Q = 2 %, n = 10^5 loses
#: 27 % of frames at f 1.10, n = 10^6 none of 3328 at f 1.094; at 2.5 %, f 1.106 -> 1.097;
#: at 3 %, 1.087 -> 1.072, for 1.5-2x the decoding time per bit.
LONG_CODE_LENGTH = 1_000_000
LONG_CODE_QBER = 0.03
DELTA = 0.1  # fraction of punctured + shortened symbols (Elkouss et al. 2011 use 0.1)
MOTHER_RATES = (0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55)
# Successful frames need ~15-25 iterations at n = 10^4 (up to ~60 near threshold); a frame
# whose count of unsatisfied checks has not improved for PATIENCE iterations is given up:
# measured, this loses no frame that would converge and cuts the cost of a failed attempt
# from MAX_ITER to ~25 iterations.
MAX_ITER = 100
PATIENCE = 8
# LLRs come from the QBER estimate itself. (Decoding failed frames again with 1.3x then 2x
# the QBER helped against the error floor of the capped decoder below; with the cap raised
# it no longer does.)
# The float decoder's messages are capped at phi of the table's first bin: phi(1/128) = 5.5
# with the plain table, and then a chain of 4-10 wrong degree-2 symbols outweighs its two
# unsatisfied checks and BP stalls (an error floor; n = 2e5, R0 = 0.6, f = 1.10 / 1.14:
# 4/20 and 12/20 frames lost, each with 1-10 wrong degree-2 symbols left, against 0/20 and
# 0/20 with exact phi). Decoding in LLR units of 1/K with the table K phi(y / K) (the
# decoder's convention: its length fixes K) is the same BP with the cap at phi(1/(128 K)):
# 11.1 for K = 256 (1.5 MB table). Measured, 64 frames at Q = 2 / 3 %: 3 / 3 lost with
# K = 16 (cap 8.3), 1 / 0 with K = 256. The fixed-point decoder caps its messages at the
# same 11.1 (``_ldpc_fixed.CAP``): without a cap, frames revealed many punctured values
# (LLR 50) in a blind retry could diverge (one at Q = 4 %: 16 wrong symbols -> 16 631).
_LLR_UNIT = 256
_PHI = (_LLR_UNIT * -np.log(np.tanh(
    (np.arange(_LLR_UNIT * kern.phi_table().shape[0]) + 0.5) / kern._PHI_STEP / _LLR_UNIT / 2.0)
)).astype(np.float32)
_LLR_KNOWN = 50  # |LLR| of the symbols Bob knows (shortened, revealed), nats
#: The decoders of ldpc_decode: fixed-point (``_ldpc_fixed``) and float (``_ldpc_kernels``).
DECODERS = ("fixed", "float")


#: The blind protocol starts at f = start_efficiency(n) and reveals punctured symbols in
#: equal steps up to BLIND_SPAN above it (AdaptedCode.revealed_after). The start trades
#: f for speed: near its threshold a frame needs more iterations, and a failed first
#: attempt costs ~37 of them before its retry. Measured at n = 10^5 (docs/benchmarks.md;
#: 512 frames per point, chunks of 64, Q = 3-8 %): start 1.07 gives f 1.072-1.087 at
#: 4.2-6.8 Mbit/s per core, 1.09 gives f 1.090-1.093 at 6.0-11.1 Mbit/s (7.0-12.3 with
#: the later decoder changes), both with no frame lost; 8000 frames per point at 1.09: at
#: most 2 lost or wrong.
START_EFFICIENCY = 1.09
BLIND_SPAN = 0.08
#: The long codes (below LONG_CODE_QBER) work just under f 1.10: from a start at 1.07 most
#: frames failed and then succeeded at the first retry (f 1.094 at Q = 2 %), so they start
#: at 1.095: f 1.096, ~2.5x faster (docs/benchmarks.md). The reserve stays BLIND_SPAN: in
#: the link the code is adapted to a sampled QBER estimate, and with retries only up to
#: 1.125 one of 3 runs at Q = 2 % lost frames (docs/reconciliation.md).
LONG_CODE_START_EFFICIENCY = 1.095
#: Most key symbols a rescue reveals per frame and round (rescue_symbols), and the most
#: rounds (a stuck frame that the first round does not free usually has its other wrong
#: symbols next to the checks left unsatisfied then: measured at Q = 3 %, 3 of 3 freed in
#: the second round).
RESCUE_MAX_SYMBOLS = 256
RESCUE_ROUNDS = 3


@dataclass(frozen=True)
class DecodingGraph:
    """The parity checks Bob's decoder runs on: H without the columns of the shortened
    symbols that fill whole circulant column blocks (their known values folded into the
    syndrome), which keeps it a circulant lift with ~s/n fewer edges. Symbols are
    renumbered 0..n'-1 in order; ``key``, ``punctured`` and ``shortened`` (those left in
    the graph) are in that numbering, ``symbols`` maps back, ``removed`` (original
    numbering) are the others."""

    check_ptr: np.ndarray
    check_vars: np.ndarray
    lift: int  # its circulant lift factor Z (1: not a lift)
    syndrome_offset: np.ndarray  # uint8[m]: H_removed x_removed (mod 2)
    key: np.ndarray
    punctured: np.ndarray
    shortened: np.ndarray
    shortened_values: np.ndarray
    symbols: np.ndarray
    removed: np.ndarray
    removed_values: np.ndarray


@dataclass(frozen=True)
class AdaptedCode:
    """A mother code with its punctured / shortened / key positions fixed for one QBER.

    Both ends build it from the same (QBER estimate, seed) with :func:`adapt_code`.
    """

    code: LdpcCode = field(repr=False)
    key_positions: np.ndarray
    punctured: np.ndarray
    shortened: np.ndarray
    shortened_values: np.ndarray
    graph: DecodingGraph = field(repr=False)
    blind_reserve: int = -1  # punctured symbols a blind protocol reveals in all (-1: all p)

    @property
    def n_key(self) -> int:
        return int(self.key_positions.shape[0])

    @property
    def leaked_bits(self) -> int:
        """Syndrome bits minus punctured symbols: m - p (Elkouss et al. 2011, Eq. (4))."""
        return self.code.m - int(self.punctured.shape[0])

    def revealed_after(self, step: int, steps: int) -> int:
        """Punctured symbols revealed after ``step`` of ``steps`` blind retries: equal
        shares of the reserve (``blind_reserve``, i.e. ``span`` n_key h(Q) of
        :func:`adapt_code`), so each retry raises f by ~span/steps whatever p is."""
        p = int(self.punctured.shape[0])
        reserve = p if self.blind_reserve < 0 else min(p, self.blind_reserve)
        return min(p, -(-step * reserve // steps))

    @property
    def rate(self) -> float:
        k = self.code.n - self.code.m
        s, p = self.shortened.shape[0], self.punctured.shape[0]
        return (k - s) / (self.code.n - p - s)


def code_length(qber_estimate: float) -> int:
    """The mother code length used for a QBER estimate: LONG_CODE_LENGTH below
    LONG_CODE_QBER, else DEFAULT_CODE_LENGTH."""
    return LONG_CODE_LENGTH if qber_estimate < LONG_CODE_QBER else DEFAULT_CODE_LENGTH


def start_efficiency(n: int) -> float:
    """The f at which the blind protocol starts for a mother code of ``n`` symbols:
    LONG_CODE_START_EFFICIENCY from LONG_CODE_LENGTH on, else START_EFFICIENCY."""
    return LONG_CODE_START_EFFICIENCY if n >= LONG_CODE_LENGTH else START_EFFICIENCY


def ldpc_frame_length(n: int = DEFAULT_CODE_LENGTH) -> int:
    """Key bits per LDPC frame for a mother code of ``n`` symbols: n - round(DELTA n)."""
    return n - int(round(DELTA * n))


def adapt_code(qber_estimate: float, seed: int, n: int | None = None,
               efficiency: float | None = None, span: float = BLIND_SPAN) -> AdaptedCode:
    """Choose the mother code and the punctured / shortened symbols so that the rate is
    ``1 - f h(Q)`` with f = ``efficiency`` (Elkouss et al. 2011, Sec. 3), keeping at least
    ``span n_key h(Q)`` punctured symbols in reserve for blind retries; ``n`` (the mother
    code length) defaults to :func:`code_length`, ``efficiency`` to
    :func:`start_efficiency` of it. Deterministic in
    (``qber_estimate``, ``seed``, ``n``, ``efficiency``, ``span``): both ends call it with
    the same arguments."""
    check_range("qber_estimate", qber_estimate, low=0.0, high=0.5, high_inclusive=False)
    if n is None:
        n = code_length(qber_estimate)
    if efficiency is None:
        efficiency = start_efficiency(n)
    check_range("efficiency", efficiency, low=1.0, high=2.0)
    d = n - ldpc_frame_length(n)
    h = float(binary_entropy(max(qber_estimate, 1e-4)))
    r_target = 1.0 - efficiency * h
    p_want = min(d, math.ceil(span * (n - d) * h))
    # p = d - k + R (n - d) must lie in [0, d]. Choose R0 by the cost of its p: each
    # punctured symbol beyond p_want weakens the code (n = 2e5, Q = 2 %: R0 = 0.85 with
    # p = 1413 lost 6 of 64 frames where R0 = 0.8 with p = 13163 lost 17), each one short
    # of p_want shrinks the blind reserve, which costs four times as much.
    r0, best = None, math.inf
    for rate in MOTHER_RATES:
        p = d - (n - code_checks(n, rate)) + r_target * (n - d)
        cost = p - p_want if p >= p_want else 4 * (p_want - p)
        if 0 <= p <= d and cost < best:
            r0, best = rate, cost
    if r0 is None:
        raise InvalidParameter("qber_estimate", qber_estimate,
                               "outside the LDPC range (about 1.5-9 %): use Cascade")
    code = build_ldpc_code(n, r0)
    k = n - code.m
    # R = (k - s)/(n - d)  ->  s = k - R (n - d), clipped to [0, d]
    s = int(np.clip(math.ceil(k - r_target * (n - d)), 0, d))
    p = d - s
    rng = np.random.default_rng(seed)
    # shortened symbols: whole column blocks of the circulant lift first (they leave the
    # decoding graph: DecodingGraph), then the rest one by one, all at random
    z = lifting_factor(n)
    blocks = rng.choice(n // z, size=s // z, replace=False)
    short = np.zeros(n, dtype=bool)
    short[(blocks[:, None] * z + np.arange(z)).ravel()] = True
    punct = _untainted_positions(code, p, rng, ~short)
    free = ~short
    free[punct] = False
    short[rng.choice(np.flatnonzero(free), size=s - blocks.size * z, replace=False)] = True
    free[short] = False
    shortened = np.flatnonzero(short)
    values = rng.integers(0, 2, s, dtype=np.uint8)
    return AdaptedCode(code=code, key_positions=np.flatnonzero(free), punctured=punct,
                       shortened=shortened, shortened_values=values, blind_reserve=p_want,
                       graph=_decoding_graph(code, z, np.flatnonzero(free), punct,
                                             shortened, values))


def _untainted_positions(code: LdpcCode, p: int, rng: np.random.Generator,
                         available: np.ndarray) -> np.ndarray:
    """``p`` of the ``available`` symbols to puncture, no two sharing a check where
    possible (untainted puncturing: Elkouss, Martinez-Mateo & Martin, IEEE Commun. Lett.
    16, 1348 (2012)), lowest degrees first, ties in seeded random order."""
    if p == 0:
        return np.zeros(0, dtype=np.int64)
    var_ptr, var_checks = code.var_checks
    order = rng.permutation(code.n)
    order = order[available[order]]
    # low degrees first: measured f 0.01-0.02 lower at Q = 4-6 % than a random order
    order = order[np.argsort(code.var_degree[order], kind="stable")]
    chosen = kern.untainted(order, var_ptr, var_checks, code.m, p).tolist()
    if len(chosen) < p:  # not enough untainted symbols: fill with random others
        rest = available.copy()
        rest[chosen] = False
        chosen.extend(rng.choice(np.flatnonzero(rest), size=p - len(chosen),
                                 replace=False).tolist())
    return np.sort(np.array(chosen, dtype=np.int64))


def _decoding_graph(code: LdpcCode, z: int, key: np.ndarray, punctured: np.ndarray,
                    shortened: np.ndarray, values: np.ndarray) -> DecodingGraph:
    """H without the columns of the shortened symbols that fill whole column blocks of
    the Z-fold lift (every symbol when Z = 1), their values folded into the syndrome."""
    whole = np.bincount(shortened // z, minlength=code.n // z) == z
    removed = whole[shortened // z]
    index = np.full(code.n, -1, dtype=np.int64)
    index[~np.repeat(whole, z)] = np.arange(code.n - z * int(whole.sum()))
    known = np.zeros(code.n, dtype=np.uint8)
    known[shortened[removed]] = values[removed]
    ptr, flat, offset = kern.prune_columns(code.check_ptr, code.check_vars, index, known)
    return DecodingGraph(check_ptr=ptr, check_vars=flat, lift=z, syndrome_offset=offset,
                         key=index[key], punctured=index[punctured],
                         shortened=index[shortened[~removed]],
                         shortened_values=values[~removed],
                         symbols=np.flatnonzero(index >= 0), removed=shortened[removed],
                         removed_values=values[removed])


def _words(adapted: AdaptedCode, key: np.ndarray, punct_values: np.ndarray) -> np.ndarray:
    return kern.place_columns(adapted.code.n, (
        (np.ascontiguousarray(key), adapted.key_positions),
        (np.ascontiguousarray(punct_values), adapted.punctured),
        (adapted.shortened_values[None, :], adapted.shortened)))


def ldpc_syndrome(adapted: AdaptedCode, alice_key: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Alice: (syndromes uint8[n_frames, m], punctured values uint8[n_frames, p]).

    Send the syndromes; keep the punctured values (revealed only by a blind retry).
    """
    key = as_frames(alice_key, "alice_key")
    if key.shape[1] != adapted.n_key:
        raise InvalidParameter("alice_key.shape[-1]", key.shape[1], f"must be {adapted.n_key}")
    punct = rng.integers(0, 2, (key.shape[0], adapted.punctured.shape[0]), dtype=np.uint8)
    words = _words(adapted, key, punct)
    return kern.syndromes(words, adapted.code.check_ptr, adapted.code.check_vars), punct


def ldpc_decode(adapted: AdaptedCode, bob_key: np.ndarray, syndrome: np.ndarray,
                qber: float, revealed: np.ndarray | None = None,
                revealed_values: np.ndarray | None = None, known: np.ndarray | None = None,
                known_values: np.ndarray | None = None,
                full: bool = False, decoder: str = "fixed",
                states: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bob: (corrected key uint8[n_frames, n_key], converged bool[n_frames]).

    ``revealed`` (indices into the punctured positions) and their values (per frame) come
    from a blind retry, ``known`` (indices into the key bits) and their values from a
    rescue (:func:`rescue_symbols`); both are decoded as shortened symbols. ``full``:
    return the decoded words of all ``n`` symbols instead of the key bits. ``decoder``:
    "fixed" (int16 box-plus, 32 frames per vector: the fast default) or "float" (float32
    sum-product in the tanh domain, 16 per vector); both layered BP with the same schedule,
    stopping rules and message cap, and measured to decode as well (docs/reconciliation.md).
    ``states`` (one entry per frame, None at first): with the fixed decoder on the long
    codes (decoded one frame at a time anyway), a frame that fails leaves its decoder
    state there and its next attempt (a blind retry) continues from it; elsewhere every
    attempt starts afresh and the entries stay None.
    """
    check_range("qber", qber, low=0.0, high=0.5, high_inclusive=False)
    if decoder not in DECODERS:
        raise InvalidParameter("decoder", decoder, f"must be one of {', '.join(DECODERS)}")
    key = as_frames(bob_key, "bob_key")
    syn = np.array(np.asarray(syndrome, dtype=np.uint8).reshape(key.shape[0], -1))
    if key.shape[1] != adapted.n_key or syn.shape[1] != adapted.code.m:
        raise InvalidParameter("frame", f"{key.shape[1]} key bits, {syn.shape[1]} syndrome",
                               f"must be {adapted.n_key} key bits, {adapted.code.m} syndrome")
    q = min(max(qber, 1e-4), 0.499)
    unit, dtype = (fixed.UNIT, np.int16) if decoder == "fixed" else (_LLR_UNIT, np.float32)
    known_llr = dtype(_LLR_KNOWN * unit)
    g = adapted.graph
    llr = np.zeros((key.shape[0], g.symbols.shape[0]), dtype=dtype)
    kern.set_llrs(llr, key, g.key, dtype(round(unit * math.log((1 - q) / q))))
    kern.set_llrs(llr, g.shortened_values[None, :], g.shortened, known_llr)
    for where, index, given in ((g.punctured, revealed, revealed_values),
                                (g.key, known, known_values)):
        if index is not None and len(index):
            given = np.asarray(given, dtype=np.uint8).reshape(key.shape[0], -1)
            kern.set_llrs(llr, given, where[index], known_llr)
    syn ^= g.syndrome_offset
    if decoder == "fixed" and states is not None and fixed.rows_always(g.symbols.shape[0],
                                                                       g.lift):
        bits, ok, _ = fixed.decode_continued(llr, syn, g.check_ptr, g.check_vars, MAX_ITER,
                                             PATIENCE, states, g.lift)
    elif decoder == "fixed":
        bits, ok, _ = fixed.decode_fixed(llr, syn, g.check_ptr, g.check_vars, MAX_ITER,
                                         PATIENCE, g.lift)
    else:
        bits, ok, _ = kern.decode_layered_bp(llr, syn, g.check_ptr, g.check_vars, MAX_ITER,
                                             _PHI, PATIENCE)
    if not full:
        return bits[:, g.key], ok
    return kern.place_columns(adapted.code.n, ((bits, g.symbols),
                                               (g.removed_values[None, :], g.removed))), ok


def rescue_symbols(adapted: AdaptedCode, words: np.ndarray,
                   syndrome: np.ndarray) -> list[np.ndarray]:
    """Per frame, the key bits (indices into the frame's key) in the checks that the
    decoded ``words`` (uint8[n_frames, n], ``ldpc_decode(..., full=True)``) leave
    unsatisfied; empty where there are none or more than RESCUE_MAX_SYMBOLS.

    A frame that still fails after the blind retries is stuck in a trapping set: a few
    wrong symbols around one or two unsatisfied checks. Alice's values of the key symbols
    in those checks (each one leaked) let Bob decode it (measured: 3 of 3 such frames at
    Q = 6 %, 15-32 symbols each)."""
    code = adapted.code
    words = np.atleast_2d(np.asarray(words, dtype=np.uint8))
    syn = np.asarray(syndrome, dtype=np.uint8).reshape(words.shape[0], -1)
    unsat = kern.syndromes(words, code.check_ptr, code.check_vars) ^ syn
    key_index = np.full(code.n, -1, dtype=np.int64)
    key_index[adapted.key_positions] = np.arange(adapted.n_key)
    out = []
    for row in unsat:
        symbols = [code.check_vars[code.check_ptr[c]:code.check_ptr[c + 1]]
                   for c in np.flatnonzero(row)]
        idx = key_index[np.unique(np.concatenate(symbols))] if symbols else key_index[:0]
        idx = idx[idx >= 0]
        out.append(idx if idx.size <= RESCUE_MAX_SYMBOLS else idx[:0])
    return out


def ldpc_reconcile_in_memory(alice_key: np.ndarray, bob_key: np.ndarray, qber_estimate: float,
                             rng: np.random.Generator, *, n: int | None = None,
                             blind_steps: int = 3, efficiency: float | None = None,
                             span: float = BLIND_SPAN, rescue: bool = True,
                             decoder: str = "fixed") -> ReconciliationResult:
    """Syndrome reconciliation of frames of ``ldpc_frame_length(n)`` bits, in process (``n``
    defaults to :func:`code_length` of the QBER estimate, the start ``efficiency`` to
    :func:`start_efficiency` of ``n``).

    With ``blind_steps`` > 0, frames that fail are retried up to that many times, each
    time with a further ``p / blind_steps`` punctured values revealed (and leaked); with
    ``rescue``, frames still failing then get Alice's values of their
    :func:`rescue_symbols` (leaked too) and another attempt, up to RESCUE_ROUNDS times;
    ``decoder`` as in :func:`ldpc_decode`.
    """
    alice = as_frames(alice_key, "alice_key")
    bob = as_frames(bob_key, "bob_key")
    if alice.shape != bob.shape:
        raise InvalidParameter("bob_key.shape", bob.shape, f"must equal alice's {alice.shape}")
    adapted = adapt_code(qber_estimate, int(rng.integers(0, 2**63 - 1)), n, efficiency, span)
    syn, punct = ldpc_syndrome(adapted, alice, rng)
    states: list = [None] * alice.shape[0]  # decoder states of failed frames (ldpc_decode)
    words, ok = ldpc_decode(adapted, bob, syn, qber_estimate, full=True, decoder=decoder,
                            states=states)
    leaked = np.full(alice.shape[0], adapted.leaked_bits, dtype=np.int64)
    round_trips = 1
    p = adapted.punctured.shape[0]
    reveal = np.arange(0)
    for step in range(1, blind_steps + 1):
        failed = np.nonzero(~ok)[0]
        if failed.size == 0 or p == 0:
            break
        reveal = np.arange(adapted.revealed_after(step, blind_steps))
        retried = [states[f] for f in failed]
        words[failed], ok[failed] = ldpc_decode(adapted, bob[failed], syn[failed],
                                                qber_estimate, reveal,
                                                punct[np.ix_(failed, reveal)], full=True,
                                                decoder=decoder, states=retried)
        for f, state in zip(failed, retried, strict=True):
            states[f] = state
        leaked[failed] = adapted.leaked_bits + reveal.shape[0]
        round_trips += 1
    known: dict[int, np.ndarray] = {}  # rescue: Alice's key bits around the stuck checks
    for _ in range(RESCUE_ROUNDS if rescue else 0):
        failed = np.nonzero(~ok)[0]
        if failed.size == 0:
            break
        asked = 0
        for f, new in zip(failed, rescue_symbols(adapted, words[failed], syn[failed]),
                          strict=True):
            prev = known.get(f, new[:0])
            idx = np.union1d(prev, new)
            if idx.size > prev.size:
                leaked[f] += idx.size - prev.size
                asked += 1
                known[f] = idx
                word, good = ldpc_decode(adapted, bob[f], syn[f], qber_estimate, reveal,
                                         punct[f, reveal], idx, alice[f, idx], full=True,
                                         decoder=decoder)
                words[f], ok[f] = word[0], good[0]
        round_trips += 1
        if not asked:
            break
    corrected = words[:, adapted.key_positions]
    errors = np.count_nonzero(bob != alice, axis=1)
    return ReconciliationResult(
        method="ldpc", corrected=corrected if np.ndim(bob_key) == 2 else corrected[0],
        converged=ok, leaked_bits_per_frame=leaked, errors_corrected_per_frame=errors,
        round_trips=round_trips, frame_length=alice.shape[1])
