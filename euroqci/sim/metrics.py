"""What a run means: per-link, per-demand and per-site metrics, relay overhead, the
bottleneck report, and the conservation check every run must pass.

Conservation, per link (the books of :class:`euroqci.network.relay.KeyLedger`)::

    produced = delivered + consumed_by_relay + stored + discarded
"""

from __future__ import annotations

import numpy as np

from euroqci.errors import EuroQCIError
from euroqci.network.relay import relative_imbalance
from euroqci.sim.engine import SimResult
from euroqci.sim.model import SATELLITE

#: a demand counts as unmet below this served fraction
MET_FRACTION = 0.999


def conservation_error(result: SimResult) -> np.ndarray:
    """Per link: |produced - (delivered + relay + stored + discarded)| / max(produced, 1 bit)
    (:func:`euroqci.network.relay.relative_imbalance`, the ledger's own check)."""
    return relative_imbalance(result.produced_bits, result.delivered_bits, result.relayed_bits,
                              result.store_bits, result.discarded_bits)


def check_conservation(result: SimResult, rtol: float = 1e-9) -> None:
    """Raise :class:`EuroQCIError` naming the worst link if any link's books do not balance."""
    err = conservation_error(result)
    negative = result.store_bits < -rtol * np.maximum(result.produced_bits, 1.0)
    if np.any(err > rtol) or np.any(negative):
        i = int(np.argmax(err))
        raise EuroQCIError(f"key conservation violated on link {result.model.link_ids[i]}: "
                           f"relative imbalance {err[i]:.3g} > {rtol:g}")


def served_fraction(result: SimResult) -> np.ndarray:
    """Per demand: bits served / bits requested (1.0 for a demand that requested nothing)."""
    req = result.requested_bits
    return np.where(req > 0, result.served_bits / np.where(req > 0, req, 1.0), 1.0)


def mean_wait_s(result: SimResult) -> np.ndarray:
    """Per demand: mean time from a request's arrival to its service (s); NaN if none served."""
    n = result.served_requests
    return np.where(n > 0, result.wait_sum_s / np.where(n > 0, n, 1.0), np.nan)


def mean_key_rate_bps(result: SimResult) -> np.ndarray:
    """Per link: secret key produced over the run / run duration (bit/s)."""
    return result.produced_bits / result.duration_s


def site_availability(result: SimResult) -> np.ndarray:
    """Per node: fraction of time up and connected to every site it has a demand with."""
    return result.node_available_s / result.duration_s


def relay_overhead(result: SimResult) -> float:
    """Key consumed on all hops per bit delivered end to end, minus one (0 = all direct)."""
    e2e = float(result.served_bits.sum())
    if e2e <= 0:
        return 0.0
    return float((result.delivered_bits.sum() + result.relayed_bits.sum()) / e2e - 1.0)


def bottlenecks(result: SimResult, met_fraction: float = MET_FRACTION) -> list[dict]:
    """For each unmet demand, what limited it, largest cause first.

    Causes, from the steps a demand waited with requests pending: ``no_route`` (no working
    path at all), ``outage`` (a link or node of its route down), ``satellite_pass`` (the
    satellite link of its route empty until the next usable pass), ``key_rate`` (a fiber
    link's store empty: that link's rate is too low for the load it carries).
    """
    model = result.model
    frac = served_fraction(result)
    report = []
    for d in np.flatnonzero(frac < met_fraction):
        causes = []
        if result.no_route_steps[d]:
            causes.append(("no_route", "-", int(result.no_route_steps[d])))
        down = result.blocked_down_steps.getrow(d)
        for i, steps in zip(down.indices, down.data, strict=True):
            causes.append(("outage", "<->".join(model.link_ids[i]), int(steps)))
        empty = result.blocked_store_steps.getrow(d)
        for i, steps in zip(empty.indices, empty.data, strict=True):
            kind = "satellite_pass" if model.link_kind[i] == SATELLITE else "key_rate"
            causes.append((kind, "<->".join(model.link_ids[i]), int(steps)))
        total = sum(c[2] for c in causes) or 1
        causes.sort(key=lambda c: (-c[2], c[0], c[1]))
        a, b = model.demand_ends[d]
        report.append({
            "demand": f"{a}->{b}", "a": a, "b": b,
            "served_fraction": float(frac[d]),
            "limited_by": causes[0][0] if causes else "warm_up",
            "element": causes[0][1] if causes else "-",
            "causes": [{"cause": c, "element": e, "share": s / total} for c, e, s in causes[:5]],
        })
    report.sort(key=lambda r: (r["served_fraction"], r["demand"]))
    return report


def totals(result: SimResult) -> dict:
    """Network-wide totals (bits, fractions) for the summary."""
    req = float(result.requested_bits.sum())
    frac = served_fraction(result)
    return {
        "key_produced_bits": float(result.produced_bits.sum()),
        "key_delivered_bits": float(result.delivered_bits.sum()),
        "key_consumed_by_relay_bits": float(result.relayed_bits.sum()),
        "key_in_stores_bits": float(result.store_bits.sum()),
        "key_discarded_bits": float(result.discarded_bits.sum()),
        "requested_bits": req,
        "served_bits": float(result.served_bits.sum()),
        "served_fraction": float(result.served_bits.sum() / req) if req > 0 else 1.0,
        "demands_fully_served": int(np.count_nonzero(frac >= MET_FRACTION)),
        "demands": int(len(frac)),
        "relay_overhead": relay_overhead(result),
        "failures": result.n_failures,
        "satellite_passes": int(len(result.model.passes)),
        "satellite_passes_clear": int(np.count_nonzero(result.passes_used)),
        "max_conservation_error": float(conservation_error(result).max(initial=0.0)),
    }
