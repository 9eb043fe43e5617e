"""Random processes of the digital twin, each drawn from a ``numpy.random.Generator``.

- Failures: every element alternates exponential up times (mean MTBF) and down times
  (mean MTTR), the textbook alternating-renewal availability model; the steady-state
  availability is MTBF / (MTBF + MTTR).
- Clouds: each satellite pass is lost independently with its station's cloud probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from euroqci.sim.model import SimModel


@dataclass(frozen=True)
class FailureEvents:
    """Failure and repair instants, sorted by time. ``is_node`` tells whether ``index`` is a
    node or a link index; ``down`` is True for a failure, False for a repair."""

    time_s: np.ndarray
    is_node: np.ndarray
    index: np.ndarray
    down: np.ndarray

    def __len__(self) -> int:
        return len(self.time_s)


def outage_intervals(mtbf_s: float, mttr_s: float, horizon_s: float,
                     rng: np.random.Generator) -> list[tuple[float, float]]:
    """(fail_s, repair_s) intervals of one element over [0, horizon_s), starting up."""
    out: list[tuple[float, float]] = []
    if not np.isfinite(mtbf_s) or mtbf_s <= 0:
        return out
    t = rng.exponential(mtbf_s)
    while t < horizon_s:
        repair = t + rng.exponential(mttr_s)
        out.append((t, repair))
        t = repair + rng.exponential(mtbf_s)
    return out


def failure_events(model: SimModel, horizon_s: float, rng: np.random.Generator) -> FailureEvents:
    """All failures and repairs of the model's links, then nodes, within ``horizon_s``."""
    rows: list[tuple[float, bool, int, bool]] = []
    for is_node, mtbf, mttr in (
        (False, model.link_mtbf_s, model.link_mttr_s),
        (True, model.node_mtbf_s, model.node_mttr_s),
    ):
        if mtbf is None or mttr is None:
            continue
        for i, (up_mean, down_mean) in enumerate(zip(mtbf, mttr, strict=True)):
            for fail, repair in outage_intervals(float(up_mean), float(down_mean), horizon_s, rng):
                rows.append((fail, is_node, i, True))
                if repair < horizon_s:
                    rows.append((repair, is_node, i, False))
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    if not rows:
        none = np.zeros(0, dtype=bool)
        return FailureEvents(np.zeros(0), none, np.zeros(0, dtype=np.int64), none)
    t, node, idx, down = zip(*rows, strict=True)
    return FailureEvents(np.array(t), np.array(node), np.array(idx, dtype=np.int64),
                         np.array(down))


def clear_sky(cloud_probability: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of passes NOT lost to clouds (one independent draw per pass)."""
    return rng.random(len(cloud_probability)) >= np.asarray(cloud_probability)
