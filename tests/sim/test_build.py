"""Scenario -> model: physics rates within PLOB, satellite passes as store and forward."""

import numpy as np
import pytest

from euroqci.network.topology import QkdDevice
from euroqci.physics.bounds import plob_bound
from euroqci.physics.fiber import transmittance
from euroqci.sim import metrics
from euroqci.sim.build import build_model, fiber_rates_bps
from euroqci.sim.engine import SimConfig, simulate
from euroqci.sim.model import FIBER, SATELLITE

from .scenarios import small_scenario


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("EUROQCI_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield build_model(small_scenario(), days=2.0, step_s=10.0)
    mp.undo()


def test_no_fiber_link_above_plob(built):
    m = built.model
    fiber = np.array([k == FIBER for k in m.link_kind])
    per_pulse = m.link_rate_bps[fiber] / built.link_rep_rate_hz[fiber]
    bound = plob_bound(built.link_channel_transmittance[fiber])
    assert np.all(per_pulse <= bound)
    assert np.all(m.link_rate_bps[fiber] >= 0)
    # a 75 km link gives key, a 440 km one (Brussels-Paris x 1.3, no trusted node) does not
    rates = dict(zip(m.link_ids, m.link_rate_bps, strict=True))
    assert rates[("FR-OGS", "FR-PAR")] > 1e4
    assert rates[("BE-BRU", "FR-PAR")] == 0.0


def test_satellite_relays_overseas_site_by_store_and_forward(built):
    m = built.model
    sat = [i for i, k in enumerate(m.link_kind) if k == SATELLITE]
    assert len(sat) == 2 and len(m.passes) > 0
    assert set(m.passes.link.tolist()) <= set(sat)
    assert np.all(np.diff(m.passes.end_s) >= 0) and np.all(m.passes.key_bits > 0)
    r = simulate(m, SimConfig(days=2.0, seed=2))
    d = m.demand_ends.index(("RE-SDN", "FR-PAR"))
    assert r.routes[d] == ["RE-SDN", "RE-OGS", "SAT-EAGLE-1", "FR-OGS", "FR-PAR"]
    assert r.served_bits[d] > 0
    # the satellite links only ever got key from clear-sky passes
    clear = r.passes_used & (m.passes.end_s < r.duration_s)
    for i in sat:
        assert r.produced_bits[i] <= m.passes.key_bits[clear & (m.passes.link == i)].sum()
    assert metrics.conservation_error(r).max() < 1e-12
    # Brussels-Paris has no key (too long for one span): its demand is unmet, and says why
    why = {b["demand"]: b for b in metrics.bottlenecks(r)}
    assert why["FR-PAR->BE-BRU"]["limited_by"] == "key_rate"


@pytest.mark.parametrize("protocol", ["bb84-decoy", "bbm92", "cv-gg02"])
def test_every_protocol_within_plob(protocol):
    # PLOB (Pirandola et al., Nat. Commun. 8, 15043, 2017): -log2(1 - eta) bits per use
    loss_db = np.linspace(0.5, 40.0, 25)
    device = QkdDevice(protocol=protocol)
    rate = fiber_rates_bps(loss_db, device)
    assert np.all(rate >= 0) and rate[0] > 0
    assert np.all(rate / device.rep_rate_hz <= plob_bound(transmittance(loss_db)))
    assert np.all(np.diff(rate) <= 0)  # more loss, less key


def test_pass_cache_key_follows_the_model_code(monkeypatch):
    # a cached pass table is only reused by the code that wrote it
    from euroqci.sim import satellites

    s = small_scenario()
    seg = s.network.satellite_segment
    gs = seg.ground_stations[0]
    site = next(x for x in s.network.sites if x.id == gs.site_id)
    args = (seg.satellites[0], gs, site, s.start, 1.0, satellites.Payload())
    key = satellites._key(*args)
    assert satellites._key(*args) == key
    monkeypatch.setattr(satellites, "_model_digest", lambda: "another pass model")
    assert satellites._key(*args) != key
