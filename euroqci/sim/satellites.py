"""The space segment for the twin: satellite passes over optical ground stations and the
finite-key secret key of each pass, computed once per scenario and cached.

Each satellite is a trusted relay: its key with station A (pass i) and with station B
(pass k > i) sit in two link stores; relaying A -> B consumes both (the satellite publishes
their XOR), which is store and forward, the Micius trusted-relay scheme (Liao et al.,
PRL 120, 030501, 2018). The pass model is
:func:`euroqci.physics.passes.pass_secret_key_bits` (one pass = one finite-key block).

Passes are deterministic for a scenario, so they are cached in memory and on disk
(``$EUROQCI_CACHE_DIR`` or ``~/.cache/euroqci``; JSON keyed by a hash of every input).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np

from euroqci.network.topology import GroundStation, SatelliteSpec, Site

#: cache format; bump when the layout of a cached table changes
CACHE_VERSION = 1
#: modules whose code decides a pass and its key: their source is part of the cache key, so a
#: changed model never reads tables an older one wrote
_MODEL_MODULES = ("orbits", "freespace", "passes", "bb84", "detection", "finite_key",
                  "detectors")


@dataclass(frozen=True)
class Payload:
    """The QKD payload and receivers assumed for every pass (Micius-class decoy BB84 at
    100 MHz, Si-APD receivers at 850 nm; Liao et al., Nature 549, 43, 2017)."""

    rep_rate_hz: float = 1e8
    detector_efficiency: float = 0.5
    dark_count_prob: float = 1e-7
    misalignment: float = 0.01
    wavelength_nm: float = 850.0
    tx_aperture_m: float = 0.3
    eps_sec: float = 1e-9
    eps_cor: float = 1e-15


@dataclass(frozen=True)
class PassRecord:
    """One usable pass: its end (s after the run start), clear-sky key and peak elevation."""

    end_s: float
    key_bits: float
    max_elevation_deg: float


def cache_dir() -> Path:
    """Where pass tables are cached (``$EUROQCI_CACHE_DIR`` or ``~/.cache/euroqci``)."""
    return Path(os.environ.get("EUROQCI_CACHE_DIR") or Path.home() / ".cache" / "euroqci")


@functools.cache
def _model_digest() -> str:
    """SHA-256 of the source of :data:`_MODEL_MODULES` (read once per process)."""
    h = hashlib.sha256()
    for name in _MODEL_MODULES:
        h.update(resources.files("euroqci.physics").joinpath(f"{name}.py").read_bytes())
    return h.hexdigest()


def _key(sat: SatelliteSpec, gs: GroundStation, site: Site, start: datetime, days: float,
         payload: Payload) -> str:
    blob = json.dumps([CACHE_VERSION, _model_digest(), asdict(sat), asdict(gs), site.lat,
                       site.lon, start.isoformat(), days, asdict(payload)], sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _satellite(sat: SatelliteSpec, start: datetime):
    from euroqci.physics import orbits

    if sat.tle is not None:
        return orbits.satellite_from_tle(*sat.tle, name=sat.name)
    return orbits.satellite_from_elements(sat.altitude_km, sat.inclination_deg, sat.raan_deg,
                                          start, mean_anomaly_deg=sat.mean_anomaly_deg,
                                          name=sat.name)


def station_passes(sat: SatelliteSpec, stations: list[tuple[GroundStation, Site]],
                   start: datetime, days: float, payload: Payload | None = None, *,
                   use_cache: bool = True) -> dict[str, list[PassRecord]]:
    """Usable passes of one satellite over each station (keyed by station site id).

    Night-only stations keep only passes with the Sun below -12 deg at culmination (the
    :mod:`euroqci.physics.orbits` default). Computed with one
    propagation of the orbit for all stations; each (satellite, station) table is cached.
    """
    from euroqci.physics import orbits
    from euroqci.physics.detectors import Detector
    from euroqci.physics.freespace import DownlinkParameters
    from euroqci.physics.passes import pass_secret_key_bits

    payload = payload or Payload()
    out: dict[str, list[PassRecord]] = {}
    todo = []
    folder = cache_dir() / "passes"
    for gs, site in stations:
        path = folder / f"{_key(sat, gs, site, start, days, payload)}.json"
        if use_cache and path.is_file():
            out[gs.site_id] = [PassRecord(*row) for row in json.loads(path.read_text())]
        else:
            todo.append((gs, site, path))
    if not todo:
        return out
    track = orbits.satellite_track(_satellite(sat, start), start, days)
    detector = Detector(efficiency=payload.detector_efficiency,
                        dark_count_prob=payload.dark_count_prob,
                        misalignment=payload.misalignment)
    for gs, site, path in todo:
        link = DownlinkParameters(wavelength_nm=payload.wavelength_nm,
                                  tx_aperture_m=payload.tx_aperture_m,
                                  rx_aperture_m=gs.telescope_aperture_m)
        rows = []
        for p in orbits.passes_from_track(track, site.lat, site.lon,
                                          min_elevation_deg=gs.min_elevation_deg,
                                          night_only=gs.night_only,
                                          station_altitude_m=gs.altitude_m):
            bits = pass_secret_key_bits(p, link, detector, rep_rate_hz=payload.rep_rate_hz,
                                        eps_sec=payload.eps_sec, eps_cor=payload.eps_cor)
            rows.append(PassRecord((p.end - start).total_seconds(), float(bits),
                                   float(p.max_elevation_deg)))
        out[gs.site_id] = rows
        if use_cache:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps([list(asdict(r).values()) for r in rows]))
            except OSError:
                pass  # a read-only home only costs the recomputation next time
    return out


def ground_tracks(satellites: tuple[SatelliteSpec, ...], start: datetime,
                  duration_s: float = 3 * 5700.0, step_s: float = 30.0
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(lat_deg, lon_deg) of each satellite's ground track over the first orbits."""
    from euroqci.physics import orbits

    return {s.name: orbits.ground_track(_satellite(s, start), start, duration_s, step_s)
            for s in satellites}
