"""Parameter estimation from OBSERVED counts: decoy-state and finite-key bounds, abort rule.

The counts per intensity -- sifted detections n_X,k, n_Z,k and errors m_Z,k (test basis,
all disclosed) and m_X,k (key basis, known after reconciliation) -- go to
:func:`euroqci.physics.bb84.finite_key_length`: Lim et al., PRA 89, 022307 (2014) with
three intensities, Rusca et al., APL 112, 171104 (2018) with two. Before reconciliation
the key length is predicted with the leak ``f n_X h(E_Z)`` (E_Z standing in for the not yet
known E_X) and the block is aborted when the phase-error bound leaves no key; after
verification the length is recomputed with the bits reconciliation and verification
actually disclosed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from euroqci.errors import ProtocolAbort
from euroqci.physics.bb84 import DecoyCounts, FiniteKeyResult, finite_key_length
from euroqci.physics.sources import DecoySource

METHOD_BY_INTENSITIES = {3: "lim2014", 2: "rusca2018"}


def finite_key_method(source: DecoySource) -> str:
    """The finite-key bound that fits the number of intensities of ``source``."""
    try:
        return METHOD_BY_INTENSITIES[len(source.intensities)]
    except KeyError:
        raise ProtocolAbort(
            f"no finite-key bound for {len(source.intensities)} intensities (need 2 or 3)"
        ) from None


def observed_counts(source: DecoySource, n_x, m_x, n_z, m_z, n_pulses: int) -> DecoyCounts:
    """Pack observed integer counts (one entry per intensity) as :class:`DecoyCounts`."""
    arr = lambda v: np.asarray(v, dtype=float)  # noqa: E731
    return DecoyCounts(arr(source.intensities), arr(source.probabilities), arr(n_x), arr(m_x),
                       arr(n_z), arr(m_z), float(n_pulses))


@dataclass(frozen=True)
class Estimate:
    """Outcome of parameter estimation for one block."""

    qber_test: float
    length_bits: int
    bound: FiniteKeyResult


def _length(counts: DecoyCounts, leak: float, eps_sec: float, eps_cor: float,
            method: str) -> FiniteKeyResult:
    return finite_key_length(counts, eps_sec=eps_sec, eps_cor=eps_cor, ec_leak_bits=leak,
                             method=method)


def _abort_if_empty(counts: DecoyCounts) -> None:
    if counts.n_x.sum() == 0 or counts.n_z.sum() == 0:
        raise ProtocolAbort(
            f"empty block: {int(counts.n_x.sum())} key-basis and {int(counts.n_z.sum())} "
            "test-basis sifted bits"
        )


def estimate(counts: DecoyCounts, *, ec_efficiency: float, eps_sec: float, eps_cor: float,
             method: str) -> Estimate:
    """Pre-reconciliation check; :class:`ProtocolAbort` when no key can be extracted.

    ``counts.m_x`` is ignored (unknown yet): E_X is taken equal to the observed E_Z.
    """
    _abort_if_empty(counts)
    qber = float(counts.m_z.sum() / counts.n_z.sum())
    if qber >= 0.5:
        raise ProtocolAbort(f"test-basis QBER {qber:.1%} >= 50 %: no key (channel attacked?)")
    guess = DecoyCounts(counts.intensities, counts.probabilities, counts.n_x,
                        counts.n_x * qber, counts.n_z, counts.m_z, counts.n_pulses)
    # leak not known yet: finite_key_length estimates it as f n_X h(E_X), E_X = E_Z here
    bound = finite_key_length(guess, eps_sec=eps_sec, eps_cor=eps_cor,
                              ec_efficiency=ec_efficiency, method=method)
    length = int(bound.length_bits)
    if length <= 0:
        raise ProtocolAbort(
            f"no key: test-basis QBER {qber:.2%}, phase-error bound "
            f"{float(bound.phase_error_upper):.3f}, single-photon key events >= "
            f"{float(bound.s_x1):.0f} of {int(counts.n_x.sum())}"
        )
    return Estimate(qber, length, bound)


def secret_length(counts: DecoyCounts, leaked_bits: float, *, eps_sec: float, eps_cor: float,
                  method: str) -> FiniteKeyResult:
    """Final key length with the bits actually disclosed; :class:`ProtocolAbort` if none."""
    _abort_if_empty(counts)
    bound = _length(counts, leaked_bits, eps_sec, eps_cor, method)
    if int(bound.length_bits) <= 0:
        raise ProtocolAbort(
            f"no key after reconciliation: {leaked_bits:.0f} bits leaked, phase-error bound "
            f"{float(bound.phase_error_upper):.3f}"
        )
    return bound
