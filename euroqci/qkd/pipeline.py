"""The link engine: sampled detections -> post-processing -> identical key blocks at both ends.

:class:`LinkEngine` runs both roles in one process (as two greenlets of the caller's
thread) over a :class:`~euroqci.qkd.channel.CoroutineChannel`; :func:`run_role` runs ONE
role over any channel (TCP/TLS between two processes or hosts). The quantum channel is
simulated: both ends draw the same detection record of block ``b`` from the shared seed
(``default_rng([seed, 0, b])``) and each keeps only its own half (Alice: intensities, bases,
bits; Bob: his bases and bits) -- what a real pair of devices would hand to post-processing.

Key blocks leave through a :class:`KeySink` (the KMS device feed consumes them); a block
that aborted or failed verification is never delivered.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from euroqci.errors import ChannelError, InvalidParameter, ProtocolAbort, check_range
from euroqci.physics.link import LinkParameters
from euroqci.physics.optimise import KeyRate
from euroqci.physics.sources import DecoySource
from euroqci.qkd.amplification import SeedSpectra
from euroqci.qkd.authentication import AuthenticatedChannel, KeyPool
from euroqci.qkd.channel import Channel, CoroutineChannel, run_pair
from euroqci.qkd.events import DetectionRecord, Eavesdropper, EventModel, sample_detections
from euroqci.qkd.roles import STAGES, BlockOutcome, ProtocolConfig, alice_block, bob_block

Progress = Callable[[int, int], None]
#: (block_id, n_pulses) -> the block's detection record, the same for both ends: the
#: simulated quantum channel by default; a device driver or a recording otherwise.
DetectionSource = Callable[[int, int], DetectionRecord]


@dataclass(frozen=True)
class KeyBlock:
    """One block of final key, identical at both ends of the link. The repr hides the key."""

    stream_id: str
    block_id: int
    key: bytes = field(repr=False)


class KeySink(Protocol):
    """Where delivered key blocks go (the KMS implements this)."""

    def deliver(self, block: KeyBlock) -> None: ...


class KeyCollector:
    """A :class:`KeySink` that keeps the blocks in a list (tests, demos)."""

    def __init__(self) -> None:
        self.blocks: list[KeyBlock] = []

    def deliver(self, block: KeyBlock) -> None:
        self.blocks.append(block)


@dataclass(frozen=True)
class LinkConfig:
    """One link's engine settings (both ends must use the same)."""

    model: EventModel
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    block_pulses: int = 10**9
    stream_id: str = "link"
    eavesdropper: Eavesdropper | None = None
    preshared_key_bits: int = 1 << 16

    def __post_init__(self) -> None:
        check_range("block_pulses", self.block_pulses, low=1)
        check_range("preshared_key_bits", self.preshared_key_bits, low=256)


def optimised_config(link: LinkParameters, *, block_bits: float = 4e6, decoys: str = "2",
                     eps_sec: float = 1e-9, eps_cor: float = 1e-15,
                     **config: Any) -> tuple[LinkConfig, KeyRate]:
    """A :class:`LinkConfig` with the intensities, probabilities and p_x that maximise the
    finite-key rate of :func:`euroqci.physics.bb84.secret_key_rate` for blocks of
    ``block_bits`` key-basis bits (``decoys`` "2": Lim 2014, "1": Rusca 2018), and that
    prediction. ``config`` goes to :class:`LinkConfig` (``protocol`` fields are replaced).
    """
    from euroqci.physics.bb84 import secret_key_rate

    if decoys not in ("1", "2"):
        raise InvalidParameter("decoys", decoys, "1 or 2 (finite-key bounds)")
    rate = secret_key_rate(link, decoys=decoys, block_size=block_bits, eps_sec=eps_sec,
                           eps_cor=eps_cor)
    par = {k: float(v) for k, v in rate.parameters.items()}
    names = ("1", "2", "3") if decoys == "2" else ("1", "2")
    probs = np.array([par["p" + i] for i in names])
    source = DecoySource(tuple(par["mu" + i] for i in names), tuple(probs / probs.sum()))
    model = EventModel(float(link.channel_transmittance), link.detector, source, par["q_x"],
                       link.rep_rate_hz)
    base = config.pop("protocol", ProtocolConfig())
    protocol = replace(base, source=source, eps_sec=eps_sec, eps_cor=eps_cor,
                       ec_efficiency=link.ec_efficiency)
    pulses = config.pop("block_pulses", max(1, round(par["pulses_per_block"])))
    return LinkConfig(model, protocol, block_pulses=pulses, **config), rate


def sample_block(config: LinkConfig, seed: int, block_id: int, n_pulses: int) -> DetectionRecord:
    """The simulated quantum channel's record of block ``block_id`` (same at both ends)."""
    rng = np.random.default_rng([seed, 0, block_id])
    return sample_detections(config.model, n_pulses, rng, config.eavesdropper)


def preshared_key(seed: int, n_bits: int) -> bytes:
    """Demo pre-shared key derived from the seed (simulation only: use a real one in production)."""
    return np.random.default_rng([seed, 3]).bytes(-(-n_bits // 8))


def block_plan(config: LinkConfig, duration_s: float) -> list[tuple[int, int]]:
    """(block_id, pulses) for a run of ``duration_s`` at the model's repetition rate."""
    check_range("duration_s", duration_s, low=0.0, low_inclusive=False)
    total = int(round(duration_s * config.model.rep_rate_hz))
    if total < 1:
        raise InvalidParameter("duration_s", duration_s, "long enough for at least one pulse")
    sizes = [config.block_pulses] * (total // config.block_pulses)
    if total % config.block_pulses:
        sizes.append(total % config.block_pulses)
    return list(enumerate(sizes))


@dataclass
class LinkRunReport:
    """Totals of a run (both roles in process, or one role of a two-process run)."""

    pulses: int = 0
    detections: int = 0
    sifted_bits: int = 0
    test_bits_errors: tuple[int, int] = (0, 0)
    methods: Counter = field(default_factory=Counter)
    leaked_bits: int = 0
    reconciled_bits: int = 0
    entropy_bits: float = 0.0
    round_trips: int = 0
    verification_failures: int = 0
    auth_key_consumed_bits: int = 0
    secret_bits: int = 0
    pa_output_bits: int = 0
    blocks: int = 0
    blocks_delivered: int = 0
    aborts: Counter = field(default_factory=Counter)
    keys_identical: bool | None = None
    stage_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    link_s: float = 0.0
    classical_rtt_s: float | None = None

    def add(self, outcome: BlockOutcome, stage_s: dict[str, float]) -> None:
        self.blocks += 1
        self.sifted_bits += outcome.sifted_bits
        self.round_trips += outcome.round_trips
        for stage, seconds in stage_s.items():
            self.stage_s[stage] = self.stage_s.get(stage, 0.0) + seconds
        self.verification_failures += int(outcome.verification_failed)
        if outcome.abort_reason is not None:
            self.aborts[outcome.abort_reason] += 1
            return
        self.methods[outcome.method] += 1
        self.leaked_bits += outcome.leaked_bits
        self.reconciled_bits += outcome.sifted_bits
        if math.isfinite(outcome.efficiency) and outcome.efficiency > 0:
            self.entropy_bits += outcome.leaked_bits / outcome.efficiency
        self.blocks_delivered += 1
        self.pa_output_bits += outcome.length_bits
        self.secret_bits += 8 * len(outcome.key or b"")

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``euroqci link run`` (documented in docs/link-engine.md)."""
        errors, tested = self.test_bits_errors
        wall = max(self.wall_s, 1e-12)
        per_stage = {s: (self.sifted_bits / t if t > 0 else None)
                     for s, t in self.stage_s.items()}
        per_stage["end_to_end"] = self.sifted_bits / wall
        reason = next(iter(self.aborts), None)
        return {
            "pulses": self.pulses,
            "detections": self.detections,
            "sifted_bits": self.sifted_bits,
            "qber": errors / tested if tested else None,
            "reconciliation": {
                "method": ",".join(sorted(self.methods)) or None,
                "leaked_bits": self.leaked_bits,
                "efficiency": (self.leaked_bits / self.entropy_bits
                               if self.entropy_bits > 0 else None),
                "round_trips": self.round_trips,
            },
            "verification_failures": self.verification_failures,
            "auth_key_consumed_bits": self.auth_key_consumed_bits,
            "pa_output_bits": self.pa_output_bits,
            "secret_bits": self.secret_bits,
            "secret_fraction": self.secret_bits / self.sifted_bits if self.sifted_bits else 0.0,
            "keys_identical": self.keys_identical,
            "blocks": self.blocks,
            "blocks_delivered": self.blocks_delivered,
            "aborted": self.blocks_delivered == 0,
            "abort_reason": reason if self.blocks_delivered == 0 else None,
            "block_aborts": dict(self.aborts),
            "throughput_bps": per_stage,
            "wall_s": self.wall_s,
            "link_s": self.link_s,
            "link_seconds_per_wall_second": self.link_s / wall,
            "classical_rtt_ms": (None if self.classical_rtt_s is None
                                 else 1e3 * self.classical_rtt_s),
        }


def _record_block(report: LinkRunReport, record: DetectionRecord, config: LinkConfig) -> None:
    report.pulses += record.n_pulses
    report.detections += record.detections
    report.link_s += record.n_pulses / config.model.rep_rate_hz


def _role_block(role: str, ch: AuthenticatedChannel, config: LinkConfig, block_id: int,
                record: DetectionRecord, rng: np.random.Generator,
                executor: ThreadPoolExecutor | None,
                spectra: SeedSpectra | None = None) -> BlockOutcome:
    """Run one role on one block; symmetric aborts become an outcome, the rest propagate."""
    out = BlockOutcome(block_id)
    try:
        if role == "alice":
            return alice_block(ch, config.protocol, out, record.n_pulses, record.intensity,
                               record.alice_basis, record.alice_bit, rng, executor, spectra)
        return bob_block(ch, config.protocol, out, record.n_pulses, record.bob_basis,
                         record.bob_bit, rng, executor, spectra)
    except ProtocolAbort as abort:
        out.abort_reason, out.key = abort.reason, None
        return out
    except Exception:
        ch.channel.close()  # the peer then fails fast with ChannelError instead of waiting
        raise


def _test_errors(record: DetectionRecord) -> tuple[int, int]:
    """(errors, tested) in the sifted test basis -- for the report's QBER only."""
    test = (record.alice_basis & record.bob_basis).view(bool)  # both chose Z (label 1)
    return int(np.count_nonzero((record.alice_bit ^ record.bob_bit) & test)), \
        int(np.count_nonzero(test))


def _timed_sample(draw: DetectionSource, block_id: int,
                  n_pulses: int) -> tuple[DetectionRecord, float, tuple[int, int]]:
    """The record, its sampling seconds and its test errors (on the sampler's worker)."""
    t0 = time.perf_counter()
    record = draw(block_id, n_pulses)
    return record, time.perf_counter() - t0, _test_errors(record)


def _sampler(config: LinkConfig, seed: int) -> DetectionSource:
    """The simulated quantum channel as a :data:`DetectionSource`."""
    return lambda block_id, n_pulses: sample_block(config, seed, block_id, n_pulses)


class _Prefetcher:
    """Draws block b + 1's detection record on a worker while block b is post-processed
    (the sampler's kernel and numpy's generators release the GIL)."""

    def __init__(self, config: LinkConfig, draw: DetectionSource, plan: list[tuple[int, int]],
                 executor: ThreadPoolExecutor):
        self._config, self._draw, self._plan = config, draw, plan
        self._executor = executor
        self._next = executor.submit(_timed_sample, draw, *plan[0]) if plan else None

    def take(self, index: int, report: LinkRunReport) -> tuple[DetectionRecord, float]:
        record, sample_s, (errors, tested) = self._next.result()
        following = index + 1
        self._next = (self._executor.submit(_timed_sample, self._draw, *self._plan[following])
                      if following < len(self._plan) else None)
        _record_block(report, record, self._config)
        report.test_bits_errors = (report.test_bits_errors[0] + errors,
                                   report.test_bits_errors[1] + tested)
        return record, sample_s


def _merged_stages(sample_s: float, *outcomes: BlockOutcome) -> dict[str, float]:
    """Per-stage seconds of a block: the slower end (they run concurrently)."""
    return {"events": sample_s} | {
        s: max(o.stage_s.get(s, 0.0) for o in outcomes) for s in STAGES
        if any(s in o.stage_s for o in outcomes)}


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc mallopt(3)


@functools.cache
def _keep_freed_memory() -> bool:
    """Ask glibc malloc (once per process) to serve arrays up to 32 MiB from its heap and
    keep freed memory: every block allocates and frees tens of MB of temporaries, and fresh
    mmap'd pages cost a page fault each (~12 % of the pipeline's CPU time, measured).
    Returns False where malloc is not glibc's (nothing changes then)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return all(libc.mallopt(option, value) == 1 for option, value in (
            (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 34), (_M_TOP_PAD, 1 << 28)))
    except (OSError, AttributeError):
        return False


class LinkEngine:
    """Both ends of one simulated link in one process.

    Alice and Bob run as two greenlets of the caller's thread over a
    :class:`~euroqci.qkd.channel.CoroutineChannel` (each Cascade round trip is then two
    cheap switches, not two thread hand-offs); each end hashes its privacy amplification
    on its own worker thread while the next block's protocol runs (the FFTs release the
    GIL), and the next block's detections are drawn meanwhile on another worker.

    ``detections`` replaces the simulated quantum channel (:data:`DetectionSource`: e.g.
    records from devices, or drawn in advance to time the post-processing alone).

    ``lanes > 1`` (opt-in) runs blocks ``lane, lane + lanes, ...`` in ``lanes`` forked
    processes at once, each lane an independent authenticated channel with its own slice
    of the pre-shared key and its own protocol randomness; blocks are delivered in order.
    (The kernels release the GIL, but lanes as threads measured no faster on 2 loaded
    cores: the per-round-trip Python glue of the two Cascades contends for the GIL.) Such
    an engine runs once (its pools live in the lanes); fork it from a process without
    other threads running.
    """

    def __init__(self, config: LinkConfig, seed: int = 0, *, alice_sink: KeySink | None = None,
                 bob_sink: KeySink | None = None, lanes: int = 1,
                 detections: DetectionSource | None = None, _lane: int = 0):
        check_range("lanes", lanes, low=1)
        _keep_freed_memory()
        self.config, self.seed, self.lanes = config, seed, int(lanes)
        self._detections = detections if detections is not None else _sampler(config, seed)
        self.alice_sink, self.bob_sink = alice_sink, bob_sink
        a_end, b_end = self._ends = CoroutineChannel.pair()
        psk = preshared_key(seed, config.preshared_key_bits)
        if lanes > 1:  # disjoint pads per lane; a lane's randomness is its own stream
            size = len(psk) // lanes
            psk = psk[_lane * size : (_lane + 1) * size]
        self._alice = AuthenticatedChannel(a_end, KeyPool(psk), "alice")
        self._bob = AuthenticatedChannel(b_end, KeyPool(psk), "bob")
        stream = [_lane] if lanes > 1 else []
        self._rng = {"alice": np.random.default_rng([seed, 1, *stream]),
                     "bob": np.random.default_rng([seed, 2, *stream])}
        self._next_block = 0
        self._spectra = SeedSpectra(users=2)  # one seed transform serves both ends

    def _settle(self, report: LinkRunReport, alice: BlockOutcome, bob: BlockOutcome,
                sample_s: float) -> Iterator[KeyBlock]:
        report.add(alice, _merged_stages(sample_s, alice, bob))
        if alice.key is None:
            return
        report.keys_identical = alice.key == bob.key and report.keys_identical is not False
        a_block = KeyBlock(self.config.stream_id, alice.block_id, alice.key)
        if self.alice_sink is not None:
            self.alice_sink.deliver(a_block)
        if self.bob_sink is not None:
            self.bob_sink.deliver(KeyBlock(self.config.stream_id, bob.block_id, bob.key))
        yield a_block

    def _protocol(self, plan: list[tuple[int, int]], report: LinkRunReport,
                  progress: Progress | None, total: int, start: float) -> Iterator[tuple]:
        """Run both ends over ``plan``; yield (alice, bob, sample seconds) of each block,
        one block behind (its hashes finish while the next block's protocol runs)."""
        pending = None
        with ThreadPoolExecutor(1, "alice-pa") as alice_pa, \
                ThreadPoolExecutor(1, "bob-pa") as bob_pa, \
                ThreadPoolExecutor(1, "sampler") as sampler:
            records = _Prefetcher(self.config, self._detections, plan, sampler)
            for index, (block_id, _) in enumerate(plan):
                record, sample_s = records.take(index, report)
                alice, bob = run_pair(self._ends, (
                    functools.partial(_role_block, "alice", self._alice, self.config, block_id,
                                      record, self._rng["alice"], alice_pa, self._spectra),
                    functools.partial(_role_block, "bob", self._bob, self.config, block_id,
                                      record, self._rng["bob"], bob_pa, self._spectra)))
                if (alice.abort_reason is None) != (bob.abort_reason is None):
                    raise ChannelError(f"block {block_id}: the ends disagree "
                                       f"({alice.abort_reason!r} vs {bob.abort_reason!r})")
                if pending is not None:
                    yield pending
                pending = (alice, bob, sample_s)
                report.auth_key_consumed_bits = self._alice.pool.consumed_bits
                report.wall_s = time.perf_counter() - start
                if progress is not None:
                    progress(report.pulses, total)
            if pending is not None:
                yield pending

    def blocks(self, duration_s: float, report: LinkRunReport | None = None,
               progress: Progress | None = None) -> Iterator[KeyBlock]:
        """Run for ``duration_s`` of link time, yielding Alice's delivered blocks in order."""
        report = report if report is not None else LinkRunReport()
        plan = block_plan(self.config, duration_s)
        total = sum(n for _, n in plan)
        start = time.perf_counter()
        first = self._next_block
        plan = [(first + i, n) for i, n in plan]
        self._next_block += len(plan)
        if self.lanes > 1:
            if first > 0:
                raise InvalidParameter("lanes", self.lanes, "1 to run an engine more than once")
            yield from _lanes(self, plan, report, progress, total, start)
        else:
            for alice, bob, sample_s in self._protocol(plan, report, progress, total, start):
                alice.wait(), bob.wait()
                yield from self._settle(report, alice, bob, sample_s)
        report.wall_s = time.perf_counter() - start

    def run(self, duration_s: float, progress: Progress | None = None) -> LinkRunReport:
        """Run for ``duration_s`` seconds of link time; blocks go to the sinks."""
        report = LinkRunReport()
        for _ in self.blocks(duration_s, report, progress):
            pass
        return report


_COUNTED = ("pulses", "detections", "link_s")


def _lane_main(config: LinkConfig, seed: int, lane: int, lanes: int,
               plan: list[tuple[int, int]], detections: DetectionSource, out) -> None:
    """A lane's process: both ends of its blocks; each settled block (and the counts it
    added) goes to ``out``, then ("end", consumed authentication bits) or ("error", text)."""
    try:
        engine = LinkEngine(config, seed, lanes=lanes, detections=detections, _lane=lane)
        report = LinkRunReport()
        seen = dict.fromkeys(_COUNTED, 0) | {"tests": (0, 0)}
        for alice, bob, sample_s in engine._protocol(plan, report, None, 0, time.perf_counter()):
            alice.wait(), bob.wait()
            now = {k: getattr(report, k) for k in _COUNTED} | {"tests": report.test_bits_errors}
            delta = {k: now[k] - seen[k] for k in _COUNTED}
            delta["tests"] = tuple(a - b for a, b in zip(now["tests"], seen["tests"], strict=True))
            seen = now
            out.put(("block", alice, bob, sample_s, delta))
        out.put(("end", engine._alice.pool.consumed_bits))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _lanes(engine: LinkEngine, plan: list[tuple[int, int]], report: LinkRunReport,
           progress: Progress | None, total: int, start: float) -> Iterator[KeyBlock]:
    """Run ``plan`` in ``engine.lanes`` forked processes; settle the blocks in order."""
    import multiprocessing
    import queue

    ctx = multiprocessing.get_context("fork")
    lanes = engine.lanes
    queues = [ctx.Queue() for _ in range(lanes)]
    procs = [ctx.Process(target=_lane_main, daemon=True,
                         args=(engine.config, engine.seed, lane, lanes, plan[lane::lanes],
                               engine._detections, queues[lane])) for lane in range(lanes)]
    for proc in procs:
        proc.start()

    def take(lane: int) -> tuple:
        while True:
            try:
                msg = queues[lane].get(timeout=1.0)
            except queue.Empty:  # check that the lane is still alive
                if not procs[lane].is_alive():
                    raise ChannelError(f"lane {lane} ended without a result") from None
                continue
            if msg[0] == "error":
                raise ChannelError(f"lane {lane}: {msg[1]}")
            return msg

    try:
        for index in range(len(plan)):
            _, alice, bob, sample_s, delta = take(index % lanes)
            for key in _COUNTED:
                setattr(report, key, getattr(report, key) + delta[key])
            report.test_bits_errors = tuple(
                a + b for a, b in zip(report.test_bits_errors, delta["tests"], strict=True))
            yield from engine._settle(report, alice, bob, sample_s)
            report.wall_s = time.perf_counter() - start
            if progress is not None:
                progress(report.pulses, total)
        report.auth_key_consumed_bits = sum(take(lane)[1] for lane in range(lanes))
    finally:
        for proc in procs:
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.terminate()


RTT_PROBES = 5


def _agree_rtt(ch: AuthenticatedChannel, role: str) -> float:
    """The classical channel's round-trip time, s: Bob times RTT_PROBES ping/echo exchanges
    and announces their median, which both ends then use (stage ``rtt``, authenticated)."""
    if role == "bob":
        times = []
        for probe in range(RTT_PROBES):
            t0 = time.perf_counter()
            ch.send("ping", i=probe)
            ch.recv("pong")
            times.append(time.perf_counter() - t0)
        rtt = float(np.median(times))
        ch.send("rtt", s=rtt)
    else:
        for probe in range(RTT_PROBES):
            ch.recv("ping")
            ch.send("pong", i=probe)
        rtt = float(ch.recv("rtt")["s"])
        check_range("peer's round-trip time", rtt, low=0.0, high=60.0)
    ch.end_stage("rtt")
    return rtt


def run_role(role: str, config: LinkConfig, channel: Channel, seed: int, duration_s: float, *,
             psk: bytes | None = None, sink: KeySink | None = None,
             progress: Progress | None = None) -> LinkRunReport:
    """Run ONE end of the link over ``channel`` (e.g. TCP/TLS to the other process).

    A block is delivered only once the peer has shown it finished that block too: after
    the next block's protocol, or for the last block after an authenticated closing
    exchange (a drop at the very end can still leave one block at one end only). At the
    end both ends exchange SHA-256 digests of all delivered key bytes to fill
    ``keys_identical`` -- a simulation diagnostic (a deployment would skip it). First,
    both ends agree on the channel's round-trip time (``_agree_rtt``): with
    ``reconciliation="auto"`` a slow channel moves the QBER range of LDPC down
    (:func:`~euroqci.qkd.reconciliation.choose_method`).
    """
    if role not in ("alice", "bob"):
        raise InvalidParameter("role", role, "alice or bob")
    _keep_freed_memory()
    psk = psk if psk is not None else preshared_key(seed, config.preshared_key_bits)
    ch = AuthenticatedChannel(channel, KeyPool(psk), role)
    rng = np.random.default_rng([seed, 1 if role == "alice" else 2])
    report = LinkRunReport()
    digest = hashlib.sha256()
    plan = block_plan(config, duration_s)
    total = sum(n for _, n in plan)
    start = time.perf_counter()

    def deliver(done: tuple[BlockOutcome, float]) -> None:
        outcome, sample_s = done
        outcome.wait()
        report.add(outcome, {"events": sample_s} | outcome.stage_s)
        if outcome.key is not None:
            digest.update(outcome.key)
            if sink is not None:
                sink.deliver(KeyBlock(config.stream_id, outcome.block_id, outcome.key))

    pending = None
    with ThreadPoolExecutor(1, f"{role}-pa") as pa, ThreadPoolExecutor(1, "sampler") as sampler:
        records = _Prefetcher(config, _sampler(config, seed), plan, sampler)
        report.classical_rtt_s = _agree_rtt(ch, role)  # while the first block is drawn
        config = replace(config, protocol=replace(config.protocol,
                                                  classical_rtt_s=report.classical_rtt_s))
        for index, (block_id, _) in enumerate(plan):
            record, sample_s = records.take(index, report)
            outcome = _role_block(role, ch, config, block_id, record, rng, pa)
            if pending is not None:
                deliver(pending)
            pending = (outcome, sample_s)
            report.auth_key_consumed_bits = ch.pool.consumed_bits
            report.wall_s = time.perf_counter() - start
            if progress is not None:
                progress(report.pulses, total)
        ch.send("done", blocks=len(plan))
        if int(ch.recv("done")["blocks"]) != len(plan):
            raise ChannelError("the peer ran a different number of blocks")
        ch.end_stage("close")
        if pending is not None:
            deliver(pending)
    report.auth_key_consumed_bits = ch.pool.consumed_bits
    ch.channel.send_bytes(digest.digest())
    report.keys_identical = ch.channel.recv_bytes() == digest.digest()
    report.wall_s = time.perf_counter() - start
    channel.close()
    return report
