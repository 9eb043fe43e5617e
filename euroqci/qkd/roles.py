"""Alice's and Bob's halves of one post-processing block, over an authenticated channel.

Stages (each closed by one Wegman-Carter tag per direction, see
:mod:`euroqci.qkd.authentication`):

1. sifting -- Bob announces his bases, Alice her bases and intensity labels;
2. estimation -- Alice discloses her test-basis (Z) bits, Bob returns the error counts per
   intensity; both run the same decoy/finite-key check and abort together if no key;
3. reconciliation -- Cascade (Bob asks, Alice answers parities, many frames per round trip)
   or one-way LDPC (Alice sends syndromes);
4. verification -- Alice sends a fresh hash key and her tag; Bob answers ok/failed and the
   corrected-error counts per intensity. A failed block is discarded by both;
5. amplification -- both compute the final length from the observed counts and the bits
   actually disclosed; Alice sends the Toeplitz seed; both hash.

Every decision depends only on data both ends hold, so both abort at the same point
(:class:`~euroqci.errors.ProtocolAbort`). The final key's first bits refill the
authentication pool to its initial size; the rest is the block's output.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

import numpy as np

from euroqci.errors import InvalidParameter, ProtocolAbort, check_range
from euroqci.physics.sources import DecoySource
from euroqci.qkd import amplification, estimation, verification
from euroqci.qkd.authentication import AuthenticatedChannel
from euroqci.qkd.cascade import (
    VARIANTS,
    CascadeOracle,
    ParityRequest,
    cascade_block_sizes,
    cascade_permutations,
    cascade_reconcile,
    pack_parities,
    unpack_parities,
)
from euroqci.qkd.ldpc import (
    RESCUE_MAX_SYMBOLS,
    RESCUE_ROUNDS,
    adapt_code,
    code_length,
    ldpc_decode,
    ldpc_frame_length,
    ldpc_syndrome,
    rescue_symbols,
)
from euroqci.qkd.reconciliation import binary_entropy, choose_method
from euroqci.qkd.sifting import (
    pack_bits,
    pack_labels,
    per_intensity,
    sift,
    unpack_bits,
    unpack_labels,
)

RECONCILIATION_CHOICES = ("auto", "cascade", "ldpc")
BLIND_STEPS = 3  # LDPC retries revealing more punctured symbols (Martinez-Mateo et al. 2012)
STAGES = ("sifting", "estimation", "reconciliation", "verification", "amplification")


class VerificationFailed(ProtocolAbort):
    """The keys differ after reconciliation; the block is discarded at both ends."""


@dataclass(frozen=True)
class ProtocolConfig:
    """Post-processing parameters both ends must agree on.

    ``cascade_variant`` (one of :data:`euroqci.qkd.cascade.VARIANTS`): ``"pow2"`` leaks
    ~0.008 less in f than ``"optimized"`` with fewer round trips and the same frame error
    rate (docs/benchmarks.md). ``classical_rtt_s``: the classical channel's round-trip
    time, s, as both ends agreed it (measured by ``pipeline.run_role``; 0 in process); the
    ``"auto"`` reconciliation takes it into account (:func:`choose_method`).
    """

    source: DecoySource = field(default_factory=DecoySource)
    frame_bits: int = 16384
    eps_sec: float = 1e-9
    eps_cor: float = 1e-15
    ec_efficiency: float = 1.16
    reconciliation: str = "auto"
    cascade_variant: str = "pow2"
    pa_workers: int = 1
    classical_rtt_s: float = 0.0

    def __post_init__(self) -> None:
        if self.reconciliation not in RECONCILIATION_CHOICES:
            raise InvalidParameter("reconciliation", self.reconciliation,
                                   "one of " + ", ".join(RECONCILIATION_CHOICES))
        if self.frame_bits < 64:
            raise InvalidParameter("frame_bits", self.frame_bits, ">= 64")
        check_range("classical_rtt_s", self.classical_rtt_s, low=0.0)
        if self.cascade_variant not in VARIANTS:
            raise InvalidParameter("cascade_variant", self.cascade_variant,
                                   "one of " + ", ".join(VARIANTS))


@dataclass
class BlockOutcome:
    """What one role learned about one block (no key material except ``key``)."""

    block_id: int
    sifted_bits: int = 0
    qber: float = float("nan")
    method: str = ""
    leaked_bits: int = 0
    efficiency: float = float("nan")
    round_trips: int = 0
    verification_failed: bool = False
    length_bits: int = 0
    auth_refill_bits: int = 0
    abort_reason: str | None = None
    stage_s: dict[str, float] = field(default_factory=dict)
    key: bytes | None = field(default=None, repr=False)
    pending: Future | None = field(default=None, repr=False)

    def wait(self) -> BlockOutcome:
        """Wait for a privacy amplification in flight and set ``key``."""
        if self.pending is not None:
            packed = self.pending.result()
            self.key = packed[self.auth_refill_bits // 8 :].tobytes()
            self.pending = None
        return self


class _Timer:
    def __init__(self, outcome: BlockOutcome):
        self.outcome, self.t = outcome, time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.outcome.stage_s[stage] = self.outcome.stage_s.get(stage, 0.0) + now - self.t
        self.t = now


def _frames(bits: np.ndarray, frame_bits: int) -> np.ndarray:
    return bits.reshape(-1, frame_bits)


def _method(cfg: ProtocolConfig, qber: float) -> str:
    if cfg.reconciliation != "auto":
        return cfg.reconciliation
    return choose_method(qber, cfg.classical_rtt_s)


def _whole_frames(cfg: ProtocolConfig, method: str, qber: float,
                  key_index: np.ndarray) -> np.ndarray:
    """The key positions cut to whole reconciliation frames (the tail is not used)."""
    frame = cfg.frame_bits if method == "cascade" else ldpc_frame_length(code_length(qber))
    if key_index.size < frame:
        raise ProtocolAbort(f"{key_index.size} sifted key bits: fewer than one {method} "
                            f"frame of {frame} bits (lengthen the block)")
    return key_index[: key_index.size - key_index.size % frame]


def _counts(cfg, intensity, key_index, test_index, m_x, m_z, n_pulses):
    k = len(cfg.source.intensities)
    return estimation.observed_counts(
        cfg.source, per_intensity(intensity[key_index], k), m_x,
        per_intensity(intensity[test_index], k), m_z, n_pulses)


def _estimate(cfg, out, timer, intensity, sifted, m_z, n_pulses):
    """Both ends: decoy and finite-key estimate from the announced test-basis errors (may
    abort), then the reconciliation method; returns the estimate and the key positions."""
    k = len(cfg.source.intensities)
    counts = _counts(cfg, intensity, sifted.key_index, sifted.test_index, np.zeros(k), m_z,
                     n_pulses)
    timer.lap("estimation")  # before a possible abort, so aborted blocks are timed too
    est = estimation.estimate(counts, ec_efficiency=cfg.ec_efficiency, eps_sec=cfg.eps_sec,
                              eps_cor=cfg.eps_cor, method=estimation.finite_key_method(cfg.source))
    out.qber = est.qber_test
    out.method = _method(cfg, est.qber_test)
    return est, _whole_frames(cfg, out.method, est.qber_test, sifted.key_index)


def _finish(ch: AuthenticatedChannel, cfg, out, counts, key, seed, timer,
            executor: Executor | None, spectra: amplification.SeedSpectra | None) -> BlockOutcome:
    """Amplification common to both ends: final length, then the Toeplitz hash -- on
    ``executor`` if given (the next block's protocol can run meanwhile) -- whose first bits
    refill the authentication pool (promised now, settled in order) and the rest is the key.
    """
    bound = estimation.secret_length(counts, out.leaked_bits, eps_sec=cfg.eps_sec,
                                     eps_cor=cfg.eps_cor, method=estimation.finite_key_method(
                                         cfg.source))
    length = int(bound.length_bits)
    refill = -(-(ch.initial_pool_bits - ch.pool.available_bits) // 8)
    if 8 * refill >= length:
        raise ProtocolAbort(f"final key of {length} bits does not cover the "
                            f"{8 * refill} authentication bits it must refill")
    out.length_bits, out.auth_refill_bits = length, 8 * refill

    def amplify() -> np.ndarray:
        t0 = time.perf_counter()
        final = amplification.toeplitz_hash(key, seed, length, workers=cfg.pa_workers,
                                            spectra=spectra)
        packed = np.packbits(final[: 8 * (length // 8)])
        out.stage_s["amplification"] = out.stage_s.get("amplification", 0.0) + \
            time.perf_counter() - t0
        return packed

    if executor is None:
        done: Future = Future()
        done.set_result(amplify())
        out.pending = done
    else:
        out.pending = executor.submit(amplify)
    ch.pool.promise(refill, lambda f=out.pending: f.result()[:refill].tobytes())
    timer.lap("amplification")
    return out


def alice_block(ch: AuthenticatedChannel, cfg: ProtocolConfig, out: BlockOutcome,
                n_pulses: int, intensity: np.ndarray, basis: np.ndarray, bits: np.ndarray,
                rng: np.random.Generator, executor: Executor | None = None,
                spectra: amplification.SeedSpectra | None = None) -> BlockOutcome:
    """Alice's side of one block: fills ``out`` (call ``out.wait()`` for the key) or raises.
    ``spectra`` shares the Toeplitz seed's transform with Bob's end in the same process."""
    timer = _Timer(out)
    msg = ch.recv("bases")
    ch.send("announce", basis=pack_bits(basis), n=int(basis.size),
            intensity=pack_labels(intensity, len(cfg.source.intensities)))
    ch.end_stage("sifting")
    if int(msg["n"]) != basis.size:  # Bob sees the same mismatch and aborts too
        raise ProtocolAbort(f"mismatched lengths: Bob reports {msg['n']} detections, "
                            f"Alice has {basis.size}")
    sifted = sift(basis, unpack_bits(msg["basis"], basis.size))
    out.sifted_bits = int(sifted.key_index.size)
    timer.lap("sifting")

    ch.send("test", bits=pack_bits(bits[sifted.test_index]))
    m_z = np.asarray(ch.recv("test-errors")["m_z"], dtype=np.int64)
    ch.end_stage("estimation")
    est, key_index = _estimate(cfg, out, timer, intensity, sifted, m_z, n_pulses)
    key = bits[key_index]
    if out.method == "cascade":
        out.leaked_bits, out.round_trips = _cascade_alice(ch, cfg, key)
    else:
        out.leaked_bits, out.round_trips, kept = _ldpc_alice(ch, key, est.qber_test, rng)
        key, key_index = key[kept], key_index[kept]
    ch.end_stage("reconciliation")
    timer.lap("reconciliation")

    hash_key = verification.draw_hash_key(rng)
    tag_bits = verification.tag_length_bits(key.size, cfg.eps_cor)
    tag = verification.key_tag(key, hash_key, tag_bits)
    ch.send("verify", key=hash_key.to_bytes(16, "big"), tag=tag.to_bytes(16, "big"),
            bits=tag_bits)
    reply = ch.recv("verify-result")
    ch.end_stage("verification")
    out.leaked_bits += tag_bits
    timer.lap("verification")
    if not reply["ok"]:
        out.verification_failed = True
        raise VerificationFailed("verification hash mismatch: block discarded")
    counts = _counts(cfg, intensity, key_index, sifted.test_index, reply["m_x"], m_z, n_pulses)
    out.efficiency = _efficiency(out.leaked_bits - tag_bits, key.size, counts)

    seed = amplification.random_seed(key.size, rng)
    ch.send("pa-seed", seed=np.packbits(seed))
    ch.end_stage("amplification")
    return _finish(ch, cfg, out, counts, key, seed, timer, executor, spectra)


def bob_block(ch: AuthenticatedChannel, cfg: ProtocolConfig, out: BlockOutcome, n_pulses: int,
              basis: np.ndarray, bits: np.ndarray, rng: np.random.Generator,
              executor: Executor | None = None,
              spectra: amplification.SeedSpectra | None = None) -> BlockOutcome:
    """Bob's side of one block: fills ``out`` (call ``out.wait()`` for the key) or raises."""
    timer = _Timer(out)
    ch.send("bases", basis=pack_bits(basis), n=int(basis.size))
    msg = ch.recv("announce")
    ch.end_stage("sifting")
    if int(msg["n"]) != basis.size:  # Alice sees the same mismatch and aborts too
        raise ProtocolAbort(f"mismatched lengths: Alice announced {msg['n']} "
                            f"detections, Bob has {basis.size}")
    intensity = unpack_labels(msg["intensity"], basis.size, len(cfg.source.intensities))
    sifted = sift(unpack_bits(msg["basis"], basis.size), basis)
    out.sifted_bits = int(sifted.key_index.size)
    timer.lap("sifting")

    k = len(cfg.source.intensities)
    alice_test = unpack_bits(ch.recv("test")["bits"], sifted.test_index.size)
    wrong = alice_test != bits[sifted.test_index]
    m_z = per_intensity(intensity[sifted.test_index][wrong], k)
    ch.send("test-errors", m_z=m_z)
    ch.end_stage("estimation")
    est, key_index = _estimate(cfg, out, timer, intensity, sifted, m_z, n_pulses)
    raw = bits[key_index]
    if out.method == "cascade":
        key, out.leaked_bits, out.round_trips = _cascade_bob(ch, cfg, raw, est.qber_test, rng)
    else:
        key, out.leaked_bits, out.round_trips, kept = _ldpc_bob(ch, raw, est.qber_test)
        raw, key, key_index = raw[kept], key[kept], key_index[kept]
    ch.end_stage("reconciliation")
    timer.lap("reconciliation")

    msg = ch.recv("verify")
    tag_bits = int(msg["bits"])
    ok = verification.key_tag(key, int.from_bytes(msg["key"], "big"), tag_bits) == \
        int.from_bytes(msg["tag"], "big")
    m_x = per_intensity(intensity[key_index][key != raw], k)
    ch.send("verify-result", ok=bool(ok), m_x=m_x)
    ch.end_stage("verification")
    out.leaked_bits += tag_bits
    timer.lap("verification")
    if not ok:
        out.verification_failed = True
        raise VerificationFailed("verification hash mismatch: block discarded")
    counts = _counts(cfg, intensity, key_index, sifted.test_index, m_x, m_z, n_pulses)
    out.efficiency = _efficiency(out.leaked_bits - tag_bits, key.size, counts)

    seed = unpack_bits(ch.recv("pa-seed")["seed"], amplification.seed_length_bits(key.size))
    ch.end_stage("amplification")
    return _finish(ch, cfg, out, counts, key, seed, timer, executor, spectra)


def _cascade_alice(ch: AuthenticatedChannel, cfg: ProtocolConfig,
                     key: np.ndarray) -> tuple[int, int]:
    """Alice answers Cascade's parity questions until Bob is done: (leaked bits, round trips)."""
    start = ch.recv("cascade-start")
    n_passes = cascade_block_sizes(cfg.frame_bits, float(start["qber"]),
                                   cfg.cascade_variant).size
    oracle = CascadeOracle(_frames(key, cfg.frame_bits),
                           cascade_permutations(cfg.frame_bits, n_passes, int(start["seed"])))
    round_trips = 0
    while True:
        kind, fields = ch.recv_any()
        if kind == "cascade-done":
            return int(fields["leaked"]), round_trips
        if kind != "parity-request":
            raise ProtocolAbort(f"unexpected message {kind!r} during Cascade")
        ch.send("parity-answer", p=pack_parities(oracle(ParityRequest.from_bytes(fields["q"]))))
        round_trips += 1


def _cascade_bob(ch: AuthenticatedChannel, cfg: ProtocolConfig, raw: np.ndarray, qber: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """Bob drives Cascade with the test-basis QBER: (corrected key, leaked bits, round trips)."""
    seed = int(rng.integers(0, 2**62))
    qber = max(qber, 1e-4)
    ch.send("cascade-start", seed=seed, qber=qber)

    def ask(request: ParityRequest) -> np.ndarray:
        ch.send("parity-request", q=request.to_bytes())
        return unpack_parities(ch.recv("parity-answer")["p"], len(request))

    result = cascade_reconcile(_frames(raw, cfg.frame_bits), qber, ask, seed,
                               variant=cfg.cascade_variant)
    ch.send("cascade-done", leaked=result.leaked_bits)
    return result.corrected.reshape(-1), result.leaked_bits, result.round_trips


def _adapted(qber: float, seed: int):
    try:
        return adapt_code(qber, seed)
    except InvalidParameter as exc:  # both ends raise it: a symmetric abort
        raise ProtocolAbort(f"LDPC reconciliation impossible: {exc}") from None


def _ldpc_alice(ch: AuthenticatedChannel, key: np.ndarray, qber: float,
                rng: np.random.Generator) -> tuple[int, int, np.ndarray]:
    """Alice sends syndromes, then punctured values for frames Bob could not decode
    (blind retries): (leaked bits, round trips, mask of the key bits kept)."""
    seed = int(rng.integers(0, 2**62))
    ch.send("ldpc-start", seed=seed)
    adapted = _adapted(qber, seed)
    syndromes, punctured = ldpc_syndrome(adapted, _frames(key, adapted.n_key), rng)
    ch.send("ldpc-syndrome", s=np.packbits(syndromes, axis=1))
    leaked = np.full(syndromes.shape[0], adapted.leaked_bits, dtype=np.int64)
    p, step = punctured.shape[1], 0
    while True:
        failed = np.asarray(ch.recv("ldpc-status")["failed"], dtype=np.int64)
        if failed.size == 0 or p == 0 or step == BLIND_STEPS:
            break
        step += 1
        reveal = np.arange(adapted.revealed_after(step, BLIND_STEPS))
        ch.send("ldpc-reveal", v=np.packbits(punctured[np.ix_(failed, reveal)]))
        leaked[failed] = adapted.leaked_bits + reveal.size
    for _ in range(RESCUE_ROUNDS):  # rescue: key bits around the checks left unsatisfied
        if failed.size == 0:
            break
        msg = ch.recv("ldpc-suspects")
        counts = np.asarray(msg["counts"], dtype=np.int64)
        index = np.asarray(msg["index"], dtype=np.int64)
        if counts.shape != failed.shape or counts.min() < 0 or counts.sum() != index.size \
                or counts.max() > RESCUE_MAX_SYMBOLS or index.size and (
                    index.min() < 0 or index.max() >= adapted.n_key):
            raise ProtocolAbort("malformed LDPC rescue request")
        frames = np.repeat(failed, counts)
        ch.send("ldpc-rescue", v=np.packbits(_frames(key, adapted.n_key)[frames, index]))
        leaked[failed] += counts
        failed = np.asarray(ch.recv("ldpc-status")["failed"], dtype=np.int64)
        step += 1
        if counts.sum() == 0:
            break
    ok = np.ones(syndromes.shape[0], dtype=bool)
    ok[failed] = False
    return int(leaked.sum()), step + 1, np.repeat(ok, adapted.n_key)


def _ldpc_bob(ch: AuthenticatedChannel, raw: np.ndarray,
              qber: float) -> tuple[np.ndarray, int, int, np.ndarray]:
    """Bob decodes; frames still failing after the blind retries are dropped at both ends:
    (corrected key, leaked bits, round trips, mask of the key bits kept)."""
    adapted = _adapted(qber, int(ch.recv("ldpc-start")["seed"]))
    frames = _frames(raw, adapted.n_key)
    m = adapted.code.m
    syndromes = np.unpackbits(ch.recv("ldpc-syndrome")["s"].reshape(frames.shape[0], -1),
                              axis=1, count=m)
    states: list = [None] * frames.shape[0]  # decoder states of failed frames (ldpc_decode)
    words, ok = ldpc_decode(adapted, frames, syndromes, qber, full=True, states=states)
    leaked = np.full(frames.shape[0], adapted.leaked_bits, dtype=np.int64)
    p, step = adapted.punctured.shape[0], 0
    reveal = np.arange(0)
    punct = np.zeros((frames.shape[0], p), dtype=np.uint8)  # punctured values revealed
    while True:
        failed = np.flatnonzero(~ok)
        ch.send("ldpc-status", failed=failed.astype(np.int64))
        if failed.size == 0 or p == 0 or step == BLIND_STEPS:
            break
        step += 1
        reveal = np.arange(adapted.revealed_after(step, BLIND_STEPS))
        values = unpack_bits(ch.recv("ldpc-reveal")["v"], failed.size * reveal.size)
        punct[failed, : reveal.size] = values.reshape(failed.size, reveal.size)
        retried = [states[f] for f in failed]
        words[failed], ok[failed] = ldpc_decode(adapted, frames[failed], syndromes[failed],
                                                qber, reveal, punct[failed, : reveal.size],
                                                full=True, states=retried)
        for f, state in zip(failed, retried, strict=True):
            states[f] = state
        leaked[failed] = adapted.leaked_bits + reveal.size
    known = np.zeros(frames.shape, dtype=bool)  # key bits Alice gave in rescue rounds
    alice_bits = np.zeros_like(frames)
    for _ in range(RESCUE_ROUNDS):  # rescue (ldpc.rescue_symbols): stuck frames
        if failed.size == 0:
            break
        asked = [k[~known[f, k]] for f, k in
                 zip(failed, rescue_symbols(adapted, words[failed], syndromes[failed]),
                     strict=True)]
        counts = np.array([k.size for k in asked], dtype=np.int64)
        index = np.concatenate(asked).astype(np.int64)
        ch.send("ldpc-suspects", counts=counts, index=index)
        given = unpack_bits(ch.recv("ldpc-rescue")["v"], index.size)
        frames_known = np.repeat(failed, counts)
        known[frames_known, index] = True
        alice_bits[frames_known, index] = given
        for j, f in enumerate(failed):
            if counts[j]:
                idx = np.flatnonzero(known[f])
                word, good = ldpc_decode(adapted, frames[f], syndromes[f], qber, reveal,
                                         punct[f, : reveal.size], idx, alice_bits[f, idx],
                                         full=True)
                words[f], ok[f] = word[0], good[0]
        leaked[failed] += counts
        failed = np.flatnonzero(~ok)
        ch.send("ldpc-status", failed=failed.astype(np.int64))
        step += 1
        if counts.sum() == 0:
            break
    return (words[:, adapted.key_positions].reshape(-1), int(leaked.sum()), step + 1,
            np.repeat(ok, adapted.n_key))


def _efficiency(leaked: int, n: int, counts) -> float:
    """f = leak / (n h(E_X)) with the observed key-basis error rate."""
    errors = float(np.sum(counts.m_x))
    denom = n * float(binary_entropy(errors / n)) if n else 0.0
    return leaked / denom if denom > 0 else float("inf")
