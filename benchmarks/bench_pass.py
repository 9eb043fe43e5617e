"""Benchmark: satellite passes and the finite-key secret key of one pass.

    python benchmarks/bench_pass.py [--repeat 20]

Times (median of --repeat runs, after one warm-up):
- pass_key: one night pass (500 km sun-synchronous orbit over Matera, 54 deg culmination,
  ~430 samples) with all free parameters optimised (Lim et al. 2014 finite key, one block);
- pass_key on SatQuMA's default geometry (zenith pass, 443 one-second slots, truncated-
  aperture diffraction integral at every sample), the case SatQuMA v2.0.0 optimises in
  seconds per point (see docs/benchmarks.md for its timing on the same machine);
- find_passes over 1 day and over 30 days for one station (SGP4 track + search);
- passes_from_track: one more station over 30 days, the track already computed (what the
  digital twin pays per extra ground station).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime

from euroqci.physics.detectors import Detector
from euroqci.physics.freespace import DownlinkParameters
from euroqci.physics.orbits import (
    find_passes,
    overhead_pass,
    passes_from_track,
    raan_for_ltan_deg,
    satellite_from_elements,
    satellite_track,
)
from euroqci.physics.passes import pass_key

START = datetime(2025, 6, 21, tzinfo=UTC)


def median_s(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    sat = satellite_from_elements(500.0, None, raan_for_ltan_deg(22.5, START), START)
    night = next(p for p in find_passes(sat, 40.649, 16.705, START, days=1) if p.night)
    params, detector = DownlinkParameters(), Detector(efficiency=0.5, dark_count_prob=1e-8,
                                                     misalignment=0.005)
    result = pass_key(night, params, detector)
    track = satellite_track(sat, START, days=30)
    zenith = overhead_pass(START)
    satquma_link = DownlinkParameters(wavelength_nm=850, tx_aperture_m=0.3, rx_aperture_m=1.2,
                                      beam_waist_m=0.15, truncated_tx_aperture=True,
                                      pointing_jitter_urad=0.0, extra_loss_db=14.4865,
                                      background_counts_per_s_night=0.0)
    satquma_detector = Detector(efficiency=1.0, dark_count_prob=1e-8, afterpulse_prob=1e-3,
                                misalignment=1e-3)
    print(f"machine: {platform.processor() or platform.machine()}, nproc={os.cpu_count()}")
    print(f"pass: {night.start:%Y-%m-%d %H:%M} UTC, {night.duration_s:.0f} s, "
          f"max elevation {night.max_elevation_deg:.1f} deg, {len(night.times_s)} samples; "
          f"key {result.secret_key_bits:.4g} bits, QBER {result.qber:.4f}")
    rows = {
        "pass_key (optimised, finite key)": lambda: pass_key(night, params, detector),
        "pass_key, SatQuMA zenith pass, truncated diffraction (optimised)":
            lambda: pass_key(zenith, satquma_link, satquma_detector, rep_rate_hz=1e8),
        "find_passes, 1 day": lambda: find_passes(sat, 40.649, 16.705, START, days=1),
        "find_passes, 30 days": lambda: find_passes(sat, 40.649, 16.705, START, days=30),
        "passes_from_track, 30 days, one more station":
            lambda: passes_from_track(track, 48.086, 11.279),
    }
    for name, fn in rows.items():
        print(f"{name}: median {1e3 * median_s(fn, args.repeat):.1f} ms "
              f"(repeat {args.repeat})")


if __name__ == "__main__":
    main()
