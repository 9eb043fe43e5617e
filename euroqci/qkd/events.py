"""Detection events of a decoy-state BB84 link, sampled statistically (never pulse by pulse).

For ``n_pulses`` sent, :func:`sample_detections` draws which pulses are detected (one
binomial), then, for the detected pulses only, the intensity label, both basis choices,
Alice's bit and Bob's bit with the right error pattern. Per-pulse detection and error
probabilities per intensity come from :func:`euroqci.physics.bb84.detection_probabilities`
(Ma et al., PRA 72, 012326, 2005; afterpulses and dead time as in the physics model). Given
a detection, the intensity is drawn with probability p_k D_k / sum_j p_j D_j and bases are
independent of it (passive, basis-independent detection), so the draw is exact for the
model. A mismatched-basis detection gives Bob a uniformly random bit. 10^9 pulses at 25 km
take ~0.06 s (the cost scales with the ~10^7 detections, not the pulses).

Eavesdroppers (tests and demos): :class:`InterceptResend` measures a fraction of the pulses
in a random basis and resends (error 1/4 + e/2 on those, detection statistics unchanged);
:class:`PhotonNumberSplitting` (Brassard, Luetkenhaus, Mor, Sanders, PRL 85, 1330, 2000)
blocks single photons, keeps one photon of every multi-photon pulse and forwards the rest
losslessly, tuned so the SIGNAL gain looks normal -- the decoy gains then betray it.
:func:`sample_photons` is a photon-level reference (Poisson photons, binomial loss, two
detectors with dark counts, double clicks to a random bit), only to cross-check the sampler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from euroqci.errors import InvalidParameter, check_range
from euroqci.physics.bb84 import detection_probabilities
from euroqci.physics.detectors import Detector
from euroqci.physics.sources import DecoySource, poisson_photon_prob
from euroqci.qkd._jit import njit

X, Z = 0, 1  # basis labels: X is the key basis, Z the test basis
_MAX_PHOTONS = 40


@dataclass(frozen=True)
class InterceptResend:
    """Eve measures ``fraction`` of the pulses in a random basis and resends her result."""

    fraction: float = 1.0

    def __post_init__(self) -> None:
        check_range("eavesdropper fraction", self.fraction, low=0.0, high=1.0)


@dataclass(frozen=True)
class PhotonNumberSplitting:
    """Photon-number-splitting attack on multi-photon pulses over a lossless channel."""


Eavesdropper = InterceptResend | PhotonNumberSplitting


@dataclass(frozen=True)
class EventModel:
    """What the sampler needs: link transmittance (detector excluded), detector, source."""

    channel_transmittance: float
    detector: Detector = field(default_factory=Detector)
    source: DecoySource = field(default_factory=DecoySource)
    p_x: float = 0.9
    rep_rate_hz: float = 1e9

    def __post_init__(self) -> None:
        check_range("channel_transmittance", self.channel_transmittance, low=0.0, high=1.0)
        check_range("p_x", self.p_x, low=0.0, high=1.0, low_inclusive=False,
                    high_inclusive=False)


@dataclass(frozen=True)
class DetectionRecord:
    """The detected pulses of one block (arrays of equal length, one entry per detection).

    ``alice_bit``/``bob_bit`` are secret; ``eve_knows`` marks detections whose bit Eve
    learns (PNS) -- used only to check the security bound in tests.
    """

    n_pulses: int
    intensity: np.ndarray
    alice_basis: np.ndarray
    bob_basis: np.ndarray
    alice_bit: np.ndarray = field(repr=False)
    bob_bit: np.ndarray = field(repr=False)
    eve_knows: np.ndarray | None = field(default=None, repr=False)

    @property
    def detections(self) -> int:
        return int(self.intensity.shape[0])


_UNIT = float(1 << 24)  # draws are 24-bit fixed-point uniforms (float32's resolution)
_CHUNK_DETECTIONS = 1 << 20  # detections per draw of raw words: <= 24 MiB of them


@njit(nogil=True)
def _fill(raw, words, cum, p_x, table, ir_fraction, know, intensity, alice_basis, bob_basis,
          alice_bit, bob_bit, knows):
    """One pass over the detections from two (three with an eavesdropper) raw 64-bit words
    each: intensity, bases, Alice's bit, Bob's error and Eve's draws, every uniform a
    distinct 24-bit field of the words (hand-written: the numpy version made ~15 full
    passes over the arrays and took ~1.3-2x as long, measured)."""
    k = cum.shape[0] + 1
    px = np.uint64(p_x * _UNIT)
    mask = np.uint64(0xFFFFFF)
    for i in range(intensity.shape[0]):
        w0 = raw[words * i]
        w1 = raw[words * i + 1]
        u = w0 & mask
        lab = 0
        for t in range(k - 1):
            if u >= cum[t]:
                lab += 1
        a = 1 if ((w0 >> np.uint64(24)) & mask) >= px else 0
        b = 1 if (w1 & mask) >= px else 0
        bit = 1 if (w0 >> np.uint64(63)) != 0 else 0
        e = table[(a ^ b) * k + lab]
        if words == 3:
            w2 = raw[words * i + 2]
            if a == b and float(w2 & mask) < ir_fraction * _UNIT:
                e = 0.25 + 0.5 * e
            if knows.shape[0]:  # photon-number splitting only
                knows[i] = float((w2 >> np.uint64(24)) & mask) < know[lab] * _UNIT
        err = 1 if float((w1 >> np.uint64(24)) & mask) < e * _UNIT else 0
        intensity[i] = lab
        alice_basis[i] = a
        bob_basis[i] = b
        alice_bit[i] = bit
        bob_bit[i] = bit ^ err


def _pns_probabilities(model: EventModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per intensity: detection prob, error prob, P(Eve holds a photon | detection)."""
    mu = np.asarray(model.source.intensities, dtype=float)
    det = model.detector
    eta_d, y0 = det.efficiency, det.background_yield
    n = np.arange(_MAX_PHOTONS)[:, None]
    pn = poisson_photon_prob(n, mu)  # (photons, intensity)
    single = pn[1] * eta_d
    multi = np.sum(pn[2:] * (1.0 - (1.0 - eta_d) ** (n[2:] - 1)), axis=0)
    honest = -np.expm1(-model.channel_transmittance * eta_d * mu[0])
    if multi[0] >= honest:
        c1, c2 = 0.0, honest / multi[0]
    else:
        c1, c2 = min(1.0, (honest - multi[0]) / single[0]), 1.0
    photon = c1 * single + c2 * multi
    d = y0 + (1.0 - y0) * photon
    err = 0.5 * y0 + (1.0 - y0) * photon * det.misalignment
    return d, err / d, (1.0 - y0) * c2 * multi / d


def sample_detections(
    model: EventModel,
    n_pulses: int,
    rng: np.random.Generator,
    eavesdropper: Eavesdropper | None = None,
) -> DetectionRecord:
    """Sample the detected pulses among ``n_pulses`` sent (see the module docstring)."""
    if n_pulses < 0 or int(n_pulses) != n_pulses:
        raise InvalidParameter("n_pulses", n_pulses, "a non-negative integer")
    p_k = np.asarray(model.source.probabilities, dtype=float)
    eve_known = None
    if isinstance(eavesdropper, PhotonNumberSplitting):
        det_k, err_k, eve_known = _pns_probabilities(model)
    else:
        det_k, wrong = detection_probabilities(
            model.channel_transmittance, model.detector, model.source.intensities, p_k,
            rep_rate_hz=model.rep_rate_hz)
        err_k = np.where(det_k > 0, wrong / np.where(det_k > 0, det_k, 1.0), 0.5)
    weight = p_k * det_k
    n_det = int(rng.binomial(int(n_pulses), min(float(weight.sum()), 1.0)))
    k = err_k.size
    cum = (np.cumsum(weight / weight.sum())[:-1] * _UNIT).astype(np.uint64)
    # error probability by (bases differ, intensity): a mismatched basis gives a random bit
    table = np.concatenate([err_k, np.full(k, 0.5)])
    ir = eavesdropper.fraction if isinstance(eavesdropper, InterceptResend) else 0.0
    extra = ir > 0 or eve_known is not None
    words = 3 if extra else 2
    out = [np.empty(n_det, dtype=np.uint8) for _ in range(5)]
    knows = np.zeros(n_det if eve_known is not None else 0, dtype=bool)
    know = eve_known if eve_known is not None else np.zeros(k)
    # the raw words in chunks (the same stream as one draw): a chunk stays below glibc's
    # mmap threshold and reuses freed heap memory, where one 80 MB draw per block took
    # fresh zeroed pages (~7 % of the link engine's CPU time in page faults, measured)
    for start in range(0, n_det, _CHUNK_DETECTIONS):
        stop = min(start + _CHUNK_DETECTIONS, n_det)
        raw = rng.bit_generator.random_raw(words * (stop - start))
        _fill(raw, words, cum, model.p_x, table, ir, know,
              *(a[start:stop] for a in out), knows[start:stop] if knows.size else knows)
    return DetectionRecord(int(n_pulses), *out, knows if eve_known is not None else None)


def sample_photons(model: EventModel, n_pulses: int, rng: np.random.Generator) -> DetectionRecord:
    """Photon-level reference for tiny runs (<= ~10^7 pulses): every pulse simulated.

    Misalignment sends the whole pulse to the wrong detector with probability e_d (the
    convention of Ma et al. 2005); afterpulses and dead time are not modelled here.
    """
    det = model.detector
    p_k = np.asarray(model.source.probabilities, dtype=float)
    mu = np.asarray(model.source.intensities, dtype=float)
    intensity = rng.choice(mu.size, size=n_pulses, p=p_k).astype(np.uint8)
    alice_basis = (rng.random(n_pulses) >= model.p_x).astype(np.uint8)
    bob_basis = (rng.random(n_pulses) >= model.p_x).astype(np.uint8)
    alice_bit = rng.integers(0, 2, n_pulses, dtype=np.uint8)
    photons = rng.poisson(mu[intensity])
    arrived = rng.binomial(photons, model.channel_transmittance * det.efficiency)
    same = alice_basis == bob_basis
    misaligned = rng.random(n_pulses) < det.misalignment
    # photons reaching the detector of Alice's bit ("right") vs the other one
    to_right = np.where(same, np.where(misaligned, 0, arrived), rng.binomial(arrived, 0.5))
    to_wrong = arrived - to_right
    click_right = (to_right > 0) | (rng.random(n_pulses) < det.dark_count_prob)
    click_wrong = (to_wrong > 0) | (rng.random(n_pulses) < det.dark_count_prob)
    detected = click_right | click_wrong
    double = click_right & click_wrong
    wrong = np.where(double, rng.integers(0, 2, n_pulses).astype(bool), click_wrong)
    keep = np.nonzero(detected)[0]
    return DetectionRecord(
        int(n_pulses), intensity[keep], alice_basis[keep], bob_basis[keep], alice_bit[keep],
        alice_bit[keep] ^ wrong[keep].astype(np.uint8))


def parse_eavesdropper(spec: str | None) -> Eavesdropper | None:
    """``"intercept-resend:0.2"``, ``"intercept-resend"`` (all pulses), ``"pns"`` or None."""
    if spec is None or spec in ("", "none"):
        return None
    name, _, arg = spec.partition(":")
    if name == "intercept-resend":
        try:
            return InterceptResend(float(arg) if arg else 1.0)
        except ValueError:
            raise InvalidParameter("eavesdropper", spec, "intercept-resend:FRACTION") from None
    if name == "pns" and not arg:
        return PhotonNumberSplitting()
    raise InvalidParameter("eavesdropper", spec, "intercept-resend[:FRACTION], pns or none")
