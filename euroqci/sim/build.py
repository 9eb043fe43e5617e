"""From a :class:`~euroqci.network.topology.Scenario` to the arrays the engine runs.

Fiber key rates come from :mod:`euroqci.physics` (decoy BB84, BBM92 or GG02 by the link's
protocol; see :func:`fiber_rates_bps`), computed once for all links that share a device
configuration; satellite links produce key only at passes
(:mod:`euroqci.sim.satellites`). Demands given as a steady rate become one request per
time step; refresh demands keep their own request size and interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from euroqci.network.topology import QkdDevice, Scenario, Site, link_id
from euroqci.sim.model import FIBER, SATELLITE, SatellitePasses, SimModel
from euroqci.sim.report import ReportContext
from euroqci.sim.satellites import Payload, ground_tracks, station_passes


@dataclass(frozen=True)
class BuiltScenario:
    """A scenario ready to run, with what the checks and the report need besides."""

    model: SimModel
    context: ReportContext
    link_rep_rate_hz: np.ndarray  # per link (satellite links: the payload's)
    link_channel_transmittance: np.ndarray  # per fiber link (NaN for satellite links)


def fiber_rates_bps(loss_db: np.ndarray, device: QkdDevice) -> np.ndarray:
    """Secret key rate (bit/s) of fiber links with ``loss_db`` and one device configuration.

    bb84-decoy: two decoys, asymptotic (Lim et al., PRA 89, 022307, 2014); bbm92: entangled
    pairs with the source at one end (all loss on the other arm), asymptotic; cv-gg02:
    reverse reconciliation with homodyne detection, reconciliation efficiency beta = 1/f.
    """
    from euroqci.physics.bb84 import secret_key_rate
    from euroqci.physics.bbm92 import bbm92_key_rate
    from euroqci.physics.cvqkd import gg02_key_rate
    from euroqci.physics.detectors import Detector
    from euroqci.physics.link import LinkParameters

    loss = np.asarray(loss_db, dtype=float)
    det = Detector(efficiency=device.detector_efficiency, dark_count_prob=device.dark_count_prob,
                   misalignment=device.misalignment)
    if device.protocol == "bbm92":
        rate = bbm92_key_rate(np.zeros_like(loss), loss, detector_a=det,
                              ec_efficiency=device.ec_efficiency, rep_rate_hz=device.rep_rate_hz)
    elif device.protocol == "cv-gg02":
        rate = gg02_key_rate(loss, detector_efficiency=device.detector_efficiency,
                             reconciliation_efficiency=1.0 / device.ec_efficiency,
                             symbol_rate_hz=device.rep_rate_hz)
    else:
        link = LinkParameters(loss_db=loss, detector=det, ec_efficiency=device.ec_efficiency,
                              rep_rate_hz=device.rep_rate_hz)
        rate = secret_key_rate(link, decoys="2")
    return np.asarray(rate.rate_bps, dtype=float)


def build_model(scenario: Scenario, *, days: float, step_s: float,
                payload: Payload | None = None, use_cache: bool = True,
                trusted_nodes_added: tuple[str, ...] = ()) -> BuiltScenario:
    """Flatten ``scenario`` for a run of ``days`` in steps of ``step_s``."""
    payload = payload or Payload()
    net = scenario.network
    seg = net.satellite_segment
    sites = {s.id: s for s in net.sites}
    sats = {s.node_id: s for s in seg.satellites}
    node_ids = tuple(sorted(sites) + sorted(sats))
    fibers = sorted(net.fiber_links, key=lambda f: f.id)
    sat_links = sorted(link_id(s, gs.site_id) for s in sats for gs in seg.ground_stations)
    link_ids = tuple(f.id for f in fibers) + tuple(sat_links)
    n_fiber, n_links = len(fibers), len(fibers) + len(sat_links)

    rate = np.zeros(n_links)
    rep = np.full(n_links, payload.rep_rate_hz)
    loss = np.full(n_links, np.nan)
    length = np.full(n_links, np.nan)
    for device in {f.device for f in fibers}:
        idx = np.array([i for i, f in enumerate(fibers) if f.device == device], dtype=int)
        loss[idx] = [fibers[i].loss_db for i in idx]
        rate[idx] = fiber_rates_bps(loss[idx], device)
        rep[idx] = device.rep_rate_hz
    length[:n_fiber] = [f.length_km for f in fibers]
    capacity = np.array([f.store_capacity_bits for f in fibers] +
                        [seg.store_capacity_bits] * len(sat_links), dtype=float)

    passes, nominal_sat = _passes(scenario, sats, sites, link_ids, days, payload, use_cache)
    nominal = rate.copy()
    nominal[n_fiber:] = nominal_sat[n_fiber:] / (days * 86400.0)

    fm = scenario.failures
    link_mtbf = np.full(n_links, np.inf)
    link_mttr = np.full(n_links, fm.fiber_mttr_h * 3600.0)
    node_mtbf = np.full(len(node_ids), np.inf)
    node_mttr = np.full(len(node_ids), fm.node_mttr_h * 3600.0)
    if fm.enabled:
        link_mtbf[:n_fiber] = [fm.fiber_mtbf_h(f.length_km) * 3600.0 for f in fibers]
        node_mtbf[: len(sites)] = fm.node_mtbf_h * 3600.0  # satellites: no outages modelled

    ends, req, every = [], [], []
    for d in scenario.demands:
        ends.append((d.a, d.b))
        if d.rate_bps is not None:
            req.append(d.rate_bps * step_s)
            every.append(step_s)
        else:
            req.append(d.refresh_bits)
            every.append(d.interval_s)
    model = SimModel(
        scenario.name, node_ids, link_ids, (FIBER,) * n_fiber + (SATELLITE,) * len(sat_links),
        rate, capacity, length, loss, tuple(ends), np.array(req, dtype=float),
        np.array(every, dtype=float), passes, link_mtbf, link_mttr, node_mtbf, node_mttr,
        start_iso=scenario.start.isoformat())
    tracks = ground_tracks(seg.satellites, scenario.start) if seg.satellites else {}
    context = ReportContext(sites=tuple(net.sites), trusted_nodes_added=trusted_nodes_added,
                            ground_tracks=tracks, nominal_rate_bps=nominal)
    from euroqci.physics.fiber import transmittance

    return BuiltScenario(model, context, rep, np.where(np.isnan(loss), np.nan,
                                                       transmittance(np.nan_to_num(loss))))


def _passes(scenario: Scenario, sats: dict, sites: dict[str, Site], link_ids, days: float,
            payload: Payload, use_cache: bool) -> tuple[SatellitePasses, np.ndarray]:
    """All usable passes as :class:`SatellitePasses`, and clear-sky bits per link."""
    seg = scenario.network.satellite_segment
    index = {lid: i for i, lid in enumerate(link_ids)}
    clear_bits = np.zeros(len(link_ids))
    rows: list[tuple[int, float, float, float, float]] = []
    stations = [(gs, sites[gs.site_id]) for gs in seg.ground_stations]
    for node, sat in sorted(sats.items()):
        table = station_passes(sat, stations, scenario.start, days, payload,
                               use_cache=use_cache)
        for gs in seg.ground_stations:
            i = index[link_id(node, gs.site_id)]
            for p in table[gs.site_id]:
                if p.key_bits > 0 and p.end_s < days * 86400.0:
                    rows.append((i, p.end_s, p.key_bits, gs.cloud_probability,
                                 p.max_elevation_deg))
                    clear_bits[i] += p.key_bits
    if not rows:
        return SatellitePasses.empty(), clear_bits
    rows.sort(key=lambda r: (r[1], r[0]))
    cols = list(zip(*rows, strict=True))
    return SatellitePasses(np.array(cols[0], dtype=np.int64), *(np.array(c) for c in cols[1:])
                           ), clear_bits
